"""The widget's HTTP endpoints, called cross-origin from a shop's pages (docs/chat-protocol.md).

Every call names its site in the query string (`?site=KEY`), so that even a CORS preflight,
which carries no body, can be answered for that site alone: CORS headers are sent only to the
site's allowed origins, and a request from any other origin (or with no Origin header) is
refused with 403. No cookies are read or set (`Access-Control-Allow-Credentials` is never
sent): the visitor proves who they are with the signed token the session endpoint issued,
sent explicitly in the body or the `X-Chat-Token` header.

CSRF: these views are csrf_exempt on purpose. CSRF protects requests a browser authenticates
by itself (cookies); these are authenticated only by a token the page's own script must read
from its storage and send, which another site's page cannot do, and their origin is checked
against the site's list on every call.
"""

import json
from collections.abc import Callable
from functools import wraps
from http import HTTPStatus
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.http.response import HttpResponseBase
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from chat import events, routing_engine
from chat.models import ChatLine, Site
from chat.selectors import (
    active_site_with_key,
    agents_available,
    business_hours_of,
    conversations_of_visitor,
    current_conversation,
    is_open_now,
    next_opening_after,
    origin_allowed,
)
from chat.services import (
    TokenRefused,
    WidgetSession,
    open_widget_session,
    post_line,
    start_conversation,
    visitor_from_token,
)
from core.errors import RuleBroken
from core.net import client_address
from core.parsers import json_depth, max_json_depth, max_multipart_bytes
from tickets.models import Attachment

SESSION_BODY_MAX_BYTES = 16 * 1024
PREFLIGHT_MAX_AGE = 600

View = Callable[..., HttpResponseBase]


def error(status: int, field: str, message: str) -> JsonResponse:
    """The API's error shape: `{"field": ["message"]}`."""
    return JsonResponse({field: [message]}, status=status)


def allow_origin(response: HttpResponseBase, origin: str) -> HttpResponseBase:
    response["Access-Control-Allow-Origin"] = origin
    response["Vary"] = "Origin"
    return response


