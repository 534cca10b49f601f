"""The ticket workspace `/tickets/<id>/` and its htmx endpoints: timeline, reply box (drafts,
send with undo), one-click controls, the macro picker, and the customer's ticket history
fragment that the customer page (customers) loads from here.

Thin doors: find the ticket through tickets_visible_to, change it only through a service,
show a broken rule next to its control. Every write that could overwrite someone else's work
carries the newest audit event the page had seen (`seen_event`); if another person changed
the ticket since, the view answers with a warning and a "… anyway" button instead of going on.
"""

import json
from http import HTTPStatus
from typing import Any

from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET, require_POST

from accounts.decorators import AgentRequest, agent_required
from accounts.models import Team, User
from core.errors import RuleBroken
from tickets.macros import apply_macro, macros_to_apply
from tickets.models import Priority, ScheduledReply, Status, Ticket, TicketType
from tickets.replies import (
    cancel_scheduled_reply,
    deliver_scheduled_reply,
    draft_for,
    pending_replies_of,
    save_draft,
    schedule_reply,
    undo_seconds,
)
from tickets.selectors import tickets_visible_to
from tickets.services import (
    assign_ticket,
    change_ticket_details,
    change_ticket_priority,
    change_ticket_status,
    change_ticket_team,
    set_ticket_tags,
)
from tickets.services.queue import mark_ticket_seen
from tickets.workspace import (
    change_since,
    customer_panel,
    customer_tickets,
    latest_event_id,
    parse_version,
    timeline_for,
    version_after,
    workspace_ticket,
)
from tickets.workspace_forms import (
    CONTROL_FIELDS,
    ControlForm,
    DraftForm,
    ReplyForm,
    agents_to_assign,
)

VERSION_HEADER = "X-Ticket-Version"
HISTORY_ROWS = 200  # a customer page's history; beyond that, the queue's search finds the rest


def _ticket(request: AgentRequest, pk: int) -> Ticket:
    try:
        return workspace_ticket(tickets_visible_to(request.user), pk)
    except Ticket.DoesNotExist:
        raise Http404("No such ticket.") from None


def _seen(data: Any) -> int | None:
    """The newest event the agent has seen: what the page loaded with, or what they
    acknowledged on a collision warning ("Send anyway"), whichever is newer. None: the client
    sent no version (an API-like caller), so there is nothing to compare."""
    versions = [parse_version(data.get(name)) for name in ("seen_event", "acknowledged_event")]
    known = [version for version in versions if version is not None]
    return max(known) if known else None


def _versioned(
    response: HttpResponse, ticket: Ticket, *, since: int | None, viewer: User
) -> HttpResponse:
    """Tell the page the newest event it may now count as seen (see version_after). Without a
    version from the page there is nothing to advance."""
    if since is not None:
        response[VERSION_HEADER] = str(version_after(ticket, since=since, viewer=viewer))
    return response


def _controls_context(ticket: Ticket, **extra: Any) -> dict[str, Any]:
    return {
        "ticket": ticket,
        "statuses": Status.choices,
        "priorities": Priority.choices,
        "types": TicketType.choices,
        "agents": list(agents_to_assign()),
        "teams": list(Team.objects.order_by("name")),
        "tag_text": ", ".join(tag.name for tag in ticket.tags.all()),
        "errors": {},
        **extra,
    }


def _reply_context(
    request: AgentRequest, ticket: Ticket, *, body: str | None = None, **extra: Any
) -> dict[str, Any]:
    draft = draft_for(ticket=ticket, author=request.user) if body is None else None
    return {
        "ticket": ticket,
        "body": draft.body if draft else (body or ""),
        "is_internal": draft.is_internal if draft else bool(extra.pop("is_internal", False)),
        "pending_replies": pending_replies_of(ticket=ticket, author=request.user),
        "undo_seconds": undo_seconds(),
        "errors": {},
        **extra,
    }


@require_GET
@agent_required
def ticket_page(request: AgentRequest, pk: int) -> HttpResponse:
    # The version is read before anything it vouches for: a change landing while the page is
    # put together is newer than it, so it warns on the next write instead of slipping by.
    version = latest_event_id(pk)
    ticket = _ticket(request, pk)
    mark_ticket_seen(ticket=ticket, agent=request.user)
    context = {
        **_controls_context(ticket),
        **_reply_context(request, ticket),
        "timeline": timeline_for(ticket, request.user),
        "panel": customer_panel(ticket.customer, except_ticket=ticket),
        "customer": ticket.customer,
        "version": version,
    }
    return render(request, "tickets/ticket.html", context)


@require_GET
@agent_required
def timeline(request: AgentRequest, pk: int) -> HttpResponse:
    ticket = _ticket(request, pk)
    context = {"ticket": ticket, "timeline": timeline_for(ticket, request.user)}
    return render(request, "tickets/_timeline.html", context)


