"""The agents' chat console socket through the real ASGI application (Origin check, session
cookie, router, consumer, channel layer: in-memory, or Redis pub/sub with REDIS_URL)."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.testing.websocket import WebsocketCommunicator
from django.contrib.sessions.models import Session

from accounts.models import AgentProfile, Availability, User
from chat import routing_engine
from chat.events import AGENTS_GROUP
from chat.models import AgentChatPresence, ChatLine, ConversationState
from chat.services import post_line
from helpdesk.asgi import application
from tests.chat.routing_support import fresh, make_site, online_agent, waiting_chat
from tests.chat.visitors import announced_line, listening_to
from tests.factories import AgentFactory, TeamFactory
from tests.stream import (
    ORIGIN,
    close_code,
    cookie_of,
    frame_where,
    session_cookie_for,
    signed_in_client,
)
from tickets.events import broadcast
from tickets.rechecks import rechecks

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("private_channel_layer"),
]

PATH = "/ws/chat/agent/"


async def console_for(user, origin=ORIGIN) -> WebsocketCommunicator:
    headers = [(b"origin", origin.encode())]
    if user is not None:
        headers.append((b"cookie", (await session_cookie_for(user)).encode()))
    return WebsocketCommunicator(application, PATH, headers=headers)


async def open_console(user) -> WebsocketCommunicator:
    socket = await console_for(user)
    connected, _ = await socket.connect()
    assert connected
    ready = await frame_where(socket, lambda f: f["type"] == "console.ready")
    assert ready["heartbeat_seconds"] == 10
    return socket


def of_type(kind):
    return lambda frame: frame["type"] == kind


@pytest.fixture
def site(db, team):
    return make_site(team)


# --- who may open it ----------------------------------------------------------------------------


async def test_customers_and_anonymous_visitors_are_refused_with_4403(customer):
    for user in (customer.user, None):
        socket = await console_for(user)
        connected, _ = await socket.connect()
        assert connected  # accepted only to carry the close code
        assert await close_code(socket) == 4403


async def test_a_page_on_another_origin_is_refused_at_the_handshake(agent):
    socket = await console_for(agent, origin="https://evil.example")
    connected, _ = await socket.connect()
    assert not connected


@pytest.mark.parametrize(("availability", "accepting"), [("online", True), ("away", False)])
async def test_opening_the_console_is_a_heartbeat(team, availability, accepting):
    agent = await database_sync_to_async(AgentFactory)(
        username="ann", profile__teams=[team], profile__availability=availability
    )
    socket = await open_console(agent)
    presence = await database_sync_to_async(AgentChatPresence.objects.get)(agent=agent)
    assert presence.last_heartbeat_at is not None
    assert presence.accepting is accepting  # away: present, but taking no chats
    await socket.send_json_to({"type": "heartbeat"})
    await socket.send_json_to({"type": "ping"})
    assert (await socket.receive_json_from(timeout=3))["type"] == "pong"
    await socket.disconnect()


# --- the periodic re-check: one batch for every agent socket of the process --------------------


async def test_the_recheck_closes_consoles_whose_session_ended_or_agent_left(agent, other_agent):
    browser = await signed_in_client(agent)
    signed_out = WebsocketCommunicator(
        application,
        PATH,
        headers=[(b"origin", ORIGIN.encode()), (b"cookie", cookie_of(browser).encode())],
    )
    assert (await signed_out.connect())[0]
    await frame_where(signed_out, of_type("console.ready"))
    demoted = await open_console(other_agent)

    @database_sync_to_async
    def bypass_signals():  # neither a session row's delete nor QuerySet.update tells a socket
        Session.objects.filter(session_key=browser.session.session_key).delete()
        User.objects.filter(pk=other_agent.pk).update(is_active=False)

    await bypass_signals()
    assert await rechecks().recheck_now() == 2
    assert await close_code(signed_out) == 4401
    assert await close_code(demoted) == 4403


async def test_the_recheck_makes_the_console_follow_the_agents_teams(team, agent):
    billing = await database_sync_to_async(TeamFactory)(name="Billing")
    socket = await open_console(agent)

    def billing_queue_changed():
        return database_sync_to_async(broadcast)(
            AGENTS_GROUP, routing_engine.QUEUE_CHANGED, {"teams": [billing.pk]}
        )

    await billing_queue_changed()
    assert await socket.receive_nothing(timeout=0.3)  # another team's queue

    @database_sync_to_async
    def join_billing_quietly():  # the through row alone: no signal tells the socket
        profile = AgentProfile.objects.get(user=agent)
        AgentProfile.teams.through.objects.create(agentprofile=profile, team=billing)

    await join_billing_quietly()
    await rechecks().recheck_now()
    await billing_queue_changed()
    changed = await frame_where(socket, of_type("queue.changed"))
    assert changed["teams"] == [billing.pk]
    await socket.disconnect()


# --- offers, accept, messages -----------------------------------------------------------------


async def test_an_offer_arrives_and_accepting_it_brings_the_customers_lines(team, site):
    agent = await database_sync_to_async(online_agent)(team, username="ann")
    socket = await open_console(agent)

    chat = await database_sync_to_async(waiting_chat)(site, name="Carol")
    offer = await frame_where(socket, of_type("chat.offered"))
    assert offer["conversation"] == chat.pk
    assert offer["customer"] == "Carol"
    assert offer["timeout_seconds"] == 30

    await socket.send_json_to({"type": "accept", "conversation": chat.pk})
    assigned = await frame_where(socket, of_type("conversation.assigned"))
    assert assigned["agent_name"] == agent.display_name
    assert (await database_sync_to_async(fresh)(chat)).state == ConversationState.ACTIVE

    await database_sync_to_async(post_line)(
        conversation=chat, sender_user_or_None=None, body="Where is my parcel?", client_id="c-1"
    )
    line = await frame_where(
        socket, lambda f: f["type"] == "message.posted" and f["sender"] == "customer"
    )
    assert line["body"] == "Where is my parcel?"

    await socket.send_json_to(
        {"type": "message.send", "conversation": chat.pk, "client_id": "a-1", "body": "On its way"}
    )
    stored = await frame_where(socket, of_type("message.stored"))
    mine = await frame_where(
        socket, lambda f: f["type"] == "message.posted" and f["sender"] == "agent"
    )
    assert stored["seq"] == mine["seq"]
    assert mine["author_name"] == agent.display_name

    # A resend after a dropped socket stores nothing twice.
    await socket.send_json_to(
        {"type": "message.send", "conversation": chat.pk, "client_id": "a-1", "body": "On its way"}
    )
    again = await frame_where(socket, of_type("message.stored"))
    assert again["seq"] == stored["seq"]
    count = await database_sync_to_async(
        ChatLine.objects.filter(conversation=chat, client_id="a-1").count
    )()
    assert count == 1

    await socket.send_json_to({"type": "end", "conversation": chat.pk})
    ended = await frame_where(socket, of_type("conversation.ended"))
    assert ended["conversation"] == chat.pk
    await socket.disconnect()


async def test_capacity_is_respected_over_the_socket(team, site):
    agent = await database_sync_to_async(online_agent)(team, username="solo", capacity=1)
    socket = await open_console(agent)
    first = await database_sync_to_async(waiting_chat)(site, name="First")
    await frame_where(socket, of_type("chat.offered"))
    await socket.send_json_to({"type": "accept", "conversation": first.pk})
    await frame_where(socket, of_type("conversation.assigned"))

    second = await database_sync_to_async(waiting_chat)(site, name="Second")
    assert (await database_sync_to_async(fresh)(second)).state == ConversationState.WAITING
    await socket.send_json_to({"type": "accept", "conversation": second.pk})
    error = await frame_where(socket, of_type("error"))
    assert error["field"] == "conversation"
    assert "capacity" in error["message"]
    await socket.disconnect()


async def test_agents_work_only_their_teams_chats_unless_a_manager(site, manager):
    billing = await database_sync_to_async(TeamFactory)(name="Billing")
    outsider = await database_sync_to_async(online_agent)(billing, username="out")
    chat = await database_sync_to_async(waiting_chat)(site, name="Carol")

    socket = await open_console(outsider)
    await socket.send_json_to({"type": "accept", "conversation": chat.pk})
    error = await frame_where(socket, of_type("error"))
    assert error["message"] == f"There is no chat {chat.pk} you can see."
    await socket.send_json_to({"type": "resume", "conversation": chat.pk, "last_seq": 0})
    assert (await frame_where(socket, of_type("error")))["field"] == "conversation"
    await socket.disconnect()

    boss = await open_console(manager)
    await boss.send_json_to({"type": "accept", "conversation": chat.pk})
    await frame_where(boss, of_type("conversation.assigned"))
    assert (await database_sync_to_async(fresh)(chat)).agent_id == manager.pk
    await boss.disconnect()


async def test_an_agent_cannot_write_in_a_chat_they_do_not_hold(team, site):
    holder = await database_sync_to_async(online_agent)(team, username="holder")
    other = await database_sync_to_async(AgentFactory)(
        username="other", profile__teams=[team], profile__availability=Availability.AWAY
    )
    chat = await database_sync_to_async(waiting_chat)(site)
    assert chat.offered_to_id == holder.pk

    socket = await open_console(other)
    await socket.send_json_to(
        {"type": "message.send", "conversation": chat.pk, "client_id": "x", "body": "Hi"}
    )
    error = await frame_where(socket, of_type("error"))
    assert error["message"] == "Accept this chat before writing in it."
    await socket.send_json_to({"type": "accept", "conversation": chat.pk})
    assert "being offered to" in (await frame_where(socket, of_type("error")))["message"]
    await socket.disconnect()


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        ({"type": "accept"}, "conversation"),
        ({"type": "accept", "conversation": "7"}, "conversation"),
        ({"type": "chat.offered"}, "type"),
        ({"type": "typing", "conversation": 2**40}, "conversation"),
    ],
)
async def test_bad_frames_get_an_error_frame_and_the_socket_stays_open(agent, frame, field):
    socket = await open_console(agent)
    await socket.send_json_to(frame)
    error = await frame_where(socket, of_type("error"))
    assert error["field"] == field
    await socket.send_json_to({"type": "ping"})
    assert (await frame_where(socket, of_type("pong")))["type"] == "pong"
    await socket.disconnect()


# --- what waiting visitors hear ---------------------------------------------------------------


async def test_waiting_visitors_hear_their_place_when_the_queue_changes(team, site):
    """queue.updated goes to the conversation's group (which the visitor's socket joins) after
    commit, and only to those whose place changed."""
    from channels.layers import get_channel_layer

    from chat import events

    layer = get_channel_layer()
    standard = await database_sync_to_async(waiting_chat)(site, name="Sam", rank=0)
    ear = await layer.new_channel()
    await layer.group_add(events.conversation_group(standard.pk), ear)

    await database_sync_to_async(waiting_chat)(site, name="Vera", rank=3)  # a VIP goes first

    heard = await layer.receive(ear)
    assert heard["event"]["type"] == "queue.updated"
    assert (heard["event"]["conversation"], heard["event"]["position"]) == (standard.pk, 2)

    await database_sync_to_async(waiting_chat)(site, name="Later", rank=0)  # behind Sam
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            await layer.receive(ear)


async def test_heartbeats_of_a_process_are_written_together(team):
    from chat.consumers.presence import GATHER_SECONDS, heartbeat_gatherer

    names = ("ann", "bo", "cy")
    agents = [await database_sync_to_async(online_agent)(team, username=name) for name in names]
    sockets = [await open_console(agent) for agent in agents]
    for socket in sockets:
        await socket.send_json_to({"type": "heartbeat"})
        await socket.send_json_to({"type": "ping"})
        assert (await socket.receive_json_from(timeout=3))["type"] == "pong"
    await heartbeat_gatherer().drain()

    stamps = await database_sync_to_async(
        lambda: {
            presence.agent.username: presence.last_heartbeat_at
            for presence in AgentChatPresence.objects.select_related("agent")
        }
    )()
    # The first beat is written at once; the two after it wait for the next write, together
    # (one UPDATE: the same moment on both rows).
    assert stamps["bo"] == stamps["cy"]
    assert (stamps["bo"] - stamps["ann"]).total_seconds() >= GATHER_SECONDS * 0.9
    for socket in sockets:
        await socket.disconnect()


async def test_a_console_resuming_past_its_own_line_announces_it_again(team, site):
    # The agent's line was stored, then the server process died before announcing it; the
    # console reconnects and resumes from before it: the visitor must get it too.
    agent = await database_sync_to_async(online_agent)(team, username="ann")
    socket = await open_console(agent)
    chat = await database_sync_to_async(waiting_chat)(site, name="Carol")
    await frame_where(socket, of_type("chat.offered"))
    await socket.send_json_to({"type": "accept", "conversation": chat.pk})
    await frame_where(socket, of_type("conversation.assigned"))
    await socket.send_json_to(
        {"type": "message.send", "conversation": chat.pk, "client_id": "a-1", "body": "Hi!"}
    )
    stored = await frame_where(socket, of_type("message.stored"))
    await socket.disconnect()

    layer, listener = await listening_to(chat.pk)  # the visitor, connected all along
    again = await open_console(agent)
    await again.send_json_to(
        {"type": "resume", "conversation": chat.pk, "last_seq": stored["seq"] - 1}
    )
    event = await announced_line(layer, listener, "a-1")
    assert (event["seq"], event["id"]) == (stored["seq"], stored["id"])
    await again.disconnect()
