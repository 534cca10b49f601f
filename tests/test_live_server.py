"""The agent event stream over real sockets: a uvicorn process, a browser-like login, a real
websocket client, and a ticket opened through the HTTP API of the same server."""

import json
import os
import re
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from accounts.factories import DEFAULT_PASSWORD
from tests.factories import TicketFactory
from tests.live_server import live_server, live_servers

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EVENTS = "/ws/agent/events/"


@pytest.fixture
def server(tmp_path, transactional_db):
    with live_server(tmp_path) as running:
        yield running


def signed_in(server, username: str) -> httpx.Client:
    """An HTTP client holding a session, signed in through the browsable API's login form."""
    client = httpx.Client(base_url=server.url, timeout=10)
    form = client.get("/api-auth/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    response = client.post(
        "/api-auth/login/",
        data={"username": username, "password": DEFAULT_PASSWORD, "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302, response.text
    assert "sessionid" in client.cookies
    return client


def events_socket(server, client: httpx.Client | None = None, origin: str | None = None):
    headers = {}
    if client is not None:
        headers["Cookie"] = f"sessionid={client.cookies['sessionid']}"
    return connect(
        server.ws_url + EVENTS,
        origin=origin or server.url,
        additional_headers=headers,
        open_timeout=10,
    )


def next_frame(socket, wanted, timeout: float = 10) -> dict:
    """The first frame `wanted` accepts, skipping others (other tests' events on Redis)."""
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(socket.recv(timeout=max(deadline - time.monotonic(), 0.01)))
        if wanted(frame):
            return frame


def next_event_about(socket, reference: str, timeout: float = 10) -> dict:
    # On Redis other test runs may share the stream; wait for the frame about our ticket.
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(socket.recv(timeout=max(deadline - time.monotonic(), 0.01)))
        if frame.get("ticket", {}).get("reference") == reference:
            return frame


def close_code_of(socket, timeout: float = 10) -> int:
    """Read (and skip) frames until the server closes the socket; its close code."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.recv(timeout=max(deadline - time.monotonic(), 0.01))
        except ConnectionClosed as closed:
            return closed.rcvd.code


@pytest.fixture
def servers(tmp_path, transactional_db):
    """Two server processes on Redis (what crosses processes must go through it), one on the
    embedded default (whose in-memory channel layer serves one process only)."""
    with live_servers(tmp_path, 2 if os.environ.get("REDIS_URL") else 1) as running:
        yield running


def test_signing_out_through_one_server_closes_the_stream_on_another_with_4401(servers, agent):
    stream_server, web_server = servers[0], servers[-1]
    browser = signed_in(web_server, agent.username)
    with events_socket(stream_server, browser) as socket:
        socket.send(json.dumps({"type": "ping"}))
        assert json.loads(socket.recv(timeout=10)) == {"type": "pong"}  # subscribed and alive

        response = browser.post(
            "/api-auth/logout/", headers={"X-CSRFToken": browser.cookies["csrftoken"]}
        )
        assert response.status_code == 200, response.text

        assert close_code_of(socket) == 4401


def test_agents_on_different_servers_see_each_other_on_a_ticket(servers, agent, other_agent):
    ticket = TicketFactory()
    alice = signed_in(servers[0], agent.username)
    bob = signed_in(servers[-1], other_agent.username)

    def presence_naming(*people):
        # On Redis another run's frames may pass by: match the ticket and our people by name.
        def wanted(frame: dict) -> bool:
            if frame.get("type") != "presence.changed" or frame["ticket"] != ticket.pk:
                return False
            seen = {(viewer["id"], viewer["name"]) for viewer in frame["viewers"]}
            return seen == {(person.pk, person.display_name) for person in people}

        return wanted

    with (
        events_socket(servers[0], alice) as alice_socket,
        events_socket(servers[-1], bob) as bob_socket,
    ):
        alice_socket.send(json.dumps({"type": "presence.viewing", "ticket": ticket.pk}))
        frame = next_frame(bob_socket, presence_naming(agent))
        assert frame["viewers"] == [{"id": agent.pk, "name": agent.display_name, "typing": False}]

        bob_socket.send(json.dumps({"type": "presence.typing", "ticket": ticket.pk}))
        frame = next_frame(alice_socket, presence_naming(agent, other_agent))
        assert {(v["id"], v["typing"]) for v in frame["viewers"]} == {
            (agent.pk, False),
            (other_agent.pk, True),
        }


def test_agent_hears_a_ticket_opened_through_the_api(server, agent, customer):
    client = signed_in(server, agent.username)
    with events_socket(server, client) as socket:
        socket.send(json.dumps({"type": "ping"}))
        assert json.loads(socket.recv(timeout=10)) == {"type": "pong"}  # subscribed and alive

        response = client.post(
            "/api/v1/tickets/",
            json={"customer": customer.pk, "subject": "Parcel never arrived", "body": "Order 7"},
            headers={"X-CSRFToken": client.cookies["csrftoken"]},
        )
        assert response.status_code == 201, response.text
        reference = response.json()["reference"]

        frame = next_event_about(socket, reference)
        assert frame["type"] == "ticket.created"
        assert frame["ticket"]["subject"] == "Parcel never arrived"
        assert frame["ticket"]["customer"] == customer.pk

        ticket_id = response.json()["id"]
        response = client.post(
            f"/api/v1/tickets/{ticket_id}/status/",
            json={"status": "pending"},
            headers={"X-CSRFToken": client.cookies["csrftoken"]},
        )
        assert response.status_code == 200, response.text
        frame = next_event_about(socket, reference)
        assert frame["type"] == "ticket.status_changed"
        assert frame["change"] == {"field": "status", "from": "new", "to": "pending"}


def test_signed_in_customer_is_closed_with_4403(server, customer):
    client = signed_in(server, customer.user.username)
    with events_socket(server, client) as socket, pytest.raises(ConnectionClosed) as closed:
        socket.recv(timeout=10)
    assert closed.value.rcvd.code == 4403


def test_anonymous_visitor_is_closed_with_4403(server):
    with events_socket(server) as socket, pytest.raises(ConnectionClosed) as closed:
        socket.recv(timeout=10)
    assert closed.value.rcvd.code == 4403


def test_page_on_another_origin_is_refused_at_the_handshake(server, agent):
    client = signed_in(server, agent.username)
    with pytest.raises(InvalidStatus) as refused:
        events_socket(server, client, origin="https://evil.example")
    assert refused.value.response.status_code == 403
