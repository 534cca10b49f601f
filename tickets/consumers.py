"""The agent event stream: one websocket that tells a signed-in agent, live, about every ticket
that is created or changes.

Endpoint: `ws/agent/events/` (served by `helpdesk.asgi`, which checks the Origin header against
ALLOWED_HOSTS and reads the Django session cookie before this consumer runs).

What a client sees:
- An agent (any signed-in user with an active agent profile) is accepted and then receives one
  JSON text frame per event, exactly as the service published it after its transaction
  committed: `{"type": "ticket.created" | "ticket.status_changed" | ..., "ticket": {...},
  "change": {...}}` (see `tickets.events`).
- A customer or an anonymous visitor is accepted and at once closed with code 4403. Accepting
  first is deliberate: a handshake refused before accept reaches a browser only as a bare 1006,
  while a close frame carries our code, so the agent UI can tell "sign in again" from "the
  network dropped, retry".
- A page on a foreign Origin is refused at the handshake (HTTP 403) by the origin validator.
- The client may send `{"type": "ping"}` and gets `{"type": "pong"}` back (a keep-alive and a
  cheap "is the stream alive?" check). Anything else gets
  `{"type": "error", "field": "type" | "frame", "message": ...}`; the socket stays open.

The consumer writes no rows and publishes nothing: services publish with
`tickets.events.broadcast_on_commit`, so a change made over REST, in the admin or by a worker
reaches every agent by the same path.
"""

import json
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from accounts.selectors import is_agent
from tickets.events import AGENT_STREAM_GROUP

# Close codes 4xxx are ours; 4403 mirrors HTTP 403.
CLOSE_FORBIDDEN = 4403


@database_sync_to_async
def is_signed_in_agent(user: Any) -> bool:
    # `is_agent` reads the user's agent profile: a query, so it runs off the event loop.
    return is_agent(user)


class AgentEventsConsumer(AsyncJsonWebsocketConsumer):
    """Forwards the agent stream group to one agent's socket."""

    groups: list[str] = []  # joined only after the user is known to be an agent

    async def connect(self) -> None:
        if not await is_signed_in_agent(self.scope.get("user")):
            await self.accept()
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.channel_layer.group_add(AGENT_STREAM_GROUP, self.channel_name)
        self.groups = [AGENT_STREAM_GROUP]  # left again by websocket_disconnect
        await self.accept()

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        if text_data is None:
            await self.send_error("frame", "Send JSON text frames.")
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
        else:
            await self.send_error("type", f"Unknown frame type {kind!r}; send {{'type': 'ping'}}.")

    async def send_error(self, field: str, message: str) -> None:
        await self.send_json({"type": "error", "field": field, "message": message})

    # --- group messages: {"type": "relay.event", "event": {...}} --------------------------------

    async def relay_event(self, message: dict[str, Any]) -> None:
        await self.send_json(message["event"])
