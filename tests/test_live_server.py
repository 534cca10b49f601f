"""The agent event stream over real sockets: a uvicorn process, a browser-like login, a real
websocket client, and a ticket opened through the HTTP API of the same server."""

import json
import re
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from accounts.factories import DEFAULT_PASSWORD
from tests.live_server import live_server

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


def next_event_about(socket, reference: str, timeout: float = 10) -> dict:
    # On Redis other test runs may share the stream; wait for the frame about our ticket.
    deadline = time.monotonic() + timeout
    while True:
        frame = json.loads(socket.recv(timeout=max(deadline - time.monotonic(), 0.01)))
        if frame.get("ticket", {}).get("reference") == reference:
            return frame


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
