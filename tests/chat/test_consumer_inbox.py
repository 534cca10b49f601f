"""A chat socket keeps reading while its frames wait for the database (chat.consumers.inbox).

uvicorn stops reading a socket after each frame until the application takes it, and with it
the pongs that answer its keepalive pings; a socket whose frames wait a minute for a busy
database thread was closed with 1011. Now the consumer takes every frame at once and handles
them one after the other, in order."""

import asyncio
import threading

import pytest
from channels.db import database_sync_to_async

from tests.chat.visitors import connected_visitor, make_site_async, new_visitor_async
from tests.chat.visitors import put_online_async as put_online

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("private_channel_layer"),
]


async def test_frames_are_taken_at_once_and_answered_in_order_while_the_database_is_busy(
    team, agent
):
    site = await make_site_async(team)
    await put_online(agent)
    _, token = await new_visitor_async(site)
    socket = await connected_visitor(site, token)

    # Every socket of a server process shares one database thread: hold it, as a long queue
    # of other sockets' work would.
    released = threading.Event()
    busy = asyncio.create_task(database_sync_to_async(released.wait)(10))
    await asyncio.sleep(0.1)
    await socket.send_json_to({"type": "message.send", "client_id": "c-1", "body": "Hello?"})
    await socket.send_json_to({"type": "ping"})
    await socket.send_json_to({"type": "ping"})
    await asyncio.sleep(0.3)
    assert socket.input_queue.empty()  # read by the application, not left on the wire

    released.set()
    await busy
    kinds = []
    while kinds.count("pong") < 2:
        kinds.append((await socket.receive_json_from(timeout=10))["type"])
    # The message was handled first (its line and the snapshot), then the two pings.
    assert kinds.index("message.posted") < kinds.index("pong")
    assert kinds[-2:] == ["pong", "pong"]
    await socket.disconnect()
