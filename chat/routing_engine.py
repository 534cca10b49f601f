"""Routing with a real queue: who gets which live chat, decided in one place under row locks.

Every decision (offer, accept, decline, time-out, transfer, an agent vanishing) runs here,
inside one transaction that has locked what it reads with SELECT ... FOR UPDATE: the presence
rows of the agents it may choose (in agent-id order, always first) and then the conversations
it changes. So two server processes (or two workers, or a worker and a socket) can never hand
one chat to two agents, nor push one agent past their capacity: the second one waits for the
first one's commit and then sees its offer. Waiting chats are taken with SKIP LOCKED: a chat
another process is deciding about right now is its business; the other process takes the next.

The rules
- A chat is routed to its ticket's team (the site's team when the ticket has none; a transfer
  to a team changes the ticket's team, and with it the chat's queue).
- It is offered to an online agent of that team with free capacity. Online: availability
  "online" (accounts.AgentProfile), console open (a heartbeat within
  CHAT_HEARTBEAT_TIMEOUT_SECONDS). Free capacity: AgentProfile.chat_capacity minus active chats
  minus chats offered to them right now. Least busy first; ties go to the longest idle (the
  oldest `last_assigned_at`, never assigned counts as longest), then the lowest id.
- Queue order: higher tiers first (tier_rank, copied from the customer at enqueue), then
  arrival (queued_at). A chat that comes back (its agent vanished, declined, timed out, or
  transferred it) keeps its original queued_at, so it goes back to the FRONT of its tier.
- An offer not accepted within the site's offer_timeout_seconds times out (the worker's sweep
  every 5 s, and any heartbeat, look for it) and the chat goes to the next agent. The agent who
  declined or let it time out is skipped for that chat while another free agent can take it;
  when no one else can, it is offered to them again, but not sooner than one offer time-out
  after their refusal (a one-person team still gets its chats).
- Presence comes from heartbeats (the console sends one every CHAT_HEARTBEAT_SECONDS). An
  agent with none for CHAT_HEARTBEAT_TIMEOUT_SECONDS is marked away (an audit entry by the
  system); their pending offers go back to the front of the queue at once. Their ACTIVE chats
  stay theirs for CHAT_ORPHAN_GRACE_SECONDS more (a reload or a train tunnel should not cost the
  customer their agent); after that they go back to the front of the queue too, and the
  customer is told. The next heartbeat from an agent marked away by the system puts them back
  online; one who chose "Away" themselves stays away.
- Capacity freeing up (a chat ends, an agent comes online, raises their capacity, a chat is
  transferred away) offers the oldest waiting chat at once.

Everything that leaves the process (offers to agents, queue positions to visitors, list
changes to consoles) is broadcast after commit. Every function is idempotent: the worker's
sweep (chat.tasks) may run on many workers at once, and a heartbeat may run the same sweep.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import OperationalError, connection, transaction
from django.db.models import Count, F, Max, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.live import BATCH_SIZE
from accounts.models import AgentProfile, Availability, Team, User
from accounts.selectors import is_agent
from accounts.services import update_agent_profile
from chat import events
from chat.models import (
    AgentChatPresence,
    ChatOffer,
    Conversation,
    ConversationState,
    OfferOutcome,
)
from chat.services.lines import system_line
from core.errors import RuleBroken
from tickets.events import broadcast
from tickets.models import Ticket
from tickets.services import assign_ticket, change_ticket_team, post_message

logger = logging.getLogger(__name__)

WAITING = ConversationState.WAITING
OFFERED = ConversationState.OFFERED
ACTIVE = ConversationState.ACTIVE
QUEUED_STATES = (WAITING, OFFERED)

# Channel-layer groups (docs/chat-protocol.md): chat.events names them. AGENTS_GROUP is every
# open console ("the queue changed, look again"); agent_group(id) one agent's consoles (offers,
# their chats); conversation_group(id) the visitor and the agent of one conversation.
AGENTS_GROUP = events.AGENTS_GROUP
agent_group = events.agent_group
conversation_group = events.conversation_group


# Event types, `<noun>.<past verb>`.
CHAT_OFFERED = "chat.offered"
OFFER_WITHDRAWN = "offer.withdrawn"
QUEUE_CHANGED = "queue.changed"  # to consoles
QUEUE_UPDATED = "queue.updated"  # to a waiting visitor: their position and promise
CONVERSATION_ACCEPTED = "conversation.accepted"
CONVERSATION_ASSIGNED = "conversation.assigned"  # to the agent's consoles
CONVERSATION_RELEASED = "conversation.released"  # to the agent who lost it
CONVERSATION_REQUEUED = "conversation.requeued"  # to the visitor: finding another agent
CONVERSATION_TRANSFERRED = "conversation.transferred"

DEFAULT_HEARTBEAT_SECONDS = 10
DEFAULT_HEARTBEAT_TIMEOUT_SECONDS = 30
DEFAULT_ORPHAN_GRACE_SECONDS = 90
DEFAULT_SWEEP_MIN_SECONDS = 2
DEFAULT_SWEEP_BATCH = 50
NEVER = datetime.min.replace(tzinfo=UTC)
TRANSFER_NOTE_MAX = 2000


def heartbeat_seconds() -> int:
    """How often an open console says it is there."""
    return int(getattr(settings, "CHAT_HEARTBEAT_SECONDS", DEFAULT_HEARTBEAT_SECONDS))


def heartbeat_timeout() -> timedelta:
    """Silence after which an agent's console counts as gone."""
    seconds = getattr(settings, "CHAT_HEARTBEAT_TIMEOUT_SECONDS", DEFAULT_HEARTBEAT_TIMEOUT_SECONDS)
    return timedelta(seconds=int(seconds))


