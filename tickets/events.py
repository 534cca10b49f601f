"""Live ticket events: what they are called, where they go, and how they leave after commit.

Every ticket event on the agent stream has the shape `{"type": "ticket.<past verb>",
"ticket": {...}, "change": {...}, "actor": {"id", "name"} or null}` (docs/events.md).
Consumers forward it; services publish it; nothing else does either.
"""

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

logger = logging.getLogger(__name__)

AGENT_STREAM_GROUP = "agents.tickets"

# Event types, `<noun>.<past verb>`.
TICKET_CREATED = "ticket.created"
TICKET_STATUS_CHANGED = "ticket.status_changed"
TICKET_PRIORITY_CHANGED = "ticket.priority_changed"
TICKET_ASSIGNEE_CHANGED = "ticket.assignee_changed"
TICKET_TEAM_CHANGED = "ticket.team_changed"
TICKET_TAGS_CHANGED = "ticket.tags_changed"
TICKET_DETAILS_CHANGED = "ticket.details_changed"
TICKET_MESSAGE_POSTED = "ticket.message_posted"


def ticket_snapshot(ticket: Any) -> dict[str, Any]:
    """What a listening queue needs to redraw one row without fetching it."""
    return {
        "id": ticket.pk,
        "reference": ticket.reference,
        "subject": ticket.subject,
        "status": ticket.status,
        "priority": ticket.priority,
        "type": ticket.type,
        "channel": ticket.channel,
        "team": ticket.team_id,
        "assignee": ticket.assignee_id,
        "customer": ticket.customer_id,
        "updated_at": DjangoJSONEncoder().default(ticket.updated_at) if ticket.updated_at else None,
    }


def actor_summary(user: Any) -> dict[str, Any] | None:
    """Who made a change, for "Priya replied 30 s ago" warnings; None for the system."""
    if user is None:
        return None
    return {"id": user.pk, "name": user.display_name}


def broadcast(group: str, event_type: str, payload: dict[str, Any]) -> None:
    """Publish to a channel-layer group now. For changes to rows, use broadcast_on_commit.

    A broken channel layer never breaks the caller: the event is logged and dropped.
    """
    try:
        layer = get_channel_layer()
        if layer is None:
            raise RuntimeError("CHANNEL_LAYERS is not configured")
        async_to_sync(layer.group_send)(
            group, {"type": "relay.event", "event": {"type": event_type, **payload}}
        )
    except Exception:
        logger.exception("Could not publish %s to %s", event_type, group)


def broadcast_on_commit(group: str, event_type: str, payload: dict[str, Any]) -> None:
    """Publish to a channel-layer group once the surrounding transaction commits.

    A rolled-back change is never announced. A broken channel layer never breaks the request
    whose change already committed: the event is logged and dropped (the audit row stays).
    """
    transaction.on_commit(lambda: broadcast(group, event_type, payload))


def broadcast_many_on_commit(messages: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Publish many (group, event type, payload) once the surrounding transaction commits, in
    one pass through the event loop: each async_to_sync call starts a loop (and the Redis
    layer a connection for it), a few ms apiece, so a sweep announcing a thousand changes
    sends them all from one. Each event is still sent (or logged and dropped) on its own."""
    if messages:
        transaction.on_commit(lambda: _send_all(messages))


def _send_all(messages: list[tuple[str, str, dict[str, Any]]]) -> None:
    layer = get_channel_layer()
    if layer is None:
        logger.error("CHANNEL_LAYERS is not configured; %d events dropped", len(messages))
        return

    async def send() -> None:
        # One after the other: the Redis layers send on one connection anyway (pubsub holds a
        # lock per publish), and a burst of concurrent sends could exhaust a connection pool.
        for group, event_type, payload in messages:
            try:
                await layer.group_send(
                    group, {"type": "relay.event", "event": {"type": event_type, **payload}}
                )
            except Exception:
                logger.exception("Could not publish %s to %s", event_type, group)

    async_to_sync(send)()
