"""The shop visitor's chat socket: `ws/chat/visitor/?site=KEY&token=TOKEN`.

The shop is another origin than the helpdesk, so this route sits outside the Origin check
that guards the agent sockets (helpdesk.asgi) and checks the Origin header itself against the
site's `allowed_origins`. The visitor proves who they are with the signed token the widget
session endpoint gave them (chat.services.tokens); there is no cookie.

Every frame both ways, the close codes and the resume rules are in docs/chat-protocol.md. The
consumer writes no rows and publishes nothing: it calls chat services (which store each line
before it is broadcast) and forwards the conversation group `chat.conv.<id>`.

Delivery: group events wait in this consumer's queue while a frame is being handled, so after
a replay read from the database the live events that follow are filtered by sequence number:
a visitor gets every line once, in order, whether it came live or from the replay.
"""

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from chat import events, routing_engine
from chat.consumers.inbox import OrderedInbox
from chat.models import Conversation, Site, Visitor
from chat.selectors import (
    REPLAY_LIMIT,
    active_site_with_key,
    current_conversation,
    lines_since,
    origin_allowed,
)
from chat.services import (
    TokenRefused,
    announce_typing,
    end_conversation,
    mark_read,
    post_line,
    rate_conversation,
    send_transcript,
    start_conversation,
    visitor_from_token,
)
from core.errors import RuleBroken
from core.parsers import json_depth, max_json_depth
from core.threads import off_the_shared_thread
from tickets.consumers import FrameBudget

logger = logging.getLogger(__name__)

CLOSE_UNREADABLE = 4400  # kept sending frames that are not JSON text
CLOSE_TOKEN = 4401  # missing, forged or expired visitor token
CLOSE_FORBIDDEN = 4403  # origin not allowed, unknown site, another site's token
CLOSE_TOO_MANY_FRAMES = 4429  # kept sending past the rate limit

UNREADABLE_IN_A_ROW = 10
# The run command's --ws-max-size refuses bigger frames already; this holds behind any server.
MAX_FRAME_CHARS = 64 * 1024  # a client that sends nothing readable this many times is closed


@dataclass
class Opened:
    refusal: int | None
    site: Site | None = None
    visitor: Visitor | None = None
    conversation: Conversation | None = None


