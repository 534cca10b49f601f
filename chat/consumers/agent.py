"""The agent's chat console socket: `ws/chat/agent/` (docs/chat-protocol.md, "Agent console").

Behind the same two checks as the agent event stream (helpdesk.asgi: the Origin must be one
of ALLOWED_HOSTS, the Django session cookie signs the agent in). Like that stream it accepts
first and then closes with 4403 (not an agent) or 4401 (session ended), so the page can tell
"sign in again" from "the network dropped", and it follows the session afterwards (sign-out,
deactivation and a periodic re-check every STREAM_RECHECK_SECONDS close it; that re-check,
which also follows the agent's teams and role, is one batch for every agent socket of the
process: tickets.rechecks and `console_rechecks` below).

What it does, and nothing more: heartbeats (presence for routing), offers (`chat.offered`),
accept / decline, and for the chats the agent holds: messages, typing, read marks, transfer
and end. Every decision is chat.routing_engine's or a chat service's; the socket writes no
rows and publishes nothing itself. Access: an agent works the chats of their teams (and those
offered or handed to them), a manager any (routing_engine.may_handle); a chat they do not hold
takes no messages from them.

Client frames: ping, heartbeat, accept {conversation}, decline {conversation}, message.send
{conversation, client_id, body}, typing {conversation, typing}, read {conversation, seq},
resume {conversation, last_seq}, transfer {conversation, to_agent | to_team, note},
end {conversation}. Server frames: pong, console.ready, chat.offered, offer.withdrawn,
queue.changed, conversation.assigned / released / transferred / accepted / ended,
message.posted, typing.changed, read.updated, error {code, field, message}.
"""

import json
import logging
from collections.abc import Mapping
from typing import Any, ClassVar

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.db.models import Q

from accounts.live import session_streams_group, user_streams_group
from accounts.models import Team, User
from accounts.selectors import is_agent
from chat import events, routing_engine
from chat.consumers.inbox import OrderedInbox
from chat.consumers.presence import heartbeat_gatherer
from chat.models import Conversation, ConversationState
from chat.selectors import lines_since
from chat.services import announce_typing, end_conversation, mark_read, post_line
from core.errors import RuleBroken
from core.ids import MAX_ID
from core.parsers import json_depth, max_json_depth
from core.threads import off_the_shared_thread
from tickets.consumers import CLOSE_TOO_MANY_FRAMES, FrameBudget
from tickets.rechecks import (
    CLOSE_FORBIDDEN,
    CLOSE_SESSION_ENDED,
    Access,
    Claim,
    ExtraReader,
    rechecks,
    stream_access,
)

logger = logging.getLogger(__name__)

# Frames about a chat the agent holds: they join its group and leave it when it is over.
JOINS = {routing_engine.CONVERSATION_ASSIGNED}
LEAVES = {routing_engine.CONVERSATION_RELEASED, events.CONVERSATION_ENDED}


def _console_state(user: User) -> dict[str, Any]:
    """What a console needs on (re)connect: the chats held, the offers open, the teams. Two
    queries, whatever the number of agents and chats."""
    mine = Conversation.objects.filter(
        Q(agent=user, state=ConversationState.ACTIVE)
        | Q(offered_to=user, state=ConversationState.OFFERED)
    ).values_list("pk", "state")
    held: list[int] = []
    offered: list[int] = []
    for pk, state in mine:
        (held if state == ConversationState.ACTIVE else offered).append(pk)
    return {
        "held": held,
        "offered": offered,
        "teams": sorted(routing_engine.team_ids_of(user)),
        "manager": user.is_manager,
    }


def console_rechecks(agents: list[User]) -> Mapping[int, set[int]]:
    """What the periodic re-check reads for every console of the process at once, by agent:
    their teams (one query per 500 agents). Their role came with the user; the chats they hold
    and are offered are not re-read: the console follows those through its groups."""
    return routing_engine.team_ids_of_agents([agent.pk for agent in agents])


def _beat(user: User) -> None:
    routing_engine.heartbeat(agent=user)
    try:  # the opportunistic sweep: routing never waits for one worker
        routing_engine.sweep_if_due()
    except Exception:
        logger.exception("Chat routing sweep on heartbeat failed")


