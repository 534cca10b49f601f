"""The agent event stream: one websocket that tells a signed-in agent, live, about every ticket
that is created or changes, and who else has a ticket open (collision detection).

Endpoint: `ws/agent/events/` (served by `helpdesk.asgi`, which checks the Origin header against
ALLOWED_HOSTS and reads the Django session cookie before this consumer runs). The protocol,
every frame both ways and the close codes are in docs/events.md; in short:

- An agent (a signed-in user with an active agent profile) is accepted and receives one JSON
  text frame per event, exactly as a service published it after its transaction committed.
  Anyone else is accepted and at once closed with 4403. Accepting first is deliberate: a
  handshake refused before accept reaches a browser only as a bare 1006, while a close frame
  carries our code, so the agent UI can tell "sign in again" from "the network dropped, retry".
- The stream follows the session: it closes with 4401 when the session ends (signed out,
  expired, flushed, password changed) and with 4403 when the user is no longer an active agent.
  Sign-out and saves of the user or agent profile reach the socket at once through its user and
  session groups (`accounts.live`, `accounts.signals`); a periodic re-check every
  `STREAM_RECHECK_SECONDS` (30) catches what bypasses signals (expiry, bulk updates, hand edits):
  one batch for every agent socket of the process (`tickets.rechecks`), not a query per socket.
- Client frames: `ping` → `pong`; `presence.viewing` / `presence.typing` / `presence.left` with a
  ticket id (see `tickets.presence`). A bad frame gets `{"type": "error", "field", "message"}`
  and the socket stays open. At most `STREAM_FRAME_BURST` (60) frames at once, refilled at
  `STREAM_FRAMES_PER_SECOND` (20); a frame over the limit gets an error, and a client that
  keeps sending past the limit is closed with 4429.

The consumer writes no rows and publishes nothing: services publish with
`tickets.events.broadcast_on_commit`, and presence goes through `tickets.presence`, so a change
made over REST, in the admin or by a worker reaches every agent by the same path.
"""

import asyncio
import contextlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, ClassVar

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from accounts.live import session_streams_group, user_streams_group
from accounts.models import User
from core.ids import MAX_ID
from core.parsers import json_depth, max_json_depth
from tickets import presence
from tickets.events import AGENT_STREAM_GROUP
from tickets.rechecks import (
    CLOSE_FORBIDDEN,
    CLOSE_SESSION_ENDED,
    Access,
    Claim,
    ExtraReader,
    rechecks,
    stream_access,
)
from tickets.selectors import tickets_visible_to

logger = logging.getLogger(__name__)

# Close codes 4xxx are ours; each mirrors the HTTP status it means (4401, 4403: tickets.rechecks).
CLOSE_TOO_MANY_FRAMES = 4429  # kept sending past the frame limit

MAX_WATCHED_TICKETS = 20  # tickets one socket may be "viewing" at once
PRESENCE_FRAMES = {"presence.viewing", "presence.typing", "presence.left"}


@database_sync_to_async
def may_see_ticket(user: User, ticket_id: int) -> bool:
    return tickets_visible_to(user).filter(pk=ticket_id).exists()