def sweep_batch() -> int:
    """At most this many silent consoles (and as many orphaned chats) per sweep; the next
    sweep, seconds later, takes the rest. A sweep may run on a console's heartbeat, in the
    database thread every socket of that server process shares, so a mass event (a network
    cut, a server restart) must not hold that thread for long."""
    return int(getattr(settings, "CHAT_SWEEP_BATCH", DEFAULT_SWEEP_BATCH))


def orphan_grace() -> timedelta:
    """How much longer a vanished agent keeps their active chats."""
    seconds = getattr(settings, "CHAT_ORPHAN_GRACE_SECONDS", DEFAULT_ORPHAN_GRACE_SECONDS)
    return timedelta(seconds=int(seconds))


T = TypeVar("T")


def _retry_deadlocks(function: Callable[..., T]) -> Callable[..., T]:
    """PostgreSQL breaks a rare lock cycle (say, a ticket change and a routing decision) by
    failing one transaction; routing decisions are safe to run again from the start. Inside a
    caller's transaction there is nothing to retry: the error goes up to the caller."""

    @wraps(function)
    def wrapped(*args: Any, **kwargs: Any) -> T:
        for attempt in range(3):
            if connection.in_atomic_block:
                return function(*args, **kwargs)
            try:
                return function(*args, **kwargs)
            except OperationalError as error:
                code = getattr(getattr(error, "__cause__", None), "sqlstate", None)
                if code not in {"40P01", "40001"} or attempt == 2:
                    raise
                logger.warning("Routing retried after %s", code)
        raise AssertionError("unreachable")

    return wrapped


def _now(now: datetime | None) -> datetime:
    return now if now is not None else timezone.now()


def _iso(moment: datetime | None) -> str | None:
    return DjangoJSONEncoder().default(moment) if moment is not None else None


# --- who is where -------------------------------------------------------------------------------


def _route_team_expression() -> Coalesce:
    return Coalesce("ticket__team", "site__team")


def with_route_team(conversations: QuerySet[Conversation]) -> Any:
    """Conversations annotated with `route_team`: the team whose agents may take them. (Typed
    Any: the type checker cannot follow an annotation made in a helper.)"""
    return conversations.annotate(route_team=_route_team_expression())


def route_team_of(conversation: Conversation) -> int:
    route = getattr(conversation, "route_team", None)
    if route is not None:
        return int(route)
    ticket_team = (
        Conversation.objects.filter(pk=conversation.pk)
        .values_list("ticket__team_id", flat=True)
        .first()
    )
    return int(ticket_team or conversation.site.team_id)


def team_ids_of(user: User) -> set[int]:
    return set(
        AgentProfile.teams.through.objects.filter(agentprofile__user_id=user.pk).values_list(
            "team_id", flat=True
        )
    )


def team_ids_of_agents(user_ids: list[int]) -> dict[int, set[int]]:
    """`team_ids_of` for many agents at once (by user id; an agent in no team is absent), one
    query per `BATCH_SIZE` agents: the periodic re-check of every console of a process."""
    teams: dict[int, set[int]] = {}
    ids = sorted(set(user_ids))
    for start in range(0, len(ids), BATCH_SIZE):
        for user_id, team_id in AgentProfile.teams.through.objects.filter(
            agentprofile__user_id__in=ids[start : start + BATCH_SIZE]
        ).values_list("agentprofile__user_id", "team_id"):
            teams.setdefault(user_id, set()).add(team_id)
    return teams


def may_handle(user: User, conversation: Conversation) -> bool:
    """Agents work the chats of their teams (and the ones offered or given to them); managers
    work any. The one access rule for chats: the console page and socket both ask it."""
    if not is_agent(user):
        return False
    if user.is_manager:
        return True
    if user.pk in {conversation.agent_id, conversation.offered_to_id}:
        return True
    return route_team_of(conversation) in team_ids_of(user)


def conversations_for(user: User) -> QuerySet[Conversation]:
    """Every conversation this person may see in the console (`may_handle`, as a query)."""
    if not is_agent(user):
        return Conversation.objects.none()
    conversations = with_route_team(Conversation.objects.all())
    if user.is_manager:
        return conversations
    teams = AgentProfile.teams.through.objects.filter(agentprofile__user_id=user.pk).values(
        "team_id"
    )
    return conversations.filter(
        Q(route_team__in=teams) | Q(agent_id=user.pk) | Q(offered_to_id=user.pk)
    )


def _online(now: datetime) -> QuerySet[AgentChatPresence]:
    return AgentChatPresence.objects.filter(
        accepting=True,
        last_heartbeat_at__gte=now - heartbeat_timeout(),
        agent__is_active=True,
        agent__agent_profile__availability=Availability.ONLINE,
    )


def _members_of(team_ids: Iterable[int]) -> QuerySet[Any]:
    return AgentProfile.teams.through.objects.filter(team_id__in=list(team_ids)).values(
        "agentprofile__user_id"
    )


def is_routable(agent: User, *, now: datetime | None = None) -> bool:
    """Would routing offer this agent a chat now (capacity aside)?"""
    return _online(_now(now)).filter(agent=agent).exists()


