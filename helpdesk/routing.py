"""Every websocket route, wrapped once by asgi.py with origin checks and authentication."""

websocket_urlpatterns: list = []
