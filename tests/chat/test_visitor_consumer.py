"""The shop visitor's chat socket through the real ASGI application (helpdesk.asgi: the
visitor route outside the agents' Origin check, the consumer, the channel layer: in-memory
without REDIS_URL, Redis pub/sub with it)."""

import json

import pytest
from channels.db import database_sync_to_async
from django.core import signing

from chat.models import ChatLine, Conversation
from chat.services import visitor_from_token
from tests.chat.visitors import (
    SHOP,
    announced_line,
    connected_visitor,
    listening_to,
    make_site_async,
    new_visitor_async,
    put_online_async,
    visitor_socket,
)
from tests.stream import close_code, frame_where
from tickets.services import post_message

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("private_channel_layer"),
]


@pytest.fixture
async def site(team, agent):
    site = await make_site_async(team)
    await put_online_async(agent)
    return site


async def send(socket, frame):
    await socket.send_json_to(frame)


async def posted(socket, **match):
    return await frame_where(
        socket,
        lambda f: f["type"] == "message.posted" and all(f.get(k) == v for k, v in match.items()),
    )


async def start_chat(site, body="Where is my parcel?", client_id="c-1"):
    _, token = await new_visitor_async(site)
    socket = await connected_visitor(site, token)
    await send(socket, {"type": "message.send", "client_id": client_id, "body": body})
    first = await posted(socket, client_id=client_id)
    return socket, token, first


# --- who may connect --------------------------------------------------------------------------


async def test_a_socket_without_a_token_is_closed_with_4401(site):
    socket = visitor_socket(site.key, "")
    await socket.connect()
    assert await close_code(socket) == 4401


