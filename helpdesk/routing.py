"""Every websocket route, wrapped once by asgi.py with origin checks and authentication."""

from typing import Any

from django.urls import path

from tickets.consumers import AgentEventsConsumer

# Django's `path` is typed for views only and Channels' URLRouter for its own pattern type, so the
# stubs cannot say "URL patterns of ASGI applications": hence Any and the ignore below.
websocket_urlpatterns: list[Any] = [
    # The live ticket stream for signed-in agents (see tickets.consumers for the protocol).
    path("ws/agent/events/", AgentEventsConsumer.as_asgi(), name="agent-events"),  # type: ignore[arg-type]
]