@off_the_shared_thread
def console_opened(user: User) -> dict[str, Any]:
    """A console (re)connects: a heartbeat and its state, in one trip to a database thread."""
    _beat(user)
    return _console_state(user)


@database_sync_to_async
def agent_teams(user: User) -> set[int]:
    return routing_engine.team_ids_of(user)


@database_sync_to_async
def conversation_for(user: User, conversation_id: int) -> Conversation | None:
    conversation = routing_engine.conversations_for(user).filter(pk=conversation_id).first()
    return conversation if conversation is not None else None


def _holds(user: User, conversation: Conversation) -> bool:
    return conversation.state == ConversationState.ACTIVE and conversation.agent_id == user.pk


@database_sync_to_async
def post(
    user: User, conversation: Conversation, body: Any, client_id: Any
) -> tuple[dict[str, Any], Any]:
    line = post_line(
        conversation=conversation, sender_user_or_None=user, body=body, client_id=client_id
    )
    return {"seq": line.seq, "id": line.pk, "client_id": line.client_id}, events.announced()


@database_sync_to_async
def replay(conversation: Conversation, after: int) -> list[dict[str, Any]]:
    return [events.line_payload(line) for line in lines_since(conversation=conversation, seq=after)]


@database_sync_to_async
def transfer_to(user: User, conversation: Conversation, content: dict[str, Any]) -> None:
    to_agent = to_team = None
    agent_id, team_id = content.get("to_agent"), content.get("to_team")
    if agent_id not in (None, ""):
        if type(agent_id) is not int or not 0 < agent_id <= MAX_ID:
            raise RuleBroken("to_agent", "Send the agent's id as a whole number.")
        to_agent = User.objects.select_related("agent_profile").filter(pk=agent_id).first()
        if to_agent is None or not is_agent(to_agent):
            raise RuleBroken("to_agent", "There is no such agent.")
    if team_id not in (None, ""):
        if type(team_id) is not int or not 0 < team_id <= MAX_ID:
            raise RuleBroken("to_team", "Send the team's id as a whole number.")
        to_team = Team.objects.filter(pk=team_id).first()
        if to_team is None:
            raise RuleBroken("to_team", "There is no such team.")
    note = content.get("note", "")
    if not isinstance(note, str):
        raise RuleBroken("note", "A note is text.")
    routing_engine.transfer(
        conversation=conversation, actor=user, note=note, to_agent=to_agent, to_team=to_team
    )


