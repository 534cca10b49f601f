"""The widget's session: who this browser is (a signed token, or a new visitor), and who the
shop says its signed-in customer is (a signed identity)."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from chat.models import ChatLine, Conversation, Site, Visitor
from chat.selectors import current_conversation, earlier_conversations, lines_since
from chat.services.identity import customer_for_identity, verified_identity
from chat.services.tokens import issue_visitor_token, visitor_from_token
from core.errors import RuleBroken

MAX_PAGE_URL = 2000
RECENT_LINES = 100


@dataclass
class WidgetSession:
    visitor: Visitor
    token: str
    conversation: Conversation | None
    lines: list[ChatLine]
    earlier: list[Conversation] = field(default_factory=list)


def _clean_page(page: Any) -> str:
    if not isinstance(page, str):
        return ""
    page = page.strip()
    return page[:MAX_PAGE_URL] if page.startswith(("http://", "https://")) else ""


@transaction.atomic
def open_widget_session(
    *,
    site: Site,
    token: str | None,
    identity: Any = None,
    page: Any = "",
    now: datetime | None = None,
) -> WidgetSession:
    """Resume the visitor of `token` (TokenRefused if it is forged, expired or another
    site's) or make a new one; link a signed identity (RuleBroken if its signature is missing
    or wrong). A browser whose shop login changed to another customer gets a new visitor, so
    the next person on a shared computer never sees the previous one's chat."""
    now = now or timezone.now()
    visitor = visitor_from_token(site=site, token=token) if token else None
    customer = None
    if identity is not None:
        customer = customer_for_identity(verified_identity(site=site, identity=identity))
    elif site.require_identity:
        raise RuleBroken("identity", "This shop asks you to sign in before chatting.")
    if (
        visitor is not None
        and customer is not None
        and visitor.customer_id
        not in (
            None,
            customer.pk,
        )
    ):
        visitor = None  # someone else signed in on this browser
    if visitor is not None and customer is None and visitor.identified:
        visitor = None  # signed out of the shop: the signed-in customer's chats stay theirs
    if visitor is None:
        visitor = Visitor.objects.create(site=site)
    changes: dict[str, Any] = {"last_seen_at": now}
    if customer is not None and not (visitor.identified and visitor.customer_id == customer.pk):
        changes.update(customer=customer, identified=True, name=customer.name)
    page_url = _clean_page(page)
    if page_url:
        changes["current_page"] = page_url
    Visitor.objects.filter(pk=visitor.pk).update(**changes)
    for name, value in changes.items():
        setattr(visitor, name, value)

    # For a signed-in customer this may be a chat started on another device.
    conversation = current_conversation(visitor)
    lines: list[ChatLine] = []
    if conversation is not None:
        last = conversation.last_seq
        lines = lines_since(conversation=conversation, seq=max(0, last - RECENT_LINES))
    return WidgetSession(
        visitor=visitor,
        token=issue_visitor_token(visitor),
        conversation=conversation,
        lines=lines,
        earlier=earlier_conversations(visitor),
    )