@require_GET
@agent_required
def controls(request: AgentRequest, pk: int) -> HttpResponse:
    ticket = _ticket(request, pk)
    return render(request, "tickets/_controls.html", _controls_context(ticket, oob=True))


# --- one-click controls -------------------------------------------------------------------


def _parent_from(request: AgentRequest, text: str) -> Ticket | None:
    text = (text or "").strip()
    if not text:
        return None
    pk = Ticket.pk_from_reference(text)
    parent = tickets_visible_to(request.user).filter(pk=pk).first() if pk else None
    if parent is None:
        raise RuleBroken("parent", f"No ticket {text!r}: use a reference like HD-1042.")
    return parent


def _change(request: AgentRequest, ticket: Ticket, field: str, value: Any) -> None:
    actor = request.user
    if field == "status":
        change_ticket_status(ticket=ticket, new_status=value, actor=actor)
    elif field == "priority":
        change_ticket_priority(ticket=ticket, priority=value, actor=actor)
    elif field == "type":
        change_ticket_details(ticket=ticket, type=value, actor=actor)
    elif field == "assignee":
        assign_ticket(ticket=ticket, assignee=value, actor=actor)
    elif field == "team":
        change_ticket_team(ticket=ticket, team=value, actor=actor)
    elif field == "tags":
        names = [name for name in (value or "").split(",") if name.strip()]
        set_ticket_tags(ticket=ticket, tags=names, actor=actor)
    elif field == "parent":
        parent = _parent_from(request, value)
        if parent is not None and parent.pk == ticket.pk:
            raise RuleBroken("parent", "A ticket cannot be its own parent.")
        change_ticket_details(ticket=ticket, parent=parent, actor=actor)


@require_POST
@agent_required
def change_control(request: AgentRequest, pk: int, field: str) -> HttpResponse:
    if field not in CONTROL_FIELDS:
        raise Http404("No such control.")
    ticket = _ticket(request, pk)
    form = ControlForm(request.POST, field=field)
    errors: dict[str, str] = {}
    warning = None
    seen: int | None = None
    status_code = HTTPStatus.OK
    if not form.is_valid():
        errors = {
            name: " ".join(str(m) for m in messages) for name, messages in form.errors.items()
        }
        status_code = HTTPStatus.BAD_REQUEST
    else:
        seen = _seen(form.cleaned_data)
        if seen is not None:
            warning = change_since(ticket, seen_event=seen, viewer=request.user)
        if warning is None:
            try:
                _change(request, ticket, field, form.cleaned_data[field])
            except RuleBroken as broken:
                errors[broken.field if broken.field in CONTROL_FIELDS else field] = broken.message
                status_code = HTTPStatus.BAD_REQUEST
    ticket = _ticket(request, pk)  # fresh, as the services left it
    context = _controls_context(
        ticket,
        oob=True,
        errors=errors,
        warning=warning,
        pending_field=field if warning else None,
        pending_value=request.POST.get(field, ""),
        acknowledged_event=latest_event_id(ticket),
    )
    response = render(request, "tickets/_controls.html", context, status=status_code)
    if warning:
        return response
    return _versioned(response, ticket, since=seen, viewer=request.user)


# --- the reply box --------------------------------------------------------------------------


@require_POST
@agent_required
def save_reply_draft(request: AgentRequest, pk: int) -> HttpResponse:
    ticket = _ticket(request, pk)
    form = DraftForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"body": form.errors.get("body", [])}, status=HTTPStatus.BAD_REQUEST)
    try:
        save_draft(
            ticket=ticket,
            author=request.user,
            body=form.cleaned_data["body"],
            is_internal=form.cleaned_data["is_internal"],
        )
    except RuleBroken as broken:
        return JsonResponse({broken.field: [broken.message]}, status=HTTPStatus.BAD_REQUEST)
    return HttpResponse(status=HTTPStatus.NO_CONTENT)


