"""Reads of chats that several doors share: who may see which conversation, a conversation's
lines since a sequence number, whether a site is open and staffed, origins."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db.models import Q, QuerySet

from accounts.selectors import AnyUser, is_agent
from chat.models import (
    AgentChatPresence,
    ChatLine,
    Conversation,
    ConversationState,
    Site,
    Visitor,
)
from slas import clocks
from slas.models import BusinessCalendar

# The most lines one replay sends; a client that missed more reads the REST history.
REPLAY_LIMIT = 500


def active_site_with_key(key: Any) -> Site | None:
    if not isinstance(key, str) or not key or len(key) > 64:
        return None
    return Site.objects.filter(key=key, is_active=True).select_related("calendar").first()


def normalized_origin(origin: str) -> str:
    """`scheme://host[:port]`, lower-cased, default ports dropped, as browsers send Origin."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return ""
    default = {"http": 80, "https": 443}[parts.scheme]
    try:
        port = parts.port
    except ValueError:
        return ""
    host = parts.hostname.lower()
    return f"{parts.scheme}://{host}" + (f":{port}" if port and port != default else "")


def origin_allowed(site: Site, origin: str | None) -> bool:
    """Is `origin` (the request's Origin header) one the site allows the widget on? Exact
    matches only (after normalizing): no wildcards, so a look-alike host never passes."""
    if not origin:
        return False
    wanted = normalized_origin(origin)
    return bool(wanted) and any(
        normalized_origin(allowed) == wanted
        for allowed in site.allowed_origins
        if isinstance(allowed, str)
    )


def conversations_visible_to(user: AnyUser) -> QuerySet[Conversation]:
    """Agents see the chats of their teams' sites; managers every chat; nobody else any."""
    if not is_agent(user):
        return Conversation.objects.none()
    conversations = Conversation.objects.all()
    if not user.is_manager:
        conversations = conversations.filter(site__team__members__user=user)
    return conversations


LINE_RELATED = ("message__author",)


def lines_since(
    *, conversation: Conversation, seq: int, limit: int = REPLAY_LIMIT
) -> list[ChatLine]:
    """The lines after `seq`, oldest first (the database is the source of truth; the socket
    is the fast path)."""
    return list(
        ChatLine.objects.filter(conversation=conversation, seq__gt=seq)
        .select_related(*LINE_RELATED)
        .prefetch_related("message__attachments")
        .order_by("seq")[:limit]
    )


def business_hours_of(site: Site) -> clocks.BusinessCalendar | None:
    """The site's opening hours for arithmetic, or None: always open."""
    calendar: BusinessCalendar | None = site.calendar
    if calendar is None or not calendar.is_active:
        return None
    spec = {
        "timezone": calendar.timezone,
        "hours": calendar.hours,
        "holidays": calendar.holidays,
        "always_open": calendar.always_open,
    }
    try:
        return clocks.BusinessCalendar.from_spec(spec)
    except clocks.CalendarSpecError:
        return None  # a broken calendar must not close the chat: saved calendars are checked


def is_open_now(calendar: clocks.BusinessCalendar | None, now: datetime) -> bool:
    return calendar is None or clocks.is_open(now, calendar)


def next_opening_after(calendar: clocks.BusinessCalendar | None, now: datetime) -> datetime | None:
    if calendar is None:
        return None
    return clocks.next_opening(now, calendar)


def presence_timeout() -> timedelta:
    return timedelta(seconds=int(getattr(settings, "CHAT_PRESENCE_TIMEOUT_SECONDS", 60)))


def agents_available(site: Site, *, now: datetime) -> bool:
    """Is at least one agent of the site's team online for chat (a recent heartbeat, taking
    chats)? Capacity is routing's business: a full agent still means "you are in a queue"."""
    return AgentChatPresence.objects.filter(
        accepting=True,
        last_heartbeat_at__gte=now - presence_timeout(),
        agent__is_active=True,
        agent__agent_profile__teams=site.team_id,
    ).exists()


def earlier_conversations(visitor: Visitor, *, limit: int = 20) -> list[Conversation]:
    """An identified customer's past chats on this site, from any device (newest first);
    nothing for an anonymous visitor (a pre-chat email proves nothing)."""
    if not visitor.identified or visitor.customer_id is None:
        return []
    return list(
        conversations_of_visitor(visitor)
        .filter(state=ConversationState.ENDED)
        .select_related("ticket", "agent")
        .order_by("-created_at", "-id")[:limit]
    )


def conversations_of_visitor(visitor: Visitor) -> QuerySet[Conversation]:
    """Every conversation this visitor may read and write: their own, and for a customer the
    shop has signed in, that customer's identified chats on this site from any device."""
    conversations = Conversation.objects.filter(site_id=visitor.site_id)
    if visitor.identified and visitor.customer_id is not None:
        return conversations.filter(
            Q(visitor=visitor)
            | Q(ticket__customer_id=visitor.customer_id, visitor__identified=True)
        )
    return conversations.filter(visitor=visitor)


def current_conversation(visitor: Visitor) -> Conversation | None:
    """The visitor's conversation that has not ended (a `missed` one takes follow-ups as ticket
    messages until it is ended), newest first."""
    return (
        conversations_of_visitor(visitor)
        .exclude(state=ConversationState.ENDED)
        .select_related("ticket", "agent")
        .order_by("-created_at", "-id")
        .first()
    )