def rate_limited(request: HttpRequest, site: Site, scope: str) -> bool:
    """A fixed window per client address, site and endpoint, counted in the shared cache."""
    limit = int(getattr(settings, "CHAT_WIDGET_REQUESTS_PER_MINUTE", 60))
    window = int(timezone.now().timestamp() // 60)
    key = f"chat.widget.{scope}.{site.pk}.{client_address(request)}.{window}"
    cache.add(key, 0, timeout=120)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add and incr: count this one
        count = 1
    return count > limit


def widget_endpoint(scope: str, methods: tuple[str, ...]) -> Callable[[View], View]:
    """Site lookup, Origin check, CORS headers, preflight, rate limit and method check for a
    widget view, which is then called as view(request, site, ...)."""

    def decorate(view: View) -> View:
        @csrf_exempt  # token-authenticated, cross-origin: see the module's docstring
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            origin = request.headers.get("Origin", "")
            site = active_site_with_key(request.GET.get("site", ""))
            if site is None:
                return error(HTTPStatus.NOT_FOUND, "site", "There is no active chat site here.")
            if not origin_allowed(site, origin):
                return error(
                    HTTPStatus.FORBIDDEN, "origin", "This page may not use this site's chat."
                )
            if request.method == "OPTIONS":
                preflight = HttpResponse(status=HTTPStatus.NO_CONTENT)
                preflight["Access-Control-Allow-Methods"] = ", ".join((*methods, "OPTIONS"))
                preflight["Access-Control-Allow-Headers"] = "Content-Type, X-Chat-Token"
                preflight["Access-Control-Max-Age"] = str(PREFLIGHT_MAX_AGE)
                return allow_origin(preflight, origin)
            response: HttpResponseBase
            if request.method not in methods:
                response = error(
                    HTTPStatus.METHOD_NOT_ALLOWED, "method", f"Use {' or '.join(methods)}."
                )
            elif rate_limited(request, site, scope):
                response = error(
                    HTTPStatus.TOO_MANY_REQUESTS, "non_field_errors", "Too many requests."
                )
            else:
                try:
                    response = view(request, site, *args, **kwargs)
                except TokenRefused as refused:
                    response = error(refused.status, "token", refused.message)
                except RuleBroken as broken:
                    response = error(HTTPStatus.BAD_REQUEST, broken.field, broken.message)
            return allow_origin(response, origin)

        return wrapper

    return decorate


def json_body(request: HttpRequest) -> dict[str, Any]:
    length = int(request.headers.get("Content-Length") or 0)
    if length > SESSION_BODY_MAX_BYTES:
        raise RuleBroken("non_field_errors", f"At most {SESSION_BODY_MAX_BYTES} bytes.")
    raw = request.body[: SESSION_BODY_MAX_BYTES + 1]
    if len(raw) > SESSION_BODY_MAX_BYTES:
        raise RuleBroken("non_field_errors", f"At most {SESSION_BODY_MAX_BYTES} bytes.")
    if not raw.strip():
        return {}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RuleBroken("non_field_errors", "The body is not UTF-8.") from None
    if json_depth(text) > max_json_depth():
        raise RuleBroken("non_field_errors", "The body nests too deeply.")
    try:
        data = json.loads(text)
    except ValueError:
        raise RuleBroken("non_field_errors", "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise RuleBroken("non_field_errors", "The body is a JSON object.")
    return data


def site_config(site: Site) -> dict[str, Any]:
    now = timezone.now()
    calendar = business_hours_of(site)
    open_now = is_open_now(calendar, now)
    return {
        "name": site.name,
        "greeting": site.greeting,
        "colour": site.colour,
        "prechat_fields": site.prechat_fields,
        "require_identity": site.require_identity,
        "open_now": open_now,
        "agents_online": open_now and agents_available(site, now=now),
        "next_opening": events.iso(None if open_now else next_opening_after(calendar, now)),
    }


def session_payload(session: WidgetSession) -> dict[str, Any]:
    conversation = session.conversation
    body: dict[str, Any] = {
        "token": session.token,
        "visitor": {
            "name": session.visitor.name,
            "identified": session.visitor.identified,
        },
        "conversation": None,
        "lines": [events.line_payload(line) for line in session.lines],
        "earlier_conversations": [
            {
                "conversation": earlier.pk,
                "reference": earlier.ticket.reference,
                "subject": earlier.ticket.subject,
                "created_at": events.iso(earlier.created_at),
                "ended_at": events.iso(earlier.ended_at),
                "rating": earlier.rating,
            }
            for earlier in session.earlier
        ],
    }
    if conversation is not None:
        ticket = conversation.ticket
        body["conversation"] = {
            "id": conversation.pk,
            "reference": ticket.reference,
            "state": conversation.state,
            "last_seq": conversation.last_seq,
            "agent_name": conversation.agent.display_name if conversation.agent else "",
            "visitor_read_seq": conversation.visitor_read_seq,
            "agent_read_seq": conversation.agent_read_seq,
            # The reply time the customer's tier is promised (slas fills these in).
            "promise": ticket.reply_promise,
            "promised_by": events.iso(ticket.reply_due_at),
            "position": routing_engine.queue_position(conversation),  # 0: not queued
        }
    return body


@widget_endpoint("session", ("POST",))
def session(request: HttpRequest, site: Site) -> HttpResponse:
    """POST /chat/widget/session/?site=KEY {token?, identity?, page?}."""
    data = json_body(request)
    token = data.get("token")
    if token is not None and not isinstance(token, str):
        raise RuleBroken("token", "A token is text.")
    opened = open_widget_session(
        site=site, token=token or None, identity=data.get("identity"), page=data.get("page", "")
    )
    return JsonResponse({**session_payload(opened), "site": site_config(site)})


@widget_endpoint("attachments", ("POST",))
def upload(request: HttpRequest, site: Site) -> HttpResponse:
    """POST /chat/widget/attachments/?site=KEY, multipart: files `file` (one or more), optional
    `body` (a caption), `client_id`, `prechat` (a JSON object, for a first message). Stored as
    one chat line through the ticket services' attachment checks."""
    length = int(request.headers.get("Content-Length") or 0)
    if length > max_multipart_bytes():
        return error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "file", "The upload is too large.")
    visitor = visitor_from_token(
        site=site, token=request.headers.get("X-Chat-Token") or request.POST.get("token", "")
    )
    files = request.FILES.getlist("file")
    if not files:
        raise RuleBroken("file", "Choose a file to send.")
    body = request.POST.get("body", "")
    client_id = request.POST.get("client_id") or None
    with transaction.atomic():
        conversation = current_conversation(visitor)
        if conversation is None:
            try:
                prechat = json.loads(request.POST.get("prechat") or "{}")
            except ValueError:
                raise RuleBroken("prechat", "The pre-chat answers are a JSON object.") from None
            conversation = start_conversation(
                site=site,
                visitor=visitor,
                prechat=prechat,
                body=body,
                client_id=client_id,
                attachments=files,
            )
            line = conversation.lines.order_by("seq").first()
        else:
            line = post_line(
                conversation=conversation,
                sender_user_or_None=None,
                body=body,
                client_id=client_id,
                attachments=files,
            )
    assert line is not None  # noqa: S101 - a conversation starts with its first line
    fresh = (
        ChatLine.objects.select_related("message__author")
        .prefetch_related("message__attachments")
        .get(pk=line.pk)
    )
    return JsonResponse(events.line_payload(fresh), status=HTTPStatus.CREATED)


@widget_endpoint("download", ("GET",))
def download(request: HttpRequest, site: Site, pk: int) -> HttpResponseBase:
    """GET /chat/widget/attachments/<id>/?site=KEY with `X-Chat-Token`: a file of a public
    line of one of the visitor's conversations."""
    visitor = visitor_from_token(site=site, token=request.headers.get("X-Chat-Token", ""))
    attachment = Attachment.objects.filter(
        pk=pk,
        message__is_internal=False,
        message__chat_line__conversation__in=conversations_of_visitor(visitor),
    ).first()
    if attachment is None:
        return error(HTTPStatus.NOT_FOUND, "file", "There is no such file in your chats.")
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError:
        return error(HTTPStatus.NOT_FOUND, "file", "This file is no longer stored.")
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=attachment.filename,
        content_type=attachment.content_type or "application/octet-stream",
    )
    # Never let a browser guess an uploaded file is HTML and run it.
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Access-Control-Expose-Headers"] = "Content-Disposition"
    return response