def chat_loads(agent_ids: Iterable[int]) -> dict[int, int]:
    """Active plus offered chats per agent: what counts against their capacity."""
    ids = list(agent_ids)
    load: dict[int, int] = dict.fromkeys(ids, 0)
    active = (
        Conversation.objects.filter(agent_id__in=ids, state=ACTIVE)
        .values("agent_id")
        .annotate(n=Count("id"))
    )
    offered = (
        Conversation.objects.filter(offered_to_id__in=ids, state=OFFERED)
        .values("offered_to_id")
        .annotate(n=Count("id"))
    )
    for row in active:
        load[row["agent_id"]] += row["n"]
    for offer in offered:
        load[offer["offered_to_id"]] += offer["n"]
    return load


def _load_expression() -> Any:
    """A presence row's agent's active plus offered chats, as SQL (what chat_loads counts)."""

    def count(**match: Any) -> Coalesce:
        rows = (
            Conversation.objects.filter(**match)
            .order_by()
            .values(*match)
            .annotate(n=Count("id"))
            .values("n")
        )
        return Coalesce(Subquery(rows[:1]), Value(0))

    active = count(agent_id=OuterRef("agent_id"), state=ACTIVE)
    offered = count(offered_to_id=OuterRef("agent_id"), state=OFFERED)
    return active + offered


def _lock_ticket_of(conversation: Conversation) -> None:
    """Chat services lock a chat's ticket before its conversation (post_line, end); routing
    takes the same order wherever it writes both, so the two never wait on each other."""
    Ticket.objects.select_for_update().filter(
        pk=Conversation.objects.filter(pk=conversation.pk).values("ticket_id")[:1]
    ).first()


def _locked_presence(agent: User) -> AgentChatPresence:
    presence = AgentChatPresence.objects.select_for_update().filter(agent=agent).first()
    if presence is not None:
        return presence
    AgentChatPresence.objects.get_or_create(agent=agent)  # its own savepoint on a race
    return AgentChatPresence.objects.select_for_update().get(agent=agent)


def _count_active(agent_id: int) -> int:
    return Conversation.objects.filter(agent_id=agent_id, state=ACTIVE).count()


def _refresh_active_count(agent_id: int | None) -> None:
    if agent_id is not None:
        AgentChatPresence.objects.filter(agent_id=agent_id).update(
            active_chats=_count_active(agent_id)
        )


# --- the queue ----------------------------------------------------------------------------------


def queue_order() -> list[Any]:
    return [F("tier_rank").desc(), F("queued_at").asc(nulls_last=True), "id"]


def queue_position(conversation: Conversation) -> int:
    """1 for the next chat to be answered in its team's queue; 0 once it is no longer queued."""
    conversation = with_route_team(Conversation.objects.filter(pk=conversation.pk)).get()
    if conversation.state not in QUEUED_STATES:
        return 0
    same_rank = Q(tier_rank=conversation.tier_rank)
    earlier = Q(queued_at__lt=conversation.queued_at) | Q(
        queued_at=conversation.queued_at, id__lt=conversation.pk
    )
    ahead = (
        with_route_team(Conversation.objects.filter(state__in=QUEUED_STATES))
        .filter(route_team=conversation.route_team)  # type: ignore[attr-defined]
        .filter(Q(tier_rank__gt=conversation.tier_rank) | (same_rank & earlier))
        .count()
    )
    return ahead + 1


def _position_key(conversation_id: int) -> str:
    return f"chat.queue.position.{conversation_id}"


def announce_queue(team_ids: Iterable[int]) -> None:
    """Tell each waiting visitor of these teams their new place (only those whose place
    changed since they were last told), and every console that the queue changed. Runs after
    commit; a broken channel layer or cache is logged, never raised (the next change repeats
    it, and the widget asks for its place when it reconnects)."""
    teams = sorted(set(team_ids))
    if not teams:
        return
    try:
        rows = list(
            with_route_team(Conversation.objects.filter(state__in=QUEUED_STATES))
            .filter(route_team__in=teams)
            .order_by("route_team", *queue_order())
            .values_list("id", "route_team", "ticket__reply_due_at", "ticket__reply_promise")
        )
        places: dict[int, tuple[int, datetime | None, str]] = {}
        counter: dict[int, int] = defaultdict(int)
        for conversation_id, team_id, due, promise in rows:
            counter[team_id] += 1
            places[conversation_id] = (counter[team_id], due, promise or "")
        told = cache.get_many([_position_key(pk) for pk in places])
        changed = {}
        for pk, (position, due, promise) in places.items():
            if told.get(_position_key(pk)) != position:
                changed[_position_key(pk)] = position
                broadcast(
                    conversation_group(pk),
                    QUEUE_UPDATED,
                    {
                        "conversation": pk,
                        "position": position,
                        "promised_by": _iso(due),
                        "promise": promise,
                    },
                )
        if changed:
            cache.set_many(changed, timeout=3600)
    except Exception:
        logger.exception("Could not announce queue positions")
    broadcast(AGENTS_GROUP, QUEUE_CHANGED, {"teams": teams})


def _announce_on_commit(team_ids: Iterable[int]) -> None:
    teams = set(team_ids)
    transaction.on_commit(lambda: announce_queue(teams))


