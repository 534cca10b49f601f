"""Handle a socket's frames and group events in order, without stopping to read the socket.

uvicorn stops reading a websocket after each frame until the application asks for the next
one, and Channels asks only once the previous frame's handler has returned (and after a trip
to the database thread that every socket of the process shares, to close old connections). So
while a handler waits for that thread, the socket is not read, and neither are the pongs that
answer uvicorn's keepalive pings: under load the server closes a healthy socket with 1011
("keepalive ping timeout"), and its client reconnects into the same queue.

`OrderedInbox` keeps the consumer's one-thing-at-a-time semantics (frames and group events are
handled one after the other, in arrival order, as before: the visitor consumer's sequence
filtering relies on it) but moves the handling into a task of its own, so the dispatch loop
returns to reading at once. What waits is the handling, not the transport.
"""

import asyncio
import contextlib
import logging
from typing import Any

from asgiref.typing import WebSocketDisconnectEvent
from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer

logger = logging.getLogger(__name__)

CLOSE_INTERNAL_ERROR = 1011
CLOSE_TOO_MANY_FRAMES = 4429
# Frames and events waiting at most. A console sends a heartbeat every 10 s and a visitor types
# at human speed; the frame budgets refuse floods, so only a server minutes behind gets here.
INBOX_LIMIT = 1000


class OrderedInbox:
    """Mixin for an AsyncWebsocketConsumer: connect and disconnect are handled as they come,
    everything else (websocket.receive, group events) in order by one task per socket."""

    inbox: asyncio.Queue[dict[str, Any]] | None = None
    inbox_worker: asyncio.Task[None] | None = None

    async def dispatch(self, message: dict[str, Any]) -> None:
        if message["type"] in {"websocket.connect", "websocket.disconnect"}:
            await super().dispatch(message)  # type: ignore[misc]
            return
        if self.inbox is None:
            self.inbox = asyncio.Queue()
            self.inbox_worker = asyncio.create_task(self.work_inbox())
        if self.inbox.qsize() >= INBOX_LIMIT:
            logger.warning("Chat socket closed: %d frames and events waiting", INBOX_LIMIT)
            await self.close(code=CLOSE_TOO_MANY_FRAMES)  # type: ignore[attr-defined]
            return
        self.inbox.put_nowait(message)

    async def work_inbox(self) -> None:
        assert self.inbox is not None  # noqa: S101 - created before this task
        while True:
            message = await self.inbox.get()
            handler = getattr(self, get_handler_name(message), None)
            try:
                if handler is None:
                    raise ValueError(f"No handler for message type {message['type']}")
                await handler(message)
            except StopConsumer:
                return
            except Exception:
                # What an exception escaping a handler did before: the socket closes with 1011.
                logger.exception("Chat socket failed on %s", message.get("type"))
                with contextlib.suppress(Exception):
                    await self.close(code=CLOSE_INTERNAL_ERROR)  # type: ignore[attr-defined]
                return

    async def websocket_disconnect(self, message: WebSocketDisconnectEvent) -> None:
        worker, self.inbox_worker = self.inbox_worker, None
        if worker is not None:
            worker.cancel()  # the client is gone; what it sent last is answered to no one
            with contextlib.suppress(asyncio.CancelledError):
                await worker
        await super().websocket_disconnect(message)  # type: ignore[misc]