@require_POST
@agent_required
def send_reply(request: AgentRequest, pk: int) -> HttpResponse:
    ticket = _ticket(request, pk)
    form = ReplyForm(request.POST, request.FILES)
    body = request.POST.get("body", "")
    is_internal = request.POST.get("is_internal") in {"on", "true", "1"}
    if not form.is_valid():
        errors = {
            name: " ".join(str(m) for m in messages) for name, messages in form.errors.items()
        }
        context = _reply_context(request, ticket, body=body, is_internal=is_internal, errors=errors)
        return render(request, "tickets/_reply_box.html", context, status=HTTPStatus.BAD_REQUEST)
    data = form.cleaned_data
    seen = _seen(data)
    if seen is not None:
        warning = change_since(ticket, seen_event=seen, viewer=request.user)
        if warning:
            context = _reply_context(
                request,
                ticket,
                body=body,
                is_internal=is_internal,
                warning=warning,
                status_after=data["status_after"],
                acknowledged_event=latest_event_id(ticket),
            )
            return render(request, "tickets/_reply_box.html", context)
    try:
        reply = schedule_reply(
            ticket=ticket,
            author=request.user,
            body=data["body"],
            is_internal=data["is_internal"],
            status_after=data["status_after"],
            attachments=data["attachments"],
        )
    except RuleBroken as broken:
        field = broken.field if broken.field in {"body", "attachments", "status"} else "body"
        context = _reply_context(
            request, ticket, body=body, is_internal=is_internal, errors={field: broken.message}
        )
        return render(request, "tickets/_reply_box.html", context, status=HTTPStatus.BAD_REQUEST)
    context = _reply_context(request, ticket, body="", is_internal=False)
    response = render(request, "tickets/_reply_box.html", context)
    response["HX-Trigger"] = json.dumps({"replyScheduled": _scheduled(reply)})
    return _versioned(response, ticket, since=seen, viewer=request.user)


def _scheduled(reply: ScheduledReply) -> dict[str, Any]:
    base = f"/tickets/{reply.ticket_id}/replies/{reply.pk}"
    return {
        "id": reply.pk,
        "seconds": undo_seconds(),
        "sendAt": reply.send_at.isoformat(),
        "internal": reply.is_internal,
        "undoUrl": f"{base}/undo/",
        "deliverUrl": f"{base}/deliver/",
    }


def _own_reply(request: AgentRequest, ticket: Ticket, reply_pk: int) -> ScheduledReply:
    # Someone else's scheduled reply is a 404, like someone else's draft: never shown.
    return get_object_or_404(ScheduledReply, pk=reply_pk, ticket=ticket, author=request.user)


@require_POST
@agent_required
def undo_reply(request: AgentRequest, pk: int, reply_pk: int) -> HttpResponse:
    ticket = _ticket(request, pk)
    reply = _own_reply(request, ticket, reply_pk)
    try:
        cancel_scheduled_reply(reply=reply, actor=request.user)
    except RuleBroken as broken:
        context = _reply_context(request, ticket, errors={"body": broken.message})
        return render(request, "tickets/_reply_box.html", context, status=HTTPStatus.CONFLICT)
    return render(request, "tickets/_reply_box.html", _reply_context(request, ticket))


@require_POST
@agent_required
def deliver_reply_now(request: AgentRequest, pk: int, reply_pk: int) -> HttpResponse:
    """The author's page asks for delivery when its countdown ends: posts it if it is due
    (and not already posted by the worker). Idempotent."""
    ticket = _ticket(request, pk)
    reply = _own_reply(request, ticket, reply_pk)
    deliver_scheduled_reply(reply.pk)
    reply.refresh_from_db()
    return JsonResponse({"state": reply.state, "error": reply.error})


# --- macros ---------------------------------------------------------------------------------


@require_GET
@agent_required
def macro_picker(request: AgentRequest, pk: int) -> HttpResponse:
    ticket = _ticket(request, pk)
    search = request.GET.get("q", "")[:100]
    macros = list(macros_to_apply(request.user, search)[:30])
    return render(
        request, "tickets/_macro_list.html", {"ticket": ticket, "macros": macros, "q": search}
    )


@require_POST
@agent_required
def use_macro(request: AgentRequest, pk: int, macro_pk: int) -> HttpResponse:
    ticket = _ticket(request, pk)
    macro = get_object_or_404(macros_to_apply(request.user), pk=macro_pk)
    seen = _seen(request.POST)
    # A macro may change priority, team and tags: the same check as any control.
    if seen is not None:
        warning = change_since(ticket, seen_event=seen, viewer=request.user)
        if warning:
            body = {"warning": warning, "acknowledged_event": latest_event_id(ticket)}
            return JsonResponse(body, status=HTTPStatus.CONFLICT)
    try:
        rendered = apply_macro(macro=macro, ticket=ticket, agent=request.user)
    except RuleBroken as broken:
        return JsonResponse({broken.field: [broken.message]}, status=HTTPStatus.BAD_REQUEST)
    response = JsonResponse(
        {"text": rendered.text, "status_after": rendered.actions.get("status", "")}
    )
    return _versioned(response, ticket, since=seen, viewer=request.user)


# --- the customer's history, for the customer page (served here: customers never imports us) -


@require_GET
@agent_required
def customer_history(request: AgentRequest, pk: int) -> HttpResponse:
    tickets = list(customer_tickets(pk)[: HISTORY_ROWS + 1])
    context = {"tickets": tickets[:HISTORY_ROWS], "more": len(tickets) > HISTORY_ROWS}
    return render(request, "tickets/_customer_history.html", context)