async def test_a_forged_token_is_closed_with_4401(site):
    _, token = await new_visitor_async(site)
    socket = visitor_socket(site.key, token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    await socket.connect()
    assert await close_code(socket) == 4401


async def test_an_expired_token_is_closed_with_4401(site, settings):
    _, token = await new_visitor_async(site)
    settings.CHAT_VISITOR_TOKEN_MAX_AGE = -1
    socket = visitor_socket(site.key, token)
    await socket.connect()
    assert await close_code(socket) == 4401


async def test_another_sites_token_is_closed_with_4403(site, team):
    other = await make_site_async(team, allowed_origins=[SHOP])
    _, token_of_other_site = await new_visitor_async(other)
    socket = visitor_socket(site.key, token_of_other_site)
    await socket.connect()
    assert await close_code(socket) == 4403


async def test_a_page_on_an_origin_the_site_does_not_allow_is_closed_with_4403(site):
    _, token = await new_visitor_async(site)
    for origin in ["https://evil.example", "http://shop.example", "https://shop.example.evil", ""]:
        socket = visitor_socket(site.key, token, origin=origin)
        await socket.connect()
        assert await close_code(socket) == 4403, origin


async def test_an_unknown_site_key_is_closed_with_4403(site):
    _, token = await new_visitor_async(site)
    socket = visitor_socket("no-such-site", token)
    await socket.connect()
    assert await close_code(socket) == 4403


async def test_the_agent_stream_still_refuses_the_shops_origin(site, agent):
    from tests.stream import socket_for

    socket = await socket_for(agent, origin=SHOP)
    accepted, _ = await socket.connect()
    assert not accepted  # the agents' routes keep the ALLOWED_HOSTS Origin check


async def test_a_token_signed_with_another_salt_is_refused(site):
    visitor, _ = await new_visitor_async(site)
    token = signing.dumps({"v": str(visitor.token_id), "s": site.pk}, salt="something.else")
    socket = visitor_socket(site.key, token)
    await socket.connect()
    assert await close_code(socket) == 4401


# --- stored, then delivered -------------------------------------------------------------------


async def test_a_first_message_opens_a_chat_ticket_and_comes_back_stored(site):
    socket, _, first = await start_chat(site)

    line = await database_sync_to_async(
        lambda: ChatLine.objects.select_related("conversation__ticket", "message").get(
            pk=first["id"]
        )
    )()
    assert first["seq"] == 1
    assert first["sender"] == "customer"
    assert first["body"] == "Where is my parcel?"
    assert line.conversation.ticket.channel == "chat"
    assert line.message.sender == "customer"
    assert line.conversation.state == "offered"  # to the online agent, by routing
    await socket.disconnect()


async def test_a_resend_with_the_same_client_id_returns_the_stored_line(site):
    socket, _, first = await start_chat(site)
    await send(socket, {"type": "message.send", "client_id": "c-2", "body": "Order 1001"})
    second = await posted(socket, client_id="c-2")

    await send(socket, {"type": "message.send", "client_id": "c-2", "body": "Order 1001"})
    again = await posted(socket, client_id="c-2")

    assert again["id"] == second["id"]
    assert again["seq"] == second["seq"] == 2
    count = await database_sync_to_async(
        ChatLine.objects.filter(conversation_id=first["conversation"]).count
    )()
    assert count == 2
    await socket.disconnect()


async def test_a_resend_is_announced_again_to_whoever_missed_the_first_announcement(site):
    # The process that stored a line can die before announcing it; the visitor, never
    # acknowledged, resends, and the other side must get the line then.
    socket, _, first = await start_chat(site)
    await send(socket, {"type": "message.send", "client_id": "c-2", "body": "Order 1001"})
    second = await posted(socket, client_id="c-2")

    # An agent's console that missed the line.
    layer, listener = await listening_to(first["conversation"])
    await send(socket, {"type": "message.send", "client_id": "c-2", "body": "Order 1001"})
    await posted(socket, client_id="c-2")

    event = await announced_line(layer, listener, "c-2")
    assert (event["seq"], event["id"]) == (2, second["id"])
    await socket.disconnect()


async def test_a_visitor_resuming_past_its_own_line_announces_it_again(site):
    # Stored, then the server process died before announcing it or acknowledging it; the
    # visitor reconnects elsewhere and resumes from before it: the agent must get it too.
    socket, token, first = await start_chat(site)
    await send(socket, {"type": "message.send", "client_id": "c-2", "body": "Order 1001"})
    second = await posted(socket, client_id="c-2")
    await socket.disconnect()

    layer, listener = await listening_to(first["conversation"])  # the agent, there all along
    again = await connected_visitor(site, token)
    await send(again, {"type": "resume", "last_seq": first["seq"]})
    await posted(again, client_id="c-2")

    event = await announced_line(layer, listener, "c-2")
    assert (event["seq"], event["id"]) == (2, second["id"])
    await again.disconnect()


async def test_html_is_stored_escaped_and_comes_back_as_typed(site):
    socket, _, first = await start_chat(site, body="<img src=x onerror=alert(1)> hi")
    message_body = await database_sync_to_async(
        lambda: ChatLine.objects.get(pk=first["id"]).message.body
    )()
    assert "<img" not in message_body
    assert first["body"] == "<img src=x onerror=alert(1)> hi"
    await socket.disconnect()


async def test_a_reconnecting_visitor_gets_exactly_what_was_missed(site, agent):
    socket, token, first = await start_chat(site)
    await socket.disconnect()

    conversation = await database_sync_to_async(Conversation.objects.select_related("ticket").get)(
        pk=first["conversation"]
    )
    for text in ["First answer", "Second answer"]:
        await database_sync_to_async(post_message)(
            ticket=conversation.ticket, author=agent, body=text
        )

    socket = await connected_visitor(site, token)
    await send(socket, {"type": "resume", "last_seq": 1})
    snapshot = await frame_where(socket, lambda f: f["type"] == "session.resumed")
    missed = [await posted(socket), await posted(socket)]
    assert snapshot["last_seq"] == 3
    assert [(f["seq"], f["body"], f["sender"]) for f in missed] == [
        (2, "First answer", "agent"),
        (3, "Second answer", "agent"),
    ]
    assert missed[0]["author_name"] == agent.display_name
    assert await socket.receive_nothing(timeout=0.3)
    await socket.disconnect()


# --- one path for every message ---------------------------------------------------------------


async def test_an_agent_reply_over_rest_reaches_the_visitor_and_a_note_never_does(site, agent):
    socket, _, first = await start_chat(site)
    ticket_id = await database_sync_to_async(
        lambda: Conversation.objects.get(pk=first["conversation"]).ticket_id
    )()

    from rest_framework.test import APIClient

    def reply(body, is_internal):
        client = APIClient()
        client.force_authenticate(agent)
        response = client.post(
            f"/api/v1/tickets/{ticket_id}/messages/",
            {"body": body, "is_internal": is_internal},
            format="json",
        )
        assert response.status_code == 201, response.content

    await database_sync_to_async(reply)("Only for agents: refund approved", True)
    await database_sync_to_async(reply)("<p>Your parcel <b>left</b> today.</p>", False)

    frame = await posted(socket, sender="agent")
    assert frame["seq"] == 2
    assert frame["body"] == "Your parcel left today."
    assert await socket.receive_nothing(timeout=0.3)
    lines = await database_sync_to_async(
        lambda: list(
            ChatLine.objects.filter(conversation_id=first["conversation"]).values_list(
                "seq", "sender"
            )
        )
    )()
    assert lines == [(1, "customer"), (2, "agent")]
    await socket.disconnect()


# --- typing, read, end, rating ----------------------------------------------------------------


async def test_typing_and_read_state_reach_the_other_side(site, agent):
    visitor_a, _, first = await start_chat(site)
    conversation = await database_sync_to_async(Conversation.objects.get)(pk=first["conversation"])
    from chat.services import announce_typing, mark_read

    await database_sync_to_async(announce_typing)(
        conversation=conversation, who="agent", name="Alice", typing=True
    )
    typing = await frame_where(visitor_a, lambda f: f["type"] == "typing.changed")
    assert (typing["sender"], typing["name"], typing["typing"]) == ("agent", "Alice", True)

    await database_sync_to_async(mark_read)(conversation=conversation, reader="agent", seq=1)
    read = await frame_where(visitor_a, lambda f: f["type"] == "read.updated")
    assert (read["reader"], read["seq"]) == ("agent", 1)

    await send(visitor_a, {"type": "read", "seq": 1})
    await send(visitor_a, {"type": "typing", "typing": True})
    mine = await frame_where(visitor_a, lambda f: f["type"] == "read.updated")
    assert (mine["reader"], mine["seq"]) == ("customer", 1)
    # The visitor's own typing is not echoed back to them.
    assert await visitor_a.receive_nothing(timeout=0.3)
    stored = await database_sync_to_async(Conversation.objects.get)(pk=conversation.pk)
    assert (stored.visitor_read_seq, stored.agent_read_seq) == (1, 1)
    await visitor_a.disconnect()


async def test_ending_and_rating_a_chat(site):
    socket, _, first = await start_chat(site)
    await send(socket, {"type": "rating", "score": 5})
    early = await frame_where(socket, lambda f: f["type"] == "error")
    assert early["field"] == "score"

    await send(socket, {"type": "end"})
    ended = await frame_where(socket, lambda f: f["type"] == "conversation.ended")
    assert ended["by"] == "customer"
    await send(socket, {"type": "rating", "score": 4, "comment": "Quick!"})
    await frame_where(socket, lambda f: f["type"] == "rating.saved")
    stored = await database_sync_to_async(Conversation.objects.get)(pk=first["conversation"])
    assert (stored.state, stored.rating, stored.rating_comment) == ("ended", 4, "Quick!")
    await socket.disconnect()


async def test_a_transcript_is_emailed_after_commit(site, mailoutbox):
    socket, _, _ = await start_chat(site, body="Transcript me")
    await send(socket, {"type": "transcript", "email": "carol@shop.example"})
    await frame_where(socket, lambda f: f["type"] == "transcript.queued")
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == ["carol@shop.example"]
    assert "Transcript me" in mailoutbox[0].body
    await send(socket, {"type": "transcript", "email": "not an email"})
    refused = await frame_where(socket, lambda f: f["type"] == "error")
    assert refused["field"] == "email"
    await socket.disconnect()


# --- bad input --------------------------------------------------------------------------------


async def test_unreadable_frames_get_error_frames_and_the_socket_stays_open(site):
    _, token = await new_visitor_async(site)
    socket = await connected_visitor(site, token)
    oversized = json.dumps({"type": "message.send", "client_id": "big", "body": "x" * 70_000})
    for text in [
        "not json",
        "[1, 2]",
        "[" * 5000 + "]" * 5000,
        json.dumps({"type": "nope"}),
        oversized,
    ]:
        await socket.send_to(text_data=text)
        frame = await frame_where(socket, lambda f: f["type"] == "error")
        assert frame["message"]
    await send(socket, {"type": "ping"})
    assert (await socket.receive_json_from(timeout=3)) == {"type": "pong"}
    await send(socket, {"type": "typing", "typing": True})
    no_chat = await frame_where(socket, lambda f: f["type"] == "error")
    assert no_chat["code"] == "no_conversation"
    await send(socket, {"type": "message.send", "client_id": "x" * 65, "body": "hi"})
    too_long = await frame_where(socket, lambda f: f["type"] == "error")
    assert too_long["field"] == "client_id"
    await socket.disconnect()


async def test_a_client_that_keeps_sending_garbage_is_closed_with_4400(site):
    _, token = await new_visitor_async(site)
    socket = await connected_visitor(site, token)
    for _ in range(10):
        await socket.send_to(text_data="garbage")
    assert await close_code(socket) == 4400


async def test_too_many_messages_get_an_error_frame_then_4429(site, settings):
    settings.CHAT_MESSAGES_PER_SECOND = 0.001
    settings.CHAT_MESSAGE_BURST = 2
    socket, _, _ = await start_chat(site)
    await send(socket, {"type": "message.send", "client_id": "c-2", "body": "two"})
    await posted(socket, client_id="c-2")
    await send(socket, {"type": "message.send", "client_id": "c-3", "body": "three"})
    limited = await frame_where(socket, lambda f: f["type"] == "error")
    assert limited["code"] == "rate_limited"
    for n in range(4, 8):
        await send(socket, {"type": "message.send", "client_id": f"c-{n}", "body": "more"})
    assert await close_code(socket) == 4429


async def test_too_many_frames_of_any_kind_end_with_4429(site, settings):
    settings.CHAT_FRAMES_PER_SECOND = 0.001
    settings.CHAT_FRAME_BURST = 3
    _, token = await new_visitor_async(site)
    socket = await connected_visitor(site, token)
    for _ in range(8):
        await send(socket, {"type": "ping"})
    assert await close_code(socket) == 4429


async def test_the_token_names_one_visitor(site):
    visitor, token = await new_visitor_async(site)
    found = await database_sync_to_async(visitor_from_token)(site=site, token=token)
    assert found.pk == visitor.pk
