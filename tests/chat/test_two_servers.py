"""Two real ASGI server processes (uvicorn) on one PostgreSQL database and one Redis channel
layer, as a deployment behind a load balancer runs them: a shop visitor on one server and an
agent on the other exchange messages, and the visitor's reconnect in the middle (to the other
server) gets exactly what it missed, from the database, then the live stream again.

Needs PostgreSQL (the shared database; SQLite deselects it like every PostgreSQL-only test)
and REDIS_URL (the only channel layer that crosses processes)."""

import json
import os
import time
import uuid

import httpx
import pytest
from rest_framework.authtoken.models import Token
from websockets.sync.client import connect

from chat.models import Conversation
from tests.chat.visitors import SHOP, make_site, put_online
from tests.live_server import live_servers

pytestmark = [pytest.mark.postgres, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def servers(tmp_path, transactional_db, monkeypatch):
    assert os.environ.get("REDIS_URL"), "this test needs REDIS_URL: two processes share Redis"
    # Our own pub/sub channel names: other test runs may use the same Redis server.
    monkeypatch.setenv("CHANNEL_LAYER_PREFIX", f"twosrv{uuid.uuid4().hex[:10]}")
    with live_servers(tmp_path, 2) as running:
        yield running


def next_frame(socket, wanted, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(socket.recv(timeout=max(deadline - time.monotonic(), 0.01)))
        if wanted(frame):
            return frame


def nothing_more(socket, timeout: float = 0.5) -> bool:
    try:
        frame = socket.recv(timeout=timeout)
    except TimeoutError:
        return True
    raise AssertionError(f"unexpected frame {frame}")


def visitor_socket(server, site, token):
    return connect(
        f"{server.ws_url}/ws/chat/visitor/?site={site.key}&token={token}",
        origin=SHOP,
        open_timeout=10,
    )


def test_a_visitor_and_an_agent_on_two_servers_chat_through_a_reconnect(servers, team, agent):
    visitor_server, agent_server = servers
    site = make_site(team)
    put_online(agent)
    api = httpx.Client(
        base_url=agent_server.url,
        headers={"Authorization": f"Token {Token.objects.create(user=agent).key}"},
        timeout=10,
    )

    # The widget's session, then its socket, on the first server.
    session = httpx.post(
        f"{visitor_server.url}/chat/widget/session/?site={site.key}",
        json={},
        headers={"Origin": SHOP},
        timeout=10,
    )
    assert session.status_code == 200, session.text
    token = session.json()["token"]

    with visitor_socket(visitor_server, site, token) as socket:
        socket.send(json.dumps({"type": "message.send", "client_id": "v1", "body": "Hello?"}))
        first = next_frame(socket, lambda f: f.get("client_id") == "v1")
        assert first["seq"] == 1
        ticket_id = Conversation.objects.get(pk=first["conversation"]).ticket_id

        # The agent answers through the other server: the line crosses Redis.
        reply = api.post(f"/api/v1/tickets/{ticket_id}/messages/", json={"body": "Hi, Alice here"})
        assert reply.status_code == 201, reply.text
        answer = next_frame(socket, lambda f: f["type"] == "message.posted" and f["seq"] == 2)
        assert (answer["sender"], answer["body"]) == ("agent", "Hi, Alice here")

    # While the visitor is away the agent writes twice more.
    for text in ["Your parcel left today.", "Anything else?"]:
        response = api.post(f"/api/v1/tickets/{ticket_id}/messages/", json={"body": text})
        assert response.status_code == 201, response.text

    # The visitor comes back through the agent's server and resumes from what it saw.
    with visitor_socket(agent_server, site, token) as socket:
        socket.send(json.dumps({"type": "resume", "last_seq": 2}))
        snapshot = next_frame(socket, lambda f: f["type"] == "session.resumed")
        assert snapshot["last_seq"] == 4
        missed = [next_frame(socket, lambda f: f["type"] == "message.posted") for _ in range(2)]
        assert [(f["seq"], f["body"]) for f in missed] == [
            (3, "Your parcel left today."),
            (4, "Anything else?"),
        ]
        assert nothing_more(socket)

        # Live again, both ways: the visitor's line is in the history the agent reads from the
        # first server, and the agent's next reply (through the first server) arrives here.
        socket.send(json.dumps({"type": "message.send", "client_id": "v2", "body": "No, thanks"}))
        mine = next_frame(socket, lambda f: f.get("client_id") == "v2")
        assert mine["seq"] == 5
        history = httpx.get(
            f"{visitor_server.url}/api/v1/chat/conversations/{first['conversation']}/lines/",
            params={"after": 4},
            headers=api.headers,
            timeout=10,
        ).json()
        assert [(line["seq"], line["body"]) for line in history] == [(5, "No, thanks")]
        bye = httpx.post(
            f"{visitor_server.url}/api/v1/tickets/{ticket_id}/messages/",
            json={"body": "Bye!"},
            headers=api.headers,
            timeout=10,
        )
        assert bye.status_code == 201, bye.text
        last = next_frame(socket, lambda f: f["type"] == "message.posted" and f["seq"] == 6)
        assert last["body"] == "Bye!"
        assert nothing_more(socket)
