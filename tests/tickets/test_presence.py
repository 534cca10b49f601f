"""Collision detection over the agent stream: who has a ticket open and who is typing, through
the real ASGI application (see tickets.presence and docs/events.md)."""

import json

import pytest
from channels.db import database_sync_to_async

from tests.factories import TicketFactory
from tests.stream import close_code, connected_socket_for, frame_where

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("private_channel_layer"),
]


@pytest.fixture
def ticket(db, customer):
    return TicketFactory(customer=customer)


def viewers(*people, typing=()):
    return [
        {"id": person.pk, "name": person.display_name, "typing": person in typing}
        for person in people
    ]


async def presence_of(socket, ticket, timeout: float = 5) -> list[dict]:
    """The viewers in the next presence.changed frame about `ticket`."""
    frame = await frame_where(
        socket,
        lambda f: f["type"] == "presence.changed" and f["ticket"] == ticket.pk,
        timeout,
    )
    return frame["viewers"]


async def test_two_agents_on_one_ticket_see_each_other_type_and_leave(agent, other_agent, ticket):
    alice = await connected_socket_for(agent)
    bob = await connected_socket_for(other_agent)

    await alice.send_json_to({"type": "presence.viewing", "ticket": ticket.pk})
    assert await presence_of(alice, ticket) == viewers(agent)
    assert await presence_of(bob, ticket) == viewers(agent)  # every agent hears; UI filters

    await bob.send_json_to({"type": "presence.viewing", "ticket": ticket.pk})
    for socket in (alice, bob):
        assert await presence_of(socket, ticket) == viewers(agent, other_agent)

    await bob.send_json_to({"type": "presence.typing", "ticket": ticket.pk})
    for socket in (alice, bob):
        assert await presence_of(socket, ticket) == viewers(
            agent, other_agent, typing=[other_agent]
        )
    # Typing again within the typing window changes nothing anyone needs to hear.
    await bob.send_json_to({"type": "presence.typing", "ticket": ticket.pk})
    await bob.send_json_to({"type": "presence.viewing", "ticket": ticket.pk})
    assert await alice.receive_nothing(timeout=0.3)

    await bob.send_json_to({"type": "presence.left", "ticket": ticket.pk})
    for socket in (alice, bob):
        assert await presence_of(socket, ticket) == viewers(agent)
    await alice.disconnect()
    await bob.disconnect()


async def test_a_disconnected_socket_leaves_at_once(agent, other_agent, ticket):
    alice = await connected_socket_for(agent)
    bob = await connected_socket_for(other_agent)
    await bob.send_json_to({"type": "presence.viewing", "ticket": ticket.pk})
    assert await presence_of(alice, ticket) == viewers(other_agent)

    await bob.disconnect()

    assert await presence_of(alice, ticket) == []
    await alice.disconnect()


async def test_a_person_with_two_tabs_is_one_viewer_until_both_close(agent, other_agent, ticket):
    watcher = await connected_socket_for(other_agent)
    first_tab = await connected_socket_for(agent)
    await first_tab.send_json_to({"type": "presence.viewing", "ticket": ticket.pk})
    assert await presence_of(watcher, ticket) == viewers(agent)

    # The second tab changes nothing for the others, but it is told who is there.
    second_tab = await connected_socket_for(agent)
    await second_tab.send_json_to({"type": "presence.viewing", "ticket": ticket.pk})
    await second_tab.send_json_to({"type": "ping"})  # frames are handled in order
    assert await second_tab.receive_json_from(timeout=5) == {
        "type": "presence.changed",
        "ticket": ticket.pk,
        "viewers": viewers(agent),
    }
    assert await second_tab.receive_json_from(timeout=5) == {"type": "pong"}
    await first_tab.disconnect()
    assert await watcher.receive_nothing(timeout=0.3)  # still open in the second tab

    await second_tab.send_json_to({"type": "presence.left", "ticket": ticket.pk})
    assert await presence_of(watcher, ticket) == []
    await second_tab.disconnect()
    await watcher.disconnect()


async def test_viewing_and_typing_lapse_without_new_frames(settings, agent, other_agent, ticket):
    settings.PRESENCE_TTL_SECONDS = 1.0
    settings.PRESENCE_TYPING_SECONDS = 0.3
    watcher = await connected_socket_for(other_agent)
    alice = await connected_socket_for(agent)

    await alice.send_json_to({"type": "presence.typing", "ticket": ticket.pk})
    assert await presence_of(watcher, ticket) == viewers(agent, typing=[agent])
    assert await presence_of(watcher, ticket) == viewers(agent)  # stopped typing
    assert await presence_of(watcher, ticket) == []  # went quiet: the entry lapsed

    await alice.disconnect()
    await watcher.disconnect()


