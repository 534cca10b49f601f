"""Waiting chats that nobody can take any more become tickets, and the customer is told.

A chat that starts when the site is closed or none of its team is online is `missed` at once
(start_conversation). This is the same outcome for a chat that was already queued when that
became true: the last agent of its team went away or offline, or the site's hours ended. A
chat queued behind agents who are online but busy is a real queue and is never dropped here.

"Nobody can take it" must have lasted the site's `missed_after_seconds`, not merely be true
now: an agent who steps away for a minute must not cost the queue its place. The database
has no row for "since when is team T unstaffed", so the sweep remembers what it saw in the
cache (one entry, every (site, team) pair it found stranded and since when). The entry lives
only a minute unless a sweep renews it: when sweeps stop (the worker is down, the cache was
flushed), the clock starts again rather than trusting an old observation. A lost memory can
only make a chat wait longer, never make it missed sooner.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from accounts.models import Availability
from chat import events, routing_engine
from chat.models import (
    AgentChatPresence,
    ChatOffer,
    Conversation,
    ConversationState,
    OfferOutcome,
    Site,
)
from chat.selectors import business_hours_of, is_open_now, next_opening_after, presence_timeout
from chat.services.conversations import offline_notice
from chat.services.lines import system_line
from tickets.events import broadcast
from tickets.models import Ticket

QUEUED_STATES = (ConversationState.WAITING, ConversationState.OFFERED)
CONVERSATION_MISSED = "conversation.missed"  # to the visitor: the chat became a ticket

STRANDED_KEY = "chat.missed.stranded"
# A sweep runs every 5 s; twelve missed sweeps in a row and the observation is forgotten.
STRANDED_MEMORY_SECONDS = 60

Pair = tuple[int, int]  # (site id, route team id)


def _key(pair: Pair) -> str:
    return f"{pair[0]}:{pair[1]}"


def _staffed_teams(team_ids: Iterable[int], now: datetime) -> set[int]:
    """The teams with at least one agent online for chat, counted as
    chat.selectors.agents_available counts them (capacity aside: busy is still there)."""
    return set(
        AgentChatPresence.objects.filter(
            accepting=True,
            last_heartbeat_at__gte=now - presence_timeout(),
            agent__is_active=True,
            agent__agent_profile__availability=Availability.ONLINE,
            agent__agent_profile__teams__in=list(team_ids),
        )
        .order_by()
        .values_list("agent__agent_profile__teams", flat=True)
        .distinct()
    )


def _stranded_pairs(now: datetime) -> tuple[dict[Pair, datetime], dict[int, Site]]:
    """Every (site, route team) with chats in the queue that nobody can take now, with the
    moment the sweeps first saw it so (remembered in the cache); and those sites."""
    pairs = set(
        routing_engine.with_route_team(
            Conversation.objects.filter(state__in=QUEUED_STATES, site__missed_after_seconds__gt=0)
        )
        .order_by()  # no default ordering: its columns would make every row distinct
        .values_list("site_id", "route_team")
        .distinct()
    )
    if not pairs:
        cache.delete(STRANDED_KEY)
        return {}, {}
    sites = Site.objects.select_related("calendar").in_bulk({site for site, _ in pairs})
    staffed = _staffed_teams({team for _, team in pairs}, now)
    stranded = {
        (site_id, team)
        for site_id, team in pairs
        if team not in staffed or not is_open_now(business_hours_of(sites[site_id]), now)
    }
    seen: dict[str, str] = cache.get(STRANDED_KEY) or {}
    since: dict[Pair, datetime] = {}
    for pair in stranded:
        earlier = seen.get(_key(pair))
        since[pair] = min(datetime.fromisoformat(earlier), now) if earlier else now
    # Pairs no longer stranded (or no longer queued) drop out: their clock starts afresh.
    cache.set(
        STRANDED_KEY,
        {_key(pair): moment.isoformat() for pair, moment in since.items()},
        timeout=STRANDED_MEMORY_SECONDS,
    )
    return since, sites


def miss_stranded_chats(*, now: datetime | None = None) -> list[int]:
    """Move to `missed` every queued chat (waiting or offered) whose site has been closed, or
    whose team has had nobody online, for the site's `missed_after_seconds` (counted from when
    the chat was queued at the earliest). Each chat in its own transaction; the visitor reads
    when and where the answer comes; consoles drop it from the queue. Returns the chats' ids.

    Idempotent and safe on many workers: a chat another process holds is skipped (SKIP
    LOCKED) and its state is checked again under the lock."""
    now = now or timezone.now()
    since, sites = _stranded_pairs(now)
    cutoffs: dict[Pair, datetime] = {}  # per stranded pair: queued before this, and due
    for (site_id, team), moment in since.items():
        wait = timedelta(seconds=sites[site_id].missed_after_seconds)
        if moment <= now - wait:
            cutoffs[(site_id, team)] = now - wait
    if not cutoffs:
        return []
    # The queue's own index (state first): the state and the earliest arrival narrow it in
    # SQL; which (site, team) is due is sorted out here, among rows of the queue only.
    candidates = [
        (conversation_id, ticket_id, (site_id, team))
        for conversation_id, ticket_id, site_id, team, queued_at in (
            routing_engine.with_route_team(
                Conversation.objects.filter(
                    state__in=QUEUED_STATES,
                    queued_at__lte=max(cutoffs.values()),
                    site_id__in={site_id for site_id, _ in cutoffs},
                )
            )
            .order_by("queued_at", "id")
            .values_list("pk", "ticket_id", "site_id", "route_team", "queued_at")
        )
        if (site_id, team) in cutoffs and queued_at <= cutoffs[(site_id, team)]
    ]
    missed: list[int] = []
    teams: set[int] = set()
    for conversation_id, ticket_id, pair in candidates:
        if _miss(conversation_id, ticket_id, pair, sites[pair[0]], now):
            missed.append(conversation_id)
            teams.add(pair[1])
    if teams:
        # Other visitors move up; consoles drop these from the queue (after the caller's
        # commit, if it called inside a transaction).
        transaction.on_commit(lambda: routing_engine.announce_queue(teams))
    return missed


@transaction.atomic
def _miss(conversation_id: int, ticket_id: int, pair: Pair, site: Site, now: datetime) -> bool:
    # Lock order, as everywhere in chat.services.lines: the ticket, then the conversation.
    ticket = (
        Ticket.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("customer")
        .filter(pk=ticket_id)
        .first()
    )
    if ticket is None:
        return False  # someone is writing to it right now: the next sweep looks again
    conversation = (
        routing_engine.with_route_team(
            Conversation.objects.select_for_update(skip_locked=True, of=("self",))
        )
        .filter(pk=conversation_id, state__in=QUEUED_STATES)
        .first()
    )
    if conversation is None or (conversation.site_id, conversation.route_team) != pair:
        return False  # taken, ended, missed by another worker, or moved to another team
    calendar = business_hours_of(site)
    closed = not is_open_now(calendar, now)
    if not closed and (
        conversation.state == ConversationState.OFFERED or _staffed_teams({pair[1]}, now)
    ):
        # Someone came back since the sweep looked (routing offers only to agents online, and
        # takes the offer back when they go): this chat has someone to wait for again.
        return False
    offered_to = _withdraw_offer(conversation, now)
    conversation.state = ConversationState.MISSED
    conversation.offered_to = None
    conversation.offered_at = None
    conversation.save(update_fields=["state", "offered_to", "offered_at"])

    opens_at = next_opening_after(calendar, now) if closed else None
    notice = offline_notice(conversation=conversation, ticket=ticket, opens_at=opens_at)
    system_line(conversation=conversation, body=notice)
    events.publish_on_commit(
        conversation.pk,
        CONVERSATION_MISSED,
        {
            "conversation": conversation.pk,
            "reference": ticket.reference,
            "reason": "closed" if closed else "no_agents",
            "opens_at": events.iso(opens_at),
        },
    )
    if offered_to is not None:
        payload = {"conversation": conversation.pk, "reason": "missed"}
        group = routing_engine.agent_group(offered_to)
        transaction.on_commit(lambda: broadcast(group, routing_engine.OFFER_WITHDRAWN, payload))
    return True


def _withdraw_offer(conversation: Conversation, now: datetime) -> int | None:
    """Close the chat's pending offer (the agent it was offered to may still be online when
    the site closes); returns that agent's id."""
    offer = ChatOffer.objects.filter(
        conversation=conversation, outcome=OfferOutcome.PENDING
    ).first()
    if offer is None:
        return None
    offer.outcome, offer.answered_at = OfferOutcome.WITHDRAWN, now
    offer.save(update_fields=["outcome", "answered_at"])
    return int(offer.agent_id)
