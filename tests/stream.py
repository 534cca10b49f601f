"""Helpers for tests of the agent event stream through the real ASGI application (origin check,
session cookie, consumer, channel layer: in-memory without REDIS_URL, Redis pub/sub with it)."""

import time
from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async

# channels.testing's __init__ imports daphne for its live server; the communicator does not.
from channels.testing.websocket import WebsocketCommunicator
from django.conf import settings as django_settings
from django.test import Client

from helpdesk.asgi import application

PATH = "/ws/agent/events/"
ORIGIN = "http://testserver"


@database_sync_to_async
def signed_in_client(user: Any) -> Client:
    """A browser-like client holding a real session for `user`."""
    client = Client()
    client.force_login(user)
    return client


def cookie_of(client: Client) -> str:
    name = django_settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}"


async def session_cookie_for(user: Any) -> str:
    return cookie_of(await signed_in_client(user))


def socket_with_cookie(cookie: str | None, origin: str = ORIGIN) -> WebsocketCommunicator:
    headers = [(b"origin", origin.encode())]
    if cookie is not None:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(application, PATH, headers=headers)


async def socket_for(user: Any = None, origin: str = ORIGIN) -> WebsocketCommunicator:
    cookie = await session_cookie_for(user) if user is not None else None
    return socket_with_cookie(cookie, origin)


async def connected(socket: WebsocketCommunicator) -> WebsocketCommunicator:
    accepted, _ = await socket.connect()
    assert accepted
    return socket


async def connected_socket_for(user: Any) -> WebsocketCommunicator:
    return await connected(await socket_for(user))


async def frame_where(
    socket: WebsocketCommunicator, wanted: Callable[[dict], bool], timeout: float = 5
) -> dict:
    """The first frame that `wanted` accepts, skipping others, within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        frame = await socket.receive_json_from(timeout=max(deadline - time.monotonic(), 0.01))
        if wanted(frame):
            return frame


async def close_code(socket: WebsocketCommunicator, timeout: float = 5) -> int:
    """Wait for the server to close the socket (skipping frames sent before) and return its
    code."""
    deadline = time.monotonic() + timeout
    while True:
        output = await socket.receive_output(timeout=max(deadline - time.monotonic(), 0.01))
        if output["type"] == "websocket.close":
            return output.get("code", 1000)