def _offer_payload(conversation: Conversation, offer: ChatOffer) -> dict[str, Any]:
    ticket = conversation.ticket
    customer = ticket.customer
    return {
        "conversation": conversation.pk,
        "ticket": ticket.pk,
        "reference": ticket.reference,
        "subject": ticket.subject,
        "customer": customer.name,
        "tier": customer.tier.name if customer.tier_id else "",
        "site": conversation.site.name,
        "topic": conversation.topic,
        "offered_at": _iso(offer.offered_at),
        "expires_at": _iso(offer.expires_at),
        "timeout_seconds": conversation.site.offer_timeout_seconds,
    }


# --- offering -----------------------------------------------------------------------------------


@dataclass
class _Agent:
    id: int
    capacity: int
    load: int
    last_assigned_at: datetime | None
    teams: set[int]
    presence: AgentChatPresence

    @property
    def free(self) -> int:
        return self.capacity - self.load

    def rank(self) -> tuple[int, datetime, int]:
        return (self.load, self.last_assigned_at or NEVER, self.id)


def _lock_free_agents(now: datetime, team_ids: set[int] | None) -> list[_Agent]:
    """Lock the presence rows of the online agents (of these teams) and return those with free
    capacity. Locked in agent-id order, the one order every routing transaction uses."""
    online = _online(now)
    if team_ids is not None:
        online = online.filter(agent_id__in=_members_of(team_ids))
    # Only those with room, judged before locking (from the indexed counts), so a floor of busy
    # agents costs no row locks; their load is counted again under the lock below.
    online = online.annotate(load=_load_expression()).filter(
        load__lt=F("agent__agent_profile__chat_capacity")
    )
    presences = list(
        online.select_for_update(of=("self",))
        .select_related("agent__agent_profile")
        .order_by("agent_id")
    )
    if not presences:
        return []
    ids = [presence.agent_id for presence in presences]
    loads = chat_loads(ids)
    teams: dict[int, set[int]] = defaultdict(set)
    memberships = AgentProfile.teams.through.objects.filter(
        agentprofile__user_id__in=ids
    ).values_list("agentprofile__user_id", "team_id")
    for agent_id, team_id in memberships:
        teams[agent_id].add(team_id)
    agents = [
        _Agent(
            id=presence.agent_id,
            capacity=presence.agent.agent_profile.chat_capacity,
            load=loads[presence.agent_id],
            last_assigned_at=presence.last_assigned_at,
            teams=teams[presence.agent_id],
            presence=presence,
        )
        for presence in presences
    ]
    return [agent for agent in agents if agent.free > 0]


def _anyone_waiting(team_ids: set[int] | None) -> bool:
    """Is any chat waiting (in these teams)? One probe of the queue index, no locks."""
    waiting = Conversation.objects.filter(state=WAITING)
    if team_ids is not None:
        waiting = with_route_team(waiting).filter(route_team__in=list(team_ids))
    return waiting.exists()


def _refusals(conversation_ids: list[int]) -> dict[int, dict[int, datetime]]:
    """Per chat, who declined it or let it time out, and when they last did."""
    rows = (
        ChatOffer.objects.filter(
            conversation_id__in=conversation_ids,
            outcome__in=[OfferOutcome.DECLINED, OfferOutcome.TIMED_OUT],
        )
        .values("conversation_id", "agent_id")
        .annotate(last=Max("answered_at"))
    )
    refused: dict[int, dict[int, datetime]] = defaultdict(dict)
    for row in rows:
        refused[row["conversation_id"]][row["agent_id"]] = row["last"] or NEVER
    return refused


def _choose(
    conversation: Conversation, agents: list[_Agent], refused: dict[int, datetime], now: datetime
) -> _Agent | None:
    team = conversation.route_team  # type: ignore[attr-defined]
    able = [agent for agent in agents if agent.free > 0 and team in agent.teams]
    fresh = [agent for agent in able if agent.id not in refused]
    if not fresh:
        # Nobody else can take it: the ones who refused get it again, one time-out later.
        rest = timedelta(seconds=conversation.site.offer_timeout_seconds)
        fresh = [agent for agent in able if refused[agent.id] <= now - rest]
    return min(fresh, key=_Agent.rank) if fresh else None


def _make_offer(conversation: Conversation, agent: _Agent, now: datetime) -> ChatOffer:
    timeout = timedelta(seconds=conversation.site.offer_timeout_seconds)
    conversation.state = OFFERED
    conversation.offered_to_id = agent.id
    conversation.offered_at = now
    conversation.save(update_fields=["state", "offered_to", "offered_at"])
    offer = ChatOffer.objects.create(
        conversation=conversation, agent_id=agent.id, offered_at=now, expires_at=now + timeout
    )
    agent.load += 1
    agent.last_assigned_at = now
    agent.presence.last_assigned_at = now
    agent.presence.save(update_fields=["last_assigned_at"])
    payload = _offer_payload(conversation, offer)
    transaction.on_commit(lambda: broadcast(agent_group(agent.id), CHAT_OFFERED, payload))
    return offer