async def test_a_closed_stream_leaves_its_tickets(agent, other_agent, ticket):
    watcher = await connected_socket_for(other_agent)
    alice = await connected_socket_for(agent)
    await alice.send_json_to({"type": "presence.viewing", "ticket": ticket.pk})
    assert await presence_of(watcher, ticket) == viewers(agent)

    @database_sync_to_async
    def deactivate():
        agent.is_active = False
        agent.save(update_fields=["is_active"])

    await deactivate()
    assert await close_code(alice) == 4403
    assert await presence_of(watcher, ticket) == []
    await watcher.disconnect()


async def test_ticket_events_name_who_made_the_change(agent, other_agent, ticket):
    from tickets.services import change_ticket_priority

    watcher = await connected_socket_for(other_agent)
    await database_sync_to_async(change_ticket_priority)(
        ticket=ticket, priority="urgent", actor=agent
    )
    frame = await frame_where(watcher, lambda f: f["type"] == "ticket.priority_changed")
    assert frame["actor"] == {"id": agent.pk, "name": agent.display_name}
    assert frame["ticket"]["updated_at"]
    await watcher.disconnect()


# --- bad frames -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "presence.viewing"},
        {"type": "presence.viewing", "ticket": "12"},
        {"type": "presence.viewing", "ticket": True},
        {"type": "presence.typing", "ticket": 1.5},
        {"type": "presence.typing", "ticket": 0},
        {"type": "presence.left", "ticket": -4},
        {"type": "presence.viewing", "ticket": 2**63},
        {"type": "presence.viewing", "ticket": [1]},
    ],
)
async def test_a_malformed_ticket_id_gets_an_error_and_the_stream_stays_open(agent, frame):
    socket = await connected_socket_for(agent)
    await socket.send_json_to(frame)
    error = await socket.receive_json_from(timeout=5)
    assert (error["type"], error["field"]) == ("error", "ticket")
    assert error["message"]
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(timeout=5) == {"type": "pong"}
    await socket.disconnect()


async def test_an_unknown_ticket_gets_an_error_and_no_presence(agent, other_agent, ticket):
    watcher = await connected_socket_for(other_agent)
    socket = await connected_socket_for(agent)
    await socket.send_json_to({"type": "presence.viewing", "ticket": ticket.pk + 1000})
    error = await socket.receive_json_from(timeout=5)
    assert (error["type"], error["field"]) == ("error", "ticket")
    assert await watcher.receive_nothing(timeout=0.3)
    await socket.disconnect()
    await watcher.disconnect()


async def test_too_many_frames_get_errors_then_a_4429_close(settings, agent):
    settings.STREAM_FRAMES_PER_SECOND = 0.001  # no refill during the test
    settings.STREAM_FRAME_BURST = 3
    socket = await connected_socket_for(agent)
    for _ in range(3):
        await socket.send_json_to({"type": "ping"})
        assert await socket.receive_json_from(timeout=5) == {"type": "pong"}

    for _ in range(3):  # over the limit: refused, and told so
        await socket.send_to(text_data=json.dumps({"type": "ping"}))
        error = await socket.receive_json_from(timeout=5)
        assert (error["type"], error["field"]) == ("error", "frame")

    await socket.send_json_to({"type": "ping"})  # and still going: closed
    assert await close_code(socket) == 4429


async def test_one_stream_views_at_most_twenty_tickets(agent, customer):
    tickets = await database_sync_to_async(TicketFactory.create_batch)(21, customer=customer)
    socket = await connected_socket_for(agent)
    for ticket in tickets[:20]:
        await socket.send_json_to({"type": "presence.viewing", "ticket": ticket.pk})
        assert await presence_of(socket, ticket) == viewers(agent)

    await socket.send_json_to({"type": "presence.viewing", "ticket": tickets[20].pk})
    error = await socket.receive_json_from(timeout=5)
    assert (error["type"], error["field"]) == ("error", "ticket")

    # Leaving one makes room.
    await socket.send_json_to({"type": "presence.left", "ticket": tickets[0].pk})
    assert await presence_of(socket, tickets[0]) == []
    await socket.send_json_to({"type": "presence.viewing", "ticket": tickets[20].pk})
    assert await presence_of(socket, tickets[20]) == viewers(agent)
    await socket.disconnect()


async def test_leaving_a_ticket_never_viewed_changes_nothing(agent, other_agent, ticket):
    watcher = await connected_socket_for(other_agent)
    socket = await connected_socket_for(agent)
    await socket.send_json_to({"type": "presence.left", "ticket": ticket.pk})
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(timeout=5) == {"type": "pong"}
    assert await watcher.receive_nothing(timeout=0.3)
    await socket.disconnect()
    await watcher.disconnect()