class FrameBudget:
    """A token bucket: `burst` frames at once, refilled at `rate` a second."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = float(burst), time.monotonic()
        self.refused_in_a_row = 0

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            self.refused_in_a_row = 0
            return True
        self.refused_in_a_row += 1
        return False


@dataclass
class Watch:
    """One ticket this socket has open: when its presence entry and typing flag lapse."""

    until: float
    typing_until: float

    def next_deadline(self) -> float:
        return min(self.until, self.typing_until) if self.typing_until else self.until


class AgentEventsConsumer(AsyncJsonWebsocketConsumer):
    """Forwards the agent stream group to one agent's socket, for as long as they may have it."""

    groups: list[str] = []  # joined only after the user is known to be an agent
    recheck_extra: ClassVar[ExtraReader | None] = None  # access is all this socket follows

    async def connect(self) -> None:
        user = self.scope.get("user")
        session = self.scope.get("session")
        self.session_key: str | None = getattr(session, "session_key", None)
        self.user_id = 0  # known once signed in
        self.user: User | None = None  # read fresh at connect: the name presence shows
        self.ended = False
        self.watching: dict[int, Watch] = {}
        self.visible: set[int] = set()
        self.budget = FrameBudget(
            float(getattr(settings, "STREAM_FRAMES_PER_SECOND", 20)),
            # The page queues up to 50 frames while disconnected and sends them all on reconnect.
            int(getattr(settings, "STREAM_FRAME_BURST", 60)),
        )
        self.wake = asyncio.Event()
        self.housekeeping: asyncio.Task[None] | None = None

        if user is None or not user.is_authenticated or not self.session_key:
            await self.refuse(CLOSE_FORBIDDEN)
            return
        self.user_id = user.pk
        # Listen for "your session ended" / "look again" before checking, so a sign-out or a
        # deactivation that lands between the check and the subscription is not missed.
        groups = [
            AGENT_STREAM_GROUP,
            user_streams_group(self.user_id),
            session_streams_group(self.session_key),
        ]
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.groups = groups  # left again by websocket_disconnect
        access = await stream_access(self.session_key, self.user_id)
        if access.refusal is not None:
            await self.refuse(access.refusal)
            return
        self.user = access.user
        await self.accept()
        rechecks().add(self)
        self.housekeeping = asyncio.create_task(self.keep_house())

    async def refuse(self, code: int) -> None:
        await self.accept()
        await self.end_stream(code)

    async def end_stream(self, code: int) -> None:
        """Stop forwarding, leave every ticket this socket had open, and close with `code`."""
        if self.ended:
            return
        self.ended = True
        rechecks().discard(self)
        await self.leave_everything()
        for group in self.groups:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups = []
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        self.ended = True
        rechecks().discard(self)
        await self.leave_everything()

    async def leave_everything(self) -> None:
        task, self.housekeeping = self.housekeeping, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        watching, self.watching = self.watching, {}
        for ticket_id in watching:
            await sync_to_async(presence.note_left, thread_sensitive=False)(
                ticket_id=ticket_id, socket=self.channel_name
            )

    # --- presence lapses -----------------------------------------------------------------------

    async def keep_house(self) -> None:
        """Sleep until the next lapse of this socket's presence entries (or, watching nothing,
        until it watches something); the access re-check is tickets.rechecks' batch."""
        while not self.ended:
            deadlines = [w.next_deadline() for w in self.watching.values()]
            self.wake.clear()
            timeout = max(0.0, min(deadlines) - time.time()) if deadlines else None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout)
            try:
                await self.do_due_work()
            except Exception:  # a cache hiccup: try again at the next deadline
                logger.exception("Agent stream housekeeping failed")

    async def do_due_work(self) -> None:
        now = time.time()
        for ticket_id, watch in list(self.watching.items()):
            if watch.until <= now:
                del self.watching[ticket_id]
            elif watch.typing_until and watch.typing_until <= now:
                watch.typing_until = 0.0
            else:
                continue
            await sync_to_async(presence.refresh_presence, thread_sensitive=False)(
                ticket_id=ticket_id
            )

    # --- the access re-check ------------------------------------------------------------------

    def recheck_claim(self) -> Claim | None:
        return None if self.ended or not self.session_key else (self.session_key, self.user_id)

    async def recheck_answered(self, access: Access, extra: Any) -> None:
        if access.refusal is not None:
            await self.end_stream(access.refusal)

    async def recheck(self) -> None:
        access = await stream_access(self.session_key, self.user_id)
        rechecks().checked(self)
        await self.recheck_answered(access, None)

    # --- client frames -------------------------------------------------------------------------

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        if self.ended:
            return
        if not self.budget.take():
            if self.budget.refused_in_a_row > self.budget.burst:
                await self.end_stream(CLOSE_TOO_MANY_FRAMES)
            else:
                await self.send_error("frame", "Too many frames: slow down.")
            return
        if text_data is None:
            await self.send_error("frame", "Send JSON text frames.")
            return
        # The API's nesting cap: json.loads recurses, and a deep frame would raise RecursionError.
        if json_depth(text_data) > max_json_depth():
            await self.send_error("frame", "This frame nests too deeply.")
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self.send_error("frame", "This frame is not valid JSON.")
            return
        await self.receive_json(content)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "ping":
            await self.send_json({"type": "pong"})
        elif kind in PRESENCE_FRAMES:
            await self.receive_presence(kind, content.get("ticket"))
        else:
            await self.send_error(
                "type",
                f"Unknown frame type {kind!r}; send ping, presence.viewing, presence.typing "
                "or presence.left.",
            )

    async def receive_presence(self, kind: str, ticket_id: Any) -> None:
        if type(ticket_id) is not int or not 0 < ticket_id <= MAX_ID:
            await self.send_error("ticket", "Send the ticket's id as a whole number.")
            return
        if kind == "presence.left":
            if self.watching.pop(ticket_id, None) is not None:
                await sync_to_async(presence.note_left, thread_sensitive=False)(
                    ticket_id=ticket_id, socket=self.channel_name
                )
            return
        if ticket_id not in self.visible:
            if self.user is None or not await may_see_ticket(self.user, ticket_id):
                await self.send_error("ticket", f"There is no ticket {ticket_id} you can see.")
                return
            self.visible.add(ticket_id)
        first = ticket_id not in self.watching
        if first and len(self.watching) >= MAX_WATCHED_TICKETS:
            await self.send_error(
                "ticket",
                f"One stream views at most {MAX_WATCHED_TICKETS} tickets at once; "
                "send presence.left for one you closed.",
            )
            return
        result = await sync_to_async(presence.note_viewing, thread_sensitive=False)(
            ticket_id=ticket_id,
            user_id=self.user_id,
            name=self.user.display_name if self.user else "",
            socket=self.channel_name,
            typing=kind == "presence.typing",
        )
        self.watching[ticket_id] = Watch(until=result.until, typing_until=result.typing_until)
        self.wake.set()  # the housekeeper sleeps until the new deadlines
        if first and not result.announced:
            # Nothing changed for the others (say, a reconnect): this socket still needs to know.
            await self.send_json(
                {"type": presence.PRESENCE_CHANGED, "ticket": ticket_id, "viewers": result.viewers}
            )

    async def send_error(self, field: str, message: str) -> None:
        await self.send_json({"type": "error", "field": field, "message": message})

    # --- group messages ------------------------------------------------------------------------

    async def relay_event(self, message: dict[str, Any]) -> None:
        """`{"type": "relay.event", "event": {...}}` from the agent stream group."""
        if not self.ended:
            await self.send_json(message["event"])

    async def stream_session_ended(self, message: dict[str, Any]) -> None:
        """This socket's session signed out (accounts.live)."""
        await self.end_stream(CLOSE_SESSION_ENDED)

    async def stream_recheck(self, message: dict[str, Any]) -> None:
        """The user or their agent profile changed (accounts.live): may they stay?"""
        if not self.ended:
            await self.recheck()