@_retry_deadlocks
def offer_next(
    *, now: datetime | None = None, team_ids: Iterable[int] | None = None
) -> list[Conversation]:
    """Hand waiting chats to free agents (of these teams; all teams when None), in queue order,
    and return the chats offered. Safe to call any time from anywhere: with nothing to do, it
    reads two small index ranges and returns."""
    now = _now(now)
    teams = set(team_ids) if team_ids is not None else None
    offered: list[Conversation] = []
    if not _anyone_waiting(teams):
        # The usual answer for heartbeats, sweeps and consoles coming back: no presence row is
        # locked, so a crowd of consoles does not queue behind each other here. A chat that
        # starts waiting after this read is offered by its own enqueue (which sees this
        # agent's committed presence) or by the next sweep.
        return []
    with transaction.atomic():
        agents = _lock_free_agents(now, teams)
        if not agents:
            return []
        reachable = set().union(*(agent.teams for agent in agents))
        if teams is not None:
            reachable &= teams
        slots = sum(agent.free for agent in agents)
        waiting = list(
            with_route_team(Conversation.objects.filter(state=WAITING))
            .filter(route_team__in=reachable)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("site", "ticket__customer__tier")
            .order_by(*queue_order())[: slots + 50]  # + some a refusal may skip
        )
        refused = _refusals([conversation.pk for conversation in waiting])
        for conversation in waiting:
            if slots <= 0:
                break
            agent = _choose(conversation, agents, refused[conversation.pk], now)
            if agent is None:
                continue
            _make_offer(conversation, agent, now)
            slots -= 1
            offered.append(conversation)
        if offered:
            _announce_on_commit(reachable)
    return offered


def enqueue(conversation: Conversation, *, now: datetime | None = None) -> Conversation:
    """Put a new chat in its team's queue (tier from its customer) and offer it at once if an
    agent is free. Idempotent: a chat already queued keeps its place."""
    now = _now(now)
    with transaction.atomic():
        conversation = (
            Conversation.objects.select_for_update(of=("self",))
            .select_related("ticket__customer__tier", "site")
            .get(pk=conversation.pk)
        )
        if conversation.state != WAITING:
            return conversation
        if conversation.queued_at is None:
            tier = conversation.ticket.customer.tier
            conversation.tier_rank = tier.rank if tier is not None else 0
            conversation.queued_at = now
            conversation.save(update_fields=["tier_rank", "queued_at"])
        team = route_team_of(conversation)
        _announce_on_commit({team})
    offer_next(now=now, team_ids={team})
    conversation.refresh_from_db()
    return conversation


# --- answering an offer -------------------------------------------------------------------------


def _close_pending_offer(conversation: Conversation, outcome: str, now: datetime) -> int | None:
    """Mark the chat's open offer answered; returns the agent it was offered to."""
    pending = ChatOffer.objects.filter(conversation=conversation, outcome=OfferOutcome.PENDING)
    offer = pending.first()
    if offer is None:
        return None
    offer.outcome = outcome
    offer.answered_at = now
    offer.save(update_fields=["outcome", "answered_at"])
    return offer.agent_id


def _tell_withdrawn(agent_id: int | None, conversation: Conversation, reason: str) -> None:
    if agent_id is None:
        return
    payload = {"conversation": conversation.pk, "reason": reason}
    transaction.on_commit(lambda: broadcast(agent_group(agent_id), OFFER_WITHDRAWN, payload))


@_retry_deadlocks
def accept(*, conversation: Conversation, agent: User, now: datetime | None = None) -> Conversation:
    """The agent takes the chat: the one offered to them, or a waiting one from the list.
    Refused (RuleBroken on "conversation") when it is not theirs to take or they are full."""
    now = _now(now)
    with transaction.atomic():
        if not is_agent(agent):
            raise RuleBroken("conversation", "Only agents answer chats.")
        presence = _locked_presence(agent)
        _lock_ticket_of(conversation)
        conversation = (
            with_route_team(Conversation.objects.select_for_update(of=("self",)))
            .select_related("ticket", "site", "offered_to")
            .get(pk=conversation.pk)
        )
        if conversation.state == ACTIVE and conversation.agent_id == agent.pk:
            return conversation  # a double click, or two tabs
        if not may_handle(agent, conversation):
            raise RuleBroken("conversation", "This chat belongs to another team.")
        if conversation.state == OFFERED and conversation.offered_to_id != agent.pk:
            name = conversation.offered_to.display_name if conversation.offered_to else "someone"
            raise RuleBroken("conversation", f"This chat is being offered to {name}.")
        if conversation.state not in QUEUED_STATES:
            raise RuleBroken("conversation", "This chat is no longer waiting for an agent.")
        load = chat_loads([agent.pk])[agent.pk]
        if conversation.state == OFFERED:
            load -= 1  # the offer in hand already counts
        capacity = agent.agent_profile.chat_capacity
        if load >= capacity:
            raise RuleBroken(
                "conversation",
                f"You are at your chat capacity ({capacity}); end a chat before taking another.",
            )
        _close_pending_offer(conversation, OfferOutcome.ACCEPTED, now)
        conversation.state = ACTIVE
        conversation.agent = agent
        conversation.accepted_at = now
        conversation.offered_to = None
        conversation.save(update_fields=["state", "agent", "offered_to", "accepted_at"])
        presence.active_chats = _count_active(agent.pk)
        presence.last_assigned_at = now
        presence.save(update_fields=["active_chats", "last_assigned_at"])
        assign_ticket(ticket=conversation.ticket, assignee=agent, actor=agent)
        system_line(conversation=conversation, body=f"{agent.display_name} joined the chat.")
        accepted = {
            "conversation": conversation.pk,
            "agent_name": agent.display_name,
            "accepted_at": _iso(now),
        }
        transaction.on_commit(
            lambda: broadcast(conversation_group(conversation.pk), CONVERSATION_ACCEPTED, accepted)
        )
        transaction.on_commit(
            lambda: broadcast(agent_group(agent.pk), CONVERSATION_ASSIGNED, accepted)
        )
        _announce_on_commit({conversation.route_team})  # type: ignore[attr-defined]
    return conversation