def header(scope: Any, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key == name:
            return str(value.decode("latin-1"))
    return ""


@off_the_shared_thread
def open_socket(site_key: str, origin: str, token: str) -> Opened:
    site = active_site_with_key(site_key)
    if site is None or not origin_allowed(site, origin):
        return Opened(CLOSE_FORBIDDEN)
    try:
        visitor = visitor_from_token(site=site, token=token)
    except TokenRefused as refused:
        return Opened(refused.code)
    return Opened(None, site, visitor, current_conversation(visitor))


@database_sync_to_async
def replay(conversation: Conversation, seq: int) -> tuple[list[dict[str, Any]], Conversation, int]:
    lines = lines_since(conversation=conversation, seq=seq)
    fresh = Conversation.objects.select_related("ticket", "agent").get(pk=conversation.pk)
    # The place in the queue: its queue.updated was published before this socket joined the
    # conversation's group (a first message), so the snapshot carries it.
    position = routing_engine.queue_position(fresh)
    return [events.line_payload(line) for line in lines], fresh, position


@database_sync_to_async
def lines_between(conversation: Conversation, after: int, through: int) -> list[dict[str, Any]]:
    lines = lines_since(conversation=conversation, seq=after, limit=through - after)
    return [events.line_payload(line) for line in lines if line.seq <= through]


@database_sync_to_async
def post_visitor_line(
    conversation: Conversation, body: Any, client_id: Any
) -> tuple[int, dict[str, Any], Any]:
    """Store the visitor's line and return its number and frame, in one trip to the database
    thread: post_line hands back the line with its message, author and attachments in hand."""
    line = post_line(
        conversation=conversation, sender_user_or_None=None, body=body, client_id=client_id
    )
    return line.seq, events.line_payload(line), events.announced()


def session_snapshot(
    conversation: Conversation, *, more: bool, position: int = 0
) -> dict[str, Any]:
    ticket = conversation.ticket
    return {
        "type": "session.resumed",
        "conversation": conversation.pk,
        "reference": ticket.reference,
        "state": conversation.state,
        "last_seq": conversation.last_seq,
        "agent_name": conversation.agent.display_name if conversation.agent else "",
        "visitor_read_seq": conversation.visitor_read_seq,
        "agent_read_seq": conversation.agent_read_seq,
        "promise": ticket.reply_promise,
        "promised_by": events.iso(ticket.reply_due_at),
        "position": position,
        "more": more,
    }


class VisitorConsumer(OrderedInbox, AsyncJsonWebsocketConsumer):
    """One shop visitor's live chat."""

    async def connect(self) -> None:
        self.ended = False
        self.delivered_seq = 0  # the highest line sequence this socket has been sent
        self.conversation: Conversation | None = None
        self.group: str | None = None
        self.unreadable = 0
        self.frames = FrameBudget(
            float(getattr(settings, "CHAT_FRAMES_PER_SECOND", 10)),
            int(getattr(settings, "CHAT_FRAME_BURST", 30)),
        )
        self.messages = FrameBudget(
            float(getattr(settings, "CHAT_MESSAGES_PER_SECOND", 2)),
            int(getattr(settings, "CHAT_MESSAGE_BURST", 10)),
        )
        query = parse_qs(self.scope.get("query_string", b"").decode("latin-1"))
        site_key = (query.get("site") or [""])[0]
        token = (query.get("token") or [""])[0]
        opened = await open_socket(site_key, header(self.scope, b"origin"), token)
        # Accept, then close with our code: a refusal before accept reaches a browser as a bare
        # 1006, and the widget must tell "get a new token" (4401) from "network down, retry".
        await self.accept()
        if opened.refusal is not None:
            await self.refuse(opened.refusal)
            return
        assert opened.site is not None  # noqa: S101
        assert opened.visitor is not None  # noqa: S101
        self.site, self.visitor = opened.site, opened.visitor
        if opened.conversation is not None:
            await self.join(opened.conversation)

    async def refuse(self, code: int) -> None:
        self.ended = True
        await self.leave()
        await self.close(code=code)

    async def join(self, conversation: Conversation) -> None:
        self.conversation = conversation
        group = events.conversation_group(conversation.pk)
        if group != self.group:
            await self.leave()
            await self.channel_layer.group_add(group, self.channel_name)
            self.group = group

    async def leave(self) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            self.group = None

    async def disconnect(self, code: int) -> None:
        self.ended = True
        await self.leave()

    # --- client frames -------------------------------------------------------------------------

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        if self.ended:
            return
        if not self.frames.take():
            if self.frames.refused_in_a_row > self.frames.burst:
                await self.refuse(CLOSE_TOO_MANY_FRAMES)
            else:
                await self.send_error("rate_limited", "frame", "Too many frames: slow down.")
            return
        content = await self.readable(text_data)
        if content is None:
            return
        self.unreadable = 0
        kind = content.get("type")
        handler = self.HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            await self.send_error("unknown_type", "type", f"Unknown frame type {str(kind)[:40]!r}.")
            return
        try:
            await handler(self, content)
        except RuleBroken as broken:
            await self.send_error("invalid", broken.field, broken.message)
        except Exception:
            # A bug or a database hiccup: the visitor hears of it (and may resend with the same
            # client_id, which is safe) instead of losing the socket.
            logger.exception("Chat frame %r failed", kind)
            await self.send_error("server_error", "frame", "Something went wrong; try again.")

    async def readable(self, text_data: str | None) -> dict[str, Any] | None:
        """The frame as a JSON object, or None after an error frame (4400 if it goes on)."""
        problem = None
        content: Any = None
        if text_data is None:
            problem = "Send JSON text frames."
        elif len(text_data) > MAX_FRAME_CHARS:
            problem = f"A frame is at most {MAX_FRAME_CHARS} characters."
        elif json_depth(text_data) > max_json_depth():
            # json.loads recurses: a deep frame would raise RecursionError (the API's cap).
            problem = "This frame nests too deeply."
        else:
            try:
                content = json.loads(text_data)
            except ValueError:
                problem = "This frame is not valid JSON."
            else:
                if not isinstance(content, dict):
                    problem = 'A frame is a JSON object with a "type".'
        if problem is None:
            return dict(content)
        self.unreadable += 1
        if self.unreadable >= UNREADABLE_IN_A_ROW:
            await self.refuse(CLOSE_UNREADABLE)
        else:
            await self.send_error("invalid_frame", "frame", problem)
        return None

    async def send_error(self, code: str, field: str, message: str) -> None:
        await self.send_json({"type": "error", "code": code, "field": field, "message": message})

    async def require_conversation(self) -> Conversation | None:
        if self.conversation is None:
            await self.send_error(
                "no_conversation", "conversation", "Send a message first to start a chat."
            )
        return self.conversation

    async def on_ping(self, content: dict[str, Any]) -> None:
        await self.send_json({"type": "pong"})

    async def on_resume(self, content: dict[str, Any]) -> None:
        last_seq = content.get("last_seq", 0)
        if type(last_seq) is not int or last_seq < 0:
            raise RuleBroken("last_seq", "Send the last sequence number you saw (0 for none).")
        conversation = await self.require_conversation()
        if conversation is None:
            return
        await self.send_missed(conversation, last_seq)

    async def send_missed(self, conversation: Conversation, after: int) -> None:
        """The snapshot, then every line after `after` (at most REPLAY_LIMIT: `more` says to
        resume again from the last one received)."""
        payloads, fresh, position = await replay(conversation, after)
        self.conversation = fresh
        await self.send_json(
            session_snapshot(fresh, more=len(payloads) >= REPLAY_LIMIT, position=position)
        )
        for payload in payloads:
            await self.send_json({"type": events.MESSAGE_POSTED, **payload})
        last = payloads[-1]["seq"] if payloads else after
        self.delivered_seq = max(self.delivered_seq, last)

    async def on_message_send(self, content: dict[str, Any]) -> None:
        if not self.messages.take():
            if self.messages.refused_in_a_row > self.messages.burst:
                await self.refuse(CLOSE_TOO_MANY_FRAMES)
            else:
                await self.send_error("rate_limited", "body", "Too many messages: slow down.")
            return
        body, client_id = content.get("body", ""), content.get("client_id")
        if self.conversation is None or self.conversation.state == "ended":
            conversation = await database_sync_to_async(start_conversation)(
                site=self.site,
                visitor=self.visitor,
                prechat=content.get("prechat"),
                body=body,
                client_id=client_id,
            )
            before = self.delivered_seq if self.conversation == conversation else 0
            await self.join(conversation)
            # Lines stored before this socket joined the group (the opening line, an offline
            # notice) come from the database.
            self.delivered_seq = before
            await self.send_missed(conversation, before)
            return
        seq, payload, announcing = await post_visitor_line(
            conversation=self.conversation, body=body, client_id=client_id
        )
        # Acknowledged means announced: were this process to die now, the visitor would resend.
        await events.until_announced(announcing)
        if seq <= self.delivered_seq:
            # A resend of a line already stored and sent: acknowledge it again, store nothing.
            await self.send_json({"type": events.MESSAGE_POSTED, **payload})
        elif seq == self.delivered_seq + 1:
            # The acknowledgement; the broadcast copy is then skipped by its sequence number.
            await self.send_json({"type": events.MESSAGE_POSTED, **payload})
            self.delivered_seq = seq
        else:
            # Lines stored just before it whose broadcasts have not arrived yet go first.
            await self.deliver_through(seq)

    async def deliver_through(self, seq: int) -> None:
        """Send, from the database, every line after the last one sent up to `seq`."""
        assert self.conversation is not None  # noqa: S101
        payloads = await lines_between(self.conversation, self.delivered_seq, seq)
        for payload in payloads:
            await self.send_json({"type": events.MESSAGE_POSTED, **payload})
        self.delivered_seq = max(self.delivered_seq, seq)

    async def on_typing(self, content: dict[str, Any]) -> None:
        conversation = await self.require_conversation()
        if conversation is not None:
            await database_sync_to_async(announce_typing)(
                conversation=conversation,
                who="customer",
                name=self.visitor.name,
                typing=content.get("typing"),
            )

    async def on_read(self, content: dict[str, Any]) -> None:
        conversation = await self.require_conversation()
        if conversation is not None:
            await database_sync_to_async(mark_read)(
                conversation=conversation, reader="customer", seq=content.get("seq")
            )

    async def on_end(self, content: dict[str, Any]) -> None:
        conversation = await self.require_conversation()
        if conversation is not None:
            self.conversation = await database_sync_to_async(end_conversation)(
                conversation=conversation, actor=None
            )

    async def on_rating(self, content: dict[str, Any]) -> None:
        conversation = await self.require_conversation()
        if conversation is not None:
            await database_sync_to_async(rate_conversation)(
                conversation=conversation,
                score=content.get("score"),
                comment=content.get("comment", ""),
            )
            await self.send_json(
                {"type": "rating.saved", "conversation": conversation.pk, "score": content["score"]}
            )

    async def on_transcript(self, content: dict[str, Any]) -> None:
        conversation = await self.require_conversation()
        if conversation is not None:
            await database_sync_to_async(send_transcript)(
                conversation=conversation, email=content.get("email")
            )
            await self.send_json({"type": "transcript.queued", "conversation": conversation.pk})

    HANDLERS = {
        "ping": on_ping,
        "resume": on_resume,
        "message.send": on_message_send,
        "typing": on_typing,
        "read": on_read,
        "end": on_end,
        "rating": on_rating,
        "transcript": on_transcript,
    }

    # --- group messages ------------------------------------------------------------------------

    async def relay_event(self, message: dict[str, Any]) -> None:
        """`{"type": "relay.event", "event": {...}}` from the conversation group."""
        if self.ended:
            return
        event = message["event"]
        kind = event.get("type")
        if kind == events.MESSAGE_POSTED:
            seq = event["seq"]
            if seq <= self.delivered_seq:
                return  # already sent (the replay, or this socket's own acknowledgement)
            if seq > self.delivered_seq + 1 and self.conversation is not None:
                # Two lines committed by two server processes may be published out of order:
                # fill the gap from the database, in order.
                await self.deliver_through(seq)
                return
            self.delivered_seq = seq
        elif kind == events.TYPING_CHANGED and event.get("sender") == "customer":
            return  # the visitor's own typing
        elif kind == events.CONVERSATION_ENDED and self.conversation is not None:
            self.conversation.state = "ended"
        await self.send_json(event)