class AgentChatConsumer(OrderedInbox, AsyncJsonWebsocketConsumer):
    groups: list[str] = []  # joined only once the user is known to be an agent
    recheck_extra: ClassVar[ExtraReader | None] = console_rechecks

    async def connect(self) -> None:
        user = self.scope.get("user")
        session = self.scope.get("session")
        self.session_key: str | None = getattr(session, "session_key", None)
        self.user: User | None = None
        self.ended = False
        self.joined: set[int] = set()
        self.teams: set[int] = set()
        self.manager = False
        self.budget = FrameBudget(
            float(getattr(settings, "STREAM_FRAMES_PER_SECOND", 20)),
            int(getattr(settings, "STREAM_FRAME_BURST", 60)),
        )
        if user is None or not user.is_authenticated or not self.session_key:
            await self.refuse(CLOSE_FORBIDDEN)
            return
        # Subscribe before checking, so a sign-out between the two is not missed.
        groups = [
            events.AGENTS_GROUP,
            events.agent_group(user.pk),
            user_streams_group(user.pk),
            session_streams_group(self.session_key),
        ]
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        self.groups = groups
        access = await stream_access(self.session_key, user.pk)
        if access.refusal is not None or access.user is None:
            await self.refuse(access.refusal or CLOSE_FORBIDDEN)
            return
        self.user = access.user
        await self.accept()
        state = await console_opened(self.user)
        self.teams, self.manager = set(state["teams"]), state["manager"]
        for conversation_id in state["held"]:
            await self.join(conversation_id)
        await self.send_json(
            {
                "type": "console.ready",
                "heartbeat_seconds": routing_engine.heartbeat_seconds(),
                "held": state["held"],
                "offered": state["offered"],
            }
        )
        rechecks().add(self)

    async def refuse(self, code: int) -> None:
        await self.accept()
        await self.end_socket(code)

    async def end_socket(self, code: int) -> None:
        if self.ended:
            return
        self.ended = True
        rechecks().discard(self)
        for group in [*self.groups, *(events.conversation_group(c) for c in self.joined)]:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.groups, self.joined = [], set()
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        self.ended = True
        rechecks().discard(self)
        for conversation_id in list(self.joined):
            await self.channel_layer.group_discard(
                events.conversation_group(conversation_id), self.channel_name
            )
        self.joined = set()

    # --- the access re-check ------------------------------------------------------------------

    def recheck_claim(self) -> Claim | None:
        if self.ended or self.user is None or not self.session_key:
            return None
        return (self.session_key, self.user.pk)

    async def recheck_answered(self, access: Access, extra: Any) -> None:
        """Close, or follow the agent: their name, role and teams as they are now."""
        if access.refusal is not None or access.user is None:
            await self.end_socket(access.refusal or CLOSE_FORBIDDEN)
            return
        self.user = access.user
        self.teams, self.manager = set(extra or ()), access.user.is_manager

    async def recheck(self) -> None:
        """On `stream.recheck` (the user or their profile was saved): at once, for this socket."""
        if self.user is None:
            return
        access = await stream_access(self.session_key, self.user.pk)
        teams = await agent_teams(access.user) if access.user is not None else set()
        rechecks().checked(self)
        await self.recheck_answered(access, teams)

    async def join(self, conversation_id: int) -> None:
        if conversation_id not in self.joined:
            await self.channel_layer.group_add(
                events.conversation_group(conversation_id), self.channel_name
            )
            self.joined.add(conversation_id)

    async def leave(self, conversation_id: int) -> None:
        if conversation_id in self.joined:
            self.joined.discard(conversation_id)
            await self.channel_layer.group_discard(
                events.conversation_group(conversation_id), self.channel_name
            )

    # --- client frames -------------------------------------------------------------------------

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        if self.ended or self.user is None:
            return
        if not self.budget.take():
            if self.budget.refused_in_a_row > self.budget.burst:
                await self.end_socket(CLOSE_TOO_MANY_FRAMES)
            else:
                await self.send_error("rate_limited", "frame", "Too many frames: slow down.")
            return
        if text_data is None:
            await self.send_error("invalid_frame", "frame", "Send JSON text frames.")
            return
        if json_depth(text_data) > max_json_depth():
            await self.send_error("invalid_frame", "frame", "This frame nests too deeply.")
            return
        try:
            content = json.loads(text_data)
        except ValueError:
            await self.send_error("invalid_frame", "frame", "This frame is not valid JSON.")
            return
        kind = content.get("type") if isinstance(content, dict) else None
        handler = self.HANDLERS.get(kind) if isinstance(kind, str) else None
        if handler is None:
            await self.send_error("unknown_type", "type", f"Unknown frame type {str(kind)[:40]!r}.")
            return
        try:
            await handler(self, content)
        except RuleBroken as broken:
            await self.send_error("invalid", broken.field, broken.message)

    async def send_error(self, code: str, field: str, message: str) -> None:
        await self.send_json({"type": "error", "code": code, "field": field, "message": message})

    async def conversation_in(self, content: dict[str, Any]) -> Conversation:
        """The frame's conversation, if this agent may work it (else RuleBroken)."""
        conversation_id = content.get("conversation")
        if type(conversation_id) is not int or not 0 < conversation_id <= MAX_ID:
            raise RuleBroken("conversation", "Send the conversation's id as a whole number.")
        assert self.user is not None  # noqa: S101 - receive() returns early without one
        conversation = await conversation_for(self.user, conversation_id)
        if conversation is None:
            raise RuleBroken("conversation", f"There is no chat {conversation_id} you can see.")
        return conversation

    async def held(self, content: dict[str, Any]) -> Conversation:
        conversation = await self.conversation_in(content)
        assert self.user is not None  # noqa: S101
        if not _holds(self.user, conversation):
            raise RuleBroken("conversation", "Accept this chat before writing in it.")
        return conversation

    async def on_ping(self, content: dict[str, Any]) -> None:
        await self.send_json({"type": "pong"})

    async def on_heartbeat(self, content: dict[str, Any]) -> None:
        assert self.user is not None  # noqa: S101
        heartbeat_gatherer().beat(self.user.pk)  # written with the process's other beats

    async def on_accept(self, content: dict[str, Any]) -> None:
        conversation = await self.conversation_in(content)
        accepted = await database_sync_to_async(routing_engine.accept)(
            conversation=conversation, agent=self.user
        )
        await self.join(accepted.pk)  # before the first visitor line can arrive

    async def on_decline(self, content: dict[str, Any]) -> None:
        conversation = await self.conversation_in(content)
        await database_sync_to_async(routing_engine.decline_or_timeout)(
            conversation=conversation, agent=self.user
        )

    async def on_message_send(self, content: dict[str, Any]) -> None:
        conversation = await self.held(content)
        assert self.user is not None  # noqa: S101
        stored, announcing = await post(
            self.user, conversation, content.get("body"), content.get("client_id")
        )
        await events.until_announced(announcing)  # acknowledged means announced (visitor.py)
        # The line itself arrives through the conversation group (like the visitor's); this
        # acknowledgement lets the console mark its own copy as stored at once.
        await self.send_json({"type": "message.stored", "conversation": conversation.pk, **stored})

    async def on_typing(self, content: dict[str, Any]) -> None:
        conversation = await self.held(content)
        assert self.user is not None  # noqa: S101
        await sync_to_async(announce_typing, thread_sensitive=False)(
            conversation=conversation,
            who="agent",
            name=self.user.display_name,
            typing=content.get("typing"),
        )

    async def on_read(self, content: dict[str, Any]) -> None:
        conversation = await self.held(content)
        await database_sync_to_async(mark_read)(
            conversation=conversation, reader="agent", seq=content.get("seq")
        )

    async def on_resume(self, content: dict[str, Any]) -> None:
        conversation = await self.conversation_in(content)
        last_seq = content.get("last_seq", 0)
        if type(last_seq) is not int or last_seq < 0:
            raise RuleBroken("last_seq", "Send the last sequence number you saw (0 for none).")
        for line in await replay(conversation, last_seq):
            await self.send_json({"type": events.MESSAGE_POSTED, **line})

    async def on_transfer(self, content: dict[str, Any]) -> None:
        conversation = await self.conversation_in(content)
        assert self.user is not None  # noqa: S101
        await transfer_to(self.user, conversation, content)
        await self.leave(conversation.pk)

    async def on_end(self, content: dict[str, Any]) -> None:
        conversation = await self.conversation_in(content)
        assert self.user is not None  # noqa: S101
        if not (_holds(self.user, conversation) or self.user.is_manager):
            raise RuleBroken("conversation", "Only the agent in this chat can end it.")
        await database_sync_to_async(end_conversation)(conversation=conversation, actor=self.user)

    HANDLERS = {
        "ping": on_ping,
        "heartbeat": on_heartbeat,
        "accept": on_accept,
        "decline": on_decline,
        "message.send": on_message_send,
        "typing": on_typing,
        "read": on_read,
        "resume": on_resume,
        "transfer": on_transfer,
        "end": on_end,
    }

    # --- group messages ------------------------------------------------------------------------

    async def relay_event(self, message: dict[str, Any]) -> None:
        """`{"type": "relay.event", "event": {...}}` from the groups this socket is in."""
        if self.ended:
            return
        event = message["event"]
        kind = event.get("type")
        other_teams = not set(event.get("teams") or ()) & self.teams
        if kind == routing_engine.QUEUE_CHANGED and not self.manager and other_teams:
            return  # another team's queue
        if kind == routing_engine.QUEUE_UPDATED:
            return  # the visitor's place in the queue: not the console's business
        if kind in JOINS:
            await self.join(event["conversation"])
        elif kind in LEAVES:
            await self.leave(event["conversation"])
        await self.send_json(event)

    async def stream_session_ended(self, message: dict[str, Any]) -> None:
        await self.end_socket(CLOSE_SESSION_ENDED)

    async def stream_recheck(self, message: dict[str, Any]) -> None:
        if not self.ended:
            await self.recheck()