@_retry_deadlocks
def decline_or_timeout(
    *, conversation: Conversation, agent: User | None = None, now: datetime | None = None
) -> Conversation:
    """With `agent`: they decline the chat offered to them. Without: the offer's time is up
    (nothing happens if it is not). Either way the chat goes to the next agent, skipping this
    one. Idempotent: a chat no longer offered is left as it is."""
    now = _now(now)
    with transaction.atomic():
        conversation = (
            with_route_team(Conversation.objects.select_for_update(of=("self",)))
            .select_related("site")
            .get(pk=conversation.pk)
        )
        if conversation.state != OFFERED:
            if agent is not None and conversation.offered_to_id not in (None, agent.pk):
                raise RuleBroken("conversation", "This chat is not offered to you.")
            return conversation
        if agent is not None and conversation.offered_to_id != agent.pk:
            raise RuleBroken("conversation", "This chat is not offered to you.")
        if agent is None:
            due = ChatOffer.objects.filter(
                conversation=conversation, outcome=OfferOutcome.PENDING, expires_at__gt=now
            )
            if due.exists():
                return conversation  # not yet
        outcome = OfferOutcome.DECLINED if agent is not None else OfferOutcome.TIMED_OUT
        offered_to = _close_pending_offer(conversation, outcome, now) or conversation.offered_to_id
        conversation.state = WAITING
        conversation.offered_to = None
        conversation.offered_at = None
        conversation.save(update_fields=["state", "offered_to", "offered_at"])
        _tell_withdrawn(offered_to, conversation, outcome)
        team = conversation.route_team  # type: ignore[attr-defined]
        _announce_on_commit({team})
    offer_next(now=now, team_ids={team})
    conversation.refresh_from_db()
    return conversation


