"""The agent event stream, through the real ASGI application: origin check, session cookie,
consumer, channel layer (in-memory without REDIS_URL, Redis pub/sub with it)."""

import json

import pytest
from channels.db import database_sync_to_async
from django.db import transaction

from core.errors import RuleBroken
from tests.stream import connected_socket_for, socket_for
from tickets import services
from tickets.models import Status
from tickets.services import change_ticket_status, open_ticket

# Events leave only after a real commit; each test gets its own channel-layer prefix on Redis.
pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("private_channel_layer"),
]


class RolledBack(Exception):
    pass


# --- who may listen ---------------------------------------------------------------------------


async def test_agent_hears_a_ticket_opened_after_it_commits(agent, customer):
    socket = await connected_socket_for(agent)

    ticket = await database_sync_to_async(open_ticket)(
        customer=customer, subject="Parcel never arrived", body="Order 1001", actor=agent
    )

    frame = await socket.receive_json_from(timeout=3)
    assert frame["type"] == "ticket.created"
    assert frame["ticket"]["id"] == ticket.pk
    assert frame["ticket"]["reference"] == ticket.reference
    assert frame["ticket"]["subject"] == "Parcel never arrived"
    assert frame["ticket"]["status"] == Status.NEW
    assert frame["ticket"]["customer"] == customer.pk
    await socket.disconnect()


async def test_every_kind_of_change_reaches_every_listening_agent(
    agent, manager, other_agent, customer, team
):
    sockets = [await connected_socket_for(agent), await connected_socket_for(manager)]

    @database_sync_to_async
    def work_the_ticket():
        ticket = open_ticket(customer=customer, subject="Wrong size", body="Too big", actor=None)
        change_ticket_status(ticket=ticket, new_status=Status.OPEN, actor=agent)
        services.change_ticket_priority(ticket=ticket, priority="high", actor=agent)
        services.assign_ticket(ticket=ticket, assignee=other_agent, actor=agent)
        services.change_ticket_team(ticket=ticket, team=team, actor=agent)
        services.set_ticket_tags(ticket=ticket, tags=["returns"], actor=agent)
        services.post_message(ticket=ticket, author=agent, body="Sending a smaller one.")
        return ticket

    ticket = await work_the_ticket()

    for socket in sockets:
        frames = [await socket.receive_json_from(timeout=3) for _ in range(7)]
        assert [frame["type"] for frame in frames] == [
            "ticket.created",
            "ticket.status_changed",
            "ticket.priority_changed",
            "ticket.assignee_changed",
            "ticket.team_changed",
            "ticket.tags_changed",
            "ticket.message_posted",
        ]
        assert {frame["ticket"]["id"] for frame in frames} == {ticket.pk}
        assert frames[1]["change"] == {"field": "status", "from": "new", "to": "open"}
        assert frames[3]["change"] == {"field": "assignee", "from": None, "to": other_agent.pk}
        assert frames[6]["change"]["sender"] == "agent"
        assert await socket.receive_nothing(timeout=0.2)
        await socket.disconnect()


async def test_a_rolled_back_change_is_never_announced(agent, customer):
    ticket = await database_sync_to_async(open_ticket)(
        customer=customer, subject="Refund", body="Please", actor=agent
    )
    socket = await connected_socket_for(agent)

    @database_sync_to_async
    def change_then_roll_back():
        try:
            with transaction.atomic():
                change_ticket_status(ticket=ticket, new_status=Status.SOLVED, actor=agent)
                raise RolledBack
        except RolledBack:
            pass
        ticket.refresh_from_db()
        assert ticket.status == Status.NEW

    await change_then_roll_back()
    assert await socket.receive_nothing(timeout=0.5)

    # The stream is alive: the next committed change is the first thing the agent hears.
    await database_sync_to_async(change_ticket_status)(
        ticket=ticket, new_status=Status.PENDING, actor=agent
    )
    frame = await socket.receive_json_from(timeout=3)
    assert (frame["type"], frame["change"]["to"]) == ("ticket.status_changed", "pending")
    await socket.disconnect()


async def test_a_refused_rule_is_never_announced(agent, customer):
    ticket = await database_sync_to_async(open_ticket)(
        customer=customer, subject="Refund", body="Please", actor=agent
    )
    socket = await connected_socket_for(agent)

    @database_sync_to_async
    def close_a_new_ticket():
        with pytest.raises(RuleBroken):
            change_ticket_status(ticket=ticket, new_status=Status.CLOSED, actor=agent)

    await close_a_new_ticket()
    assert await socket.receive_nothing(timeout=0.5)
    await socket.disconnect()


async def test_customer_is_refused_with_4403(customer):
    socket = await socket_for(customer.user)
    connected, _ = await socket.connect()
    assert connected  # accepted only to carry the close code to the browser
    assert await socket.receive_output(timeout=3) == {"type": "websocket.close", "code": 4403}


async def test_anonymous_visitor_is_refused_with_4403():
    socket = await socket_for(None)
    connected, _ = await socket.connect()
    assert connected
    assert await socket.receive_output(timeout=3) == {"type": "websocket.close", "code": 4403}


async def test_deactivated_agent_is_refused_with_4403(agent):
    socket = await socket_for(agent)  # signed in while still active
    agent.is_active = False
    await database_sync_to_async(agent.save)(update_fields=["is_active"])
    connected, _ = await socket.connect()
    assert connected
    assert await socket.receive_output(timeout=3) == {"type": "websocket.close", "code": 4403}


async def test_refused_listener_hears_nothing(customer, agent):
    socket = await socket_for(customer.user)
    await socket.connect()
    await socket.receive_output(timeout=3)  # the 4403 close
    await database_sync_to_async(open_ticket)(
        customer=customer, subject="Hello", body="Anyone?", actor=customer.user
    )
    assert await socket.receive_nothing(timeout=0.5)


async def test_page_on_another_origin_is_refused_at_the_handshake(agent):
    socket = await socket_for(agent, origin="https://evil.example")
    connected, _ = await socket.connect()
    assert not connected  # rejected before accept: the browser sees HTTP 403


# --- what the client may say ------------------------------------------------------------------


async def test_ping_gets_pong(agent):
    socket = await connected_socket_for(agent)
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(timeout=3) == {"type": "pong"}
    await socket.disconnect()


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        (json.dumps({"type": "ticket.created"}), "type"),
        (json.dumps(["ping"]), "type"),
        ("{not json", "frame"),
        # Deeper than json.loads can recurse (under the 64 KiB frame cap): refused, not a crash.
        ("[" * 30_000 + "]" * 30_000, "frame"),
    ],
)
async def test_bad_frames_get_an_error_and_the_stream_stays_open(agent, customer, frame, field):
    socket = await connected_socket_for(agent)
    await socket.send_to(text_data=frame)
    error = await socket.receive_json_from(timeout=3)
    assert error["type"] == "error"
    assert error["field"] == field
    assert error["message"]

    await database_sync_to_async(open_ticket)(
        customer=customer, subject="Still there?", body="Yes", actor=agent
    )
    assert (await socket.receive_json_from(timeout=3))["type"] == "ticket.created"
    await socket.disconnect()


async def test_binary_frame_gets_an_error(agent):
    socket = await connected_socket_for(agent)
    await socket.send_to(bytes_data=b"\x00\x01")
    assert await socket.receive_json_from(timeout=3) == {
        "type": "error",
        "field": "frame",
        "message": "Send JSON text frames.",
    }
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(timeout=3) == {"type": "pong"}
    await socket.disconnect()
