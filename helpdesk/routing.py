"""Every websocket route, wrapped once by asgi.py with origin checks and authentication."""

from django.urls import path

from tickets.consumers import AgentEventsConsumer

websocket_urlpatterns = [
    # The live ticket stream for signed-in agents (see tickets.consumers for the protocol).
    path("ws/agent/events/", AgentEventsConsumer.as_asgi(), name="agent-events"),
]
