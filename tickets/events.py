"""Live ticket events: what they are called, where they go, and how they leave after commit.

Every ticket event on the agent stream has the shape `{"type": "ticket.<past verb>",
"ticket": {...}, "change": {...}, "actor": {"id", "name"} or null}` (docs/events.md).
Consumers forward it; services publish it; nothing else does either.
"""

import asyncio
import concurrent.futures
import logging
import os
from collections import deque
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from channels.layers import get_channel_layer
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from core.loops import PerLoop

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
    _send_all([(group, event_type, payload)])


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
    items = [
        (group, {"type": "relay.event", "event": {"type": event_type, **payload}})
        for group, event_type, payload in messages
    ]
    loop = _server_loop()
    if loop is not None and _hand_to_loop(loop, layer, items):
        return

    async def send() -> None:
        for group, message in items:
            await _send_one(layer, group, message)

    try:
        async_to_sync(send)()
    except Exception:  # no way to send from here (a thread running a loop of its own, say)
        logger.exception("Could not publish %d events", len(items))


async def _send_one(layer: Any, group: str, message: dict[str, Any]) -> None:
    try:
        await layer.group_send(group, message)
    except Exception:
        logger.exception("Could not publish %s to %s", message["event"]["type"], group)


# --- from a server's threads: hand over, do not wait ----------------------------------------
# Sync code in an ASGI server (a socket's database call, a view) runs in a thread of the
# server's event loop. Publishing with async_to_sync there blocks that thread until the loop
# has sent the event, a trip through the loop per event (three for a chat line: the ticket's
# two and the line's), while the next socket's work waits for the thread. Instead the events
# go, in order, to one sender task per loop, and the thread goes on at once.

# Events waiting for the sender, at most; past it a thread waits for its own to be sent (a
# channel layer that cannot keep up slows the writers down instead of filling memory).
PENDING_LIMIT = 10_000
CROWDED_WAIT_SECONDS = 30  # then the thread goes on (a loop that is shutting down, say)


def _server_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop whose sync_to_async thread this is (asgiref notes it in the thread),
    or None outside one (a worker, a command, a test's own thread)."""
    loop = getattr(SyncToAsync.threadlocal, "main_event_loop", None)
    if loop is None or getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) != os.getpid():
        return None
    if loop.is_closed() or not loop.is_running():
        return None
    return loop


class _LoopSender:
    """Sends what the threads hand over, one event after the other, in the order given."""

    def __init__(self) -> None:
        # Events, and markers that resolve when the sender gets to them.
        self.pending: deque[tuple[Any, str, dict[str, Any]] | concurrent.futures.Future[None]] = (
            deque()
        )
        self.task: asyncio.Task[None] | None = None

    def take(self, layer: Any, items: list[tuple[str, dict[str, Any]]]) -> None:
        self.pending.extend((layer, group, message) for group, message in items)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self.send())

    def mark(self, reached: "concurrent.futures.Future[None]") -> None:
        """Resolve `reached` once everything handed over before it has been sent."""
        if not self.pending and (self.task is None or self.task.done()):
            reached.set_result(None)
            return
        self.pending.append(reached)
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self.send())

    async def send(self) -> None:
        while self.pending:
            item = self.pending.popleft()
            if isinstance(item, concurrent.futures.Future):
                if not item.done():
                    item.set_result(None)
                continue
            await _send_one(*item)


# This loop's sender (call on the loop).
_sender = PerLoop(_LoopSender)


def _hand_to_loop(
    loop: asyncio.AbstractEventLoop, layer: Any, items: list[tuple[str, dict[str, Any]]]
) -> bool:
    """Give the events to the loop's sender; False if the loop is gone (send them here)."""
    sender = _sender.of(loop)
    crowded = sender is not None and len(sender.pending) > PENDING_LIMIT
    reached: concurrent.futures.Future[None] = concurrent.futures.Future()

    def take() -> None:
        _sender().take(layer, items)
        if crowded:
            _sender().mark(reached)

    try:
        loop.call_soon_threadsafe(take)
    except RuntimeError:  # the loop closed meanwhile
        return False
    if crowded:
        try:
            reached.result(timeout=CROWDED_WAIT_SECONDS)  # wait for these to be sent
        except TimeoutError:
            logger.warning("Events still waiting to be sent after %ds", CROWDED_WAIT_SECONDS)
    return True


def sent_so_far() -> "concurrent.futures.Future[None] | None":
    """From sync code, after publishing: a future that resolves once every event this thread
    has handed to the loop is sent (await it with asyncio.wrap_future); None when there is no
    loop to wait for (the events were sent before the publishing call returned).

    What a socket acknowledges must have been announced too: a chat line acknowledged to its
    sender while its broadcast still waited in a server process that then died would be
    stored, acknowledged (so never resent) and never delivered to the other side."""
    loop = _server_loop()
    if loop is None:
        return None
    reached: concurrent.futures.Future[None] = concurrent.futures.Future()
    try:
        loop.call_soon_threadsafe(lambda: _sender().mark(reached))
    except RuntimeError:  # the loop closed meanwhile: nothing of ours will be sent by it
        return None
    return reached
