"""Every websocket route. asgi.py wraps `websocket_urlpatterns` (the agents' sockets) with
the Origin check against ALLOWED_HOSTS and the session cookie; `visitor_websocket_urlpatterns`
(the shop widget's socket, opened from the shop's own origin) sit outside both and check the
Origin against the chat site's allowed origins themselves (chat.consumers.visitor)."""

from typing import Any

from django.urls import path

from chat.consumers.agent import AgentChatConsumer
from chat.consumers.visitor import VisitorConsumer
from tickets.consumers import AgentEventsConsumer

# Django's `path` is typed for views only and Channels' URLRouter for its own pattern type, so the
# stubs cannot say "URL patterns of ASGI applications": hence Any and the ignore below.
websocket_urlpatterns: list[Any] = [
    # The live ticket stream for signed-in agents (see tickets.consumers for the protocol).
    path("ws/agent/events/", AgentEventsConsumer.as_asgi(), name="agent-events"),  # type: ignore[arg-type]
    # The agents' chat console: offers, heartbeats, their chats (chat.consumers.agent).
    path("ws/chat/agent/", AgentChatConsumer.as_asgi(), name="chat-agent"),  # type: ignore[arg-type]
]

visitor_websocket_urlpatterns: list[Any] = [
    # A shop visitor's chat (docs/chat-protocol.md): a signed visitor token, no cookie.
    path("ws/chat/visitor/", VisitorConsumer.as_asgi(), name="chat-visitor"),  # type: ignore[arg-type]
]