def expire_offers(*, now: datetime | None = None) -> int:
    """Time out every offer past its site's time-out; returns how many."""
    now = _now(now)
    due = list(
        ChatOffer.objects.filter(outcome=OfferOutcome.PENDING, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("conversation_id", flat=True)[:500]
    )
    for conversation_id in due:
        decline_or_timeout(conversation=Conversation(pk=conversation_id), now=now)
    return len(due)


# --- presence -----------------------------------------------------------------------------------


@_retry_deadlocks
def heartbeat(*, agent: User, now: datetime | None = None) -> None:
    """The agent's console is open. The first heartbeat after a silence makes them routable
    again (and undoes an away the system set), and offers them waiting chats at once.

    A console that is already known to be there (a heartbeat within the time-out, not marked
    away by the system) only moves its timestamp: one UPDATE, no lock held past it, nothing
    read about other agents. A thousand consoles beat every CHAT_HEARTBEAT_SECONDS, so this
    is the path that must stay cheap; availability changes reach `accepting` through
    availability_changed, not through here."""
    now = _now(now)
    still_there = AgentChatPresence.objects.filter(
        agent=agent, last_heartbeat_at__gte=now - heartbeat_timeout(), away_by_timeout=False
    ).update(last_heartbeat_at=now)
    if still_there:
        return
    with transaction.atomic():
        presence = _locked_presence(agent)
        fresh = (
            presence.last_heartbeat_at is not None
            and presence.last_heartbeat_at >= now - heartbeat_timeout()
        )
        was_routable = presence.accepting and fresh
        profile = AgentProfile.objects.get(user=agent)
        if presence.away_by_timeout and profile.availability == Availability.AWAY:
            update_agent_profile(
                agent=agent, actor=None, changes={"availability": Availability.ONLINE}
            )
            profile.availability = Availability.ONLINE
        presence.last_heartbeat_at = now
        # `accepting`: online AND the console is there; what chat.selectors.agents_available
        # (is anyone there to queue for?) reads too.
        presence.accepting = profile.availability == Availability.ONLINE
        presence.away_by_timeout = False
        presence.save(update_fields=["last_heartbeat_at", "accepting", "away_by_timeout"])
        was_routable = was_routable or not presence.accepting  # nothing new to offer
    if not was_routable:
        offer_next(now=now, team_ids=team_ids_of(agent))


@_retry_deadlocks
def heartbeats(*, agent_ids: Collection[int], now: datetime | None = None) -> None:
    """Many consoles' heartbeats at once (what one server process gathered for a moment,
    chat.consumers.presence). Those known to be there move their timestamps in one UPDATE, as
    `heartbeat` does for one; any other (back after a silence, or never seen) goes through
    `heartbeat`, which makes it routable again and offers it waiting chats."""
    now = _now(now)
    ids = set(agent_ids)
    if not ids:
        return
    fresh = AgentChatPresence.objects.filter(
        agent_id__in=ids, last_heartbeat_at__gte=now - heartbeat_timeout(), away_by_timeout=False
    )
    if fresh.update(last_heartbeat_at=now) == len(ids):
        return
    done = set(
        AgentChatPresence.objects.filter(agent_id__in=ids, last_heartbeat_at=now).values_list(
            "agent_id", flat=True
        )
    )
    for agent in User.objects.filter(pk__in=ids - done).order_by("pk"):
        heartbeat(agent=agent, now=now)


def _withdraw_offers_of(agent_ids: list[int], now: datetime, reason: str) -> set[int]:
    """Offers pending with these agents go back to the queue (keeping their place); returns
    the teams whose queues changed."""
    conversations = list(
        with_route_team(Conversation.objects.filter(state=OFFERED, offered_to_id__in=agent_ids))
        .select_for_update(of=("self",))
        .order_by("id")
    )
    teams: set[int] = set()
    for conversation in conversations:
        offered_to = _close_pending_offer(conversation, OfferOutcome.WITHDRAWN, now)
        _tell_withdrawn(offered_to or conversation.offered_to_id, conversation, reason)
        conversation.state = WAITING
        conversation.offered_to = None
        conversation.offered_at = None
        conversation.save(update_fields=["state", "offered_to", "offered_at"])
        teams.add(conversation.route_team)
    return teams


@_retry_deadlocks
def mark_away_stale_agents(*, now: datetime | None = None) -> list[int]:
    """Agents whose console went quiet: no longer routable, marked away (if they were online),
    their pending offers back to the front of the queue. Returns their ids."""
    now = _now(now)
    with transaction.atomic():
        stale = list(
            AgentChatPresence.objects.filter(
                accepting=True, last_heartbeat_at__lt=now - heartbeat_timeout()
            )
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("agent__agent_profile")
            .order_by("agent_id")[: sweep_batch()]
        )
        if not stale:
            return []
        for presence in stale:
            presence.accepting = False
            if presence.agent.agent_profile.availability == Availability.ONLINE:
                presence.away_by_timeout = True
                update_agent_profile(
                    agent=presence.agent, actor=None, changes={"availability": Availability.AWAY}
                )
            presence.save(update_fields=["accepting", "away_by_timeout"])
        ids = [presence.agent_id for presence in stale]
        teams = _withdraw_offers_of(ids, now, "away")
        _announce_on_commit(teams)
    if teams:
        offer_next(now=now, team_ids=teams)
    return ids


@_retry_deadlocks
def requeue_orphaned_chats(*, now: datetime | None = None) -> list[int]:
    """Active chats whose agent vanished more than the grace period ago go back to the front of
    the queue; returns their ids."""
    now = _now(now)
    cutoff = now - heartbeat_timeout() - orphan_grace()
    with transaction.atomic():
        orphans = list(
            with_route_team(
                Conversation.objects.filter(
                    state=ACTIVE,
                    agent__chat_presence__accepting=False,
                    agent__chat_presence__last_heartbeat_at__lt=cutoff,
                )
            )
            .select_for_update(skip_locked=True, of=("self",))
            .order_by("id")[: sweep_batch()]
        )
        teams: set[int] = set()
        for conversation in orphans:
            previous = conversation.agent_id
            conversation.state = WAITING
            conversation.agent = None
            conversation.accepted_at = None
            conversation.save(update_fields=["state", "agent", "accepted_at"])
            _refresh_active_count(previous)
            teams.add(conversation.route_team)
            system_line(
                conversation=conversation,
                body="Your agent lost their connection; we are finding you another one.",
            )
            released = {"conversation": conversation.pk, "reason": "disconnected"}
            group = conversation_group(conversation.pk)
            transaction.on_commit(
                lambda g=group, r=released: broadcast(g, CONVERSATION_REQUEUED, r)  # type: ignore[misc]
            )
            if previous is not None:
                transaction.on_commit(
                    lambda a=previous, r=released: broadcast(  # type: ignore[misc]
                        agent_group(a), CONVERSATION_RELEASED, r
                    )
                )
        _announce_on_commit(teams)
    if teams:
        offer_next(now=now, team_ids=teams)
    return [conversation.pk for conversation in orphans]


def availability_changed(*, agent: User, now: datetime | None = None) -> None:
    """The agent went online (offer them chats), or away / offline by their own choice (their
    pending offers go back to the queue; active chats stay theirs). Also after their capacity
    changed. Called after commit by chat.receivers."""
    now = _now(now)
    profile = AgentProfile.objects.filter(user=agent).first()
    if profile is None:
        return
    if profile.availability != Availability.ONLINE or not agent.is_active:
        with transaction.atomic():
            AgentChatPresence.objects.filter(agent=agent).update(accepting=False)
            AgentChatPresence.objects.filter(agent=agent, away_by_timeout=True).exclude(
                agent__agent_profile__availability=Availability.AWAY
            ).update(away_by_timeout=False)
            teams = _withdraw_offers_of([agent.pk], now, "away")
            _announce_on_commit(teams)
        if teams:
            offer_next(now=now, team_ids=teams)
        return
    AgentChatPresence.objects.filter(
        agent=agent, last_heartbeat_at__gte=now - heartbeat_timeout()
    ).update(accepting=True, away_by_timeout=False)
    offer_next(now=now, team_ids=team_ids_of(agent))


def capacity_freed(*, conversation: Conversation) -> None:
    """A chat ended (chat.services.end_conversation calls this inside its transaction): once it
    commits, the agent's count is brought up to date and the oldest waiting chat offered."""
    agent_id = conversation.agent_id
    team = route_team_of(conversation)

    def after_commit() -> None:
        _refresh_active_count(agent_id)
        offer_next(team_ids={team})
        announce_queue({team})

    transaction.on_commit(after_commit, robust=True)


# --- transfer -----------------------------------------------------------------------------------


@_retry_deadlocks
def transfer(
    *,
    conversation: Conversation,
    actor: User,
    note: str = "",
    to_agent: User | None = None,
    to_team: Team | None = None,
    now: datetime | None = None,
) -> Conversation:
    """Hand a chat to another agent (offered to them; if they do not accept in time it goes back
    to the front of the queue) or to another team's queue. The note, if any, is an internal
    note on the ticket."""
    now = _now(now)
    if (to_agent is None) == (to_team is None):
        raise RuleBroken("to_agent", "Choose an agent or a team to transfer the chat to.")
    note = (note or "").strip()
    if len(note) > TRANSFER_NOTE_MAX:
        raise RuleBroken("note", f"A transfer note is at most {TRANSFER_NOTE_MAX} characters.")
    with transaction.atomic():
        target_presence = _locked_presence(to_agent) if to_agent is not None else None
        _lock_ticket_of(conversation)
        conversation = (
            with_route_team(Conversation.objects.select_for_update(of=("self",)))
            .select_related("ticket", "site")
            .get(pk=conversation.pk)
        )
        holds = conversation.state == ACTIVE and conversation.agent_id == actor.pk
        if not (holds or (actor.is_manager and conversation.state in (*QUEUED_STATES, ACTIVE))):
            raise RuleBroken("conversation", "Only the agent in this chat can transfer it.")
        previous = conversation.agent_id
        if to_agent is not None:
            if to_agent.pk == actor.pk or to_agent.pk == previous:
                raise RuleBroken("to_agent", "Choose someone else to transfer the chat to.")
            if not is_agent(to_agent):
                raise RuleBroken("to_agent", f"{to_agent.username} is not an active agent.")
            if not _online(now).filter(agent=to_agent).exists():
                raise RuleBroken("to_agent", f"{to_agent.display_name} is not online for chats.")
            capacity = to_agent.agent_profile.chat_capacity
            if chat_loads([to_agent.pk])[to_agent.pk] >= capacity:
                raise RuleBroken(
                    "to_agent", f"{to_agent.display_name} is at their chat capacity ({capacity})."
                )
        if to_team is not None and not to_team.is_active:
            raise RuleBroken("to_team", f"{to_team.name} is archived.")
        target = to_agent.display_name if to_agent is not None else to_team.name  # type: ignore[union-attr]
        if note:
            post_message(
                ticket=conversation.ticket,
                author=actor,
                body=f"Chat transferred to {target}: {note}",
                is_internal=True,
            )
        offered_to = _close_pending_offer(conversation, OfferOutcome.WITHDRAWN, now)
        _tell_withdrawn(offered_to, conversation, "transferred")
        conversation.agent = None
        conversation.accepted_at = None
        teams = {conversation.route_team}  # type: ignore[attr-defined]
        if to_team is not None:
            change_ticket_team(ticket=conversation.ticket, team=to_team, actor=actor)
            assign_ticket(ticket=conversation.ticket, assignee=None, actor=actor)
            conversation.state = WAITING
            conversation.offered_to = None
            conversation.offered_at = None
            teams.add(to_team.pk)
        else:
            if to_agent is None or target_presence is None:  # narrowed for the type checker
                raise RuleBroken("to_agent", "Choose an agent to transfer the chat to.")
            conversation.state = OFFERED
            conversation.offered_to = to_agent
            conversation.offered_at = now
            offer = ChatOffer.objects.create(
                conversation=conversation,
                agent=to_agent,
                offered_at=now,
                expires_at=now + timedelta(seconds=conversation.site.offer_timeout_seconds),
            )
            target_presence.last_assigned_at = now
            target_presence.save(update_fields=["last_assigned_at"])
            payload = {**_offer_payload(conversation, offer), "transferred_by": actor.display_name}
            if note:
                payload["note"] = note
            target_group = agent_group(to_agent.pk)
            transaction.on_commit(lambda: broadcast(target_group, CHAT_OFFERED, payload))
        conversation.save(
            update_fields=["state", "agent", "accepted_at", "offered_to", "offered_at"]
        )
        _refresh_active_count(previous)
        handed = f"{actor.display_name} transferred the chat to {target}."
        system_line(conversation=conversation, body=handed)
        moved = {"conversation": conversation.pk, "to": target}
        transaction.on_commit(
            lambda: broadcast(conversation_group(conversation.pk), CONVERSATION_TRANSFERRED, moved)
        )
        if previous is not None:
            transaction.on_commit(
                lambda: broadcast(agent_group(previous), CONVERSATION_RELEASED, moved)
            )
        _announce_on_commit(teams)
    if to_team is not None:
        offer_next(now=now, team_ids={to_team.pk})
    conversation.refresh_from_db()
    return conversation


# --- the sweep ----------------------------------------------------------------------------------


@dataclass
class SweepResult:
    expired: int
    away: list[int]
    requeued: list[int]
    offered: int


def sweep(*, now: datetime | None = None) -> SweepResult:
    """Everything time alone changes: offers past their time-out, consoles gone quiet, active
    chats of agents gone for good; then a back-fill in case an earlier after-commit offer was
    lost (a process killed between commit and offer). Idempotent and safe on many workers."""
    now = _now(now)
    expired = expire_offers(now=now)
    away = mark_away_stale_agents(now=now)
    requeued = requeue_orphaned_chats(now=now)
    offered = offer_next(now=now)
    return SweepResult(expired, away, requeued, len(offered))


def sweep_if_due(*, now: datetime | None = None) -> SweepResult | None:
    """The sweep, at most once per CHAT_SWEEP_MIN_SECONDS across every process sharing the
    cache: heartbeats call it, so routing never depends on the worker alone."""
    period = int(getattr(settings, "CHAT_SWEEP_MIN_SECONDS", DEFAULT_SWEEP_MIN_SECONDS))
    if not cache.add("chat.routing.sweep", 1, timeout=period):
        return None
    return sweep(now=now)
