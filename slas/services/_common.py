"""What the clock engine and the selectors share: the facts a policy is matched on, the match
itself, a clock's pauses and calendar, and the promise's wording."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from customers.models import Customer
from slas import clocks
from slas.models import SlaPolicy, TicketClock
from slas.services.calendars import calendar_at
from tickets.models import Ticket


@dataclass(frozen=True)
class TicketFacts:
    """What policy conditions look at (two queries: the customer with their tier, the tags)."""

    tier_slug: str
    tier_name: str
    organization_id: int | None
    team_id: int | None
    channel: str
    type: str
    tags: frozenset[str]


def facts_of(ticket: Ticket) -> TicketFacts:
    row = (
        Customer.objects.filter(pk=ticket.customer_id)
        .values("tier__slug", "tier__name", "organization_id")
        .first()
    )
    customer: dict[str, Any] = (
        dict(row) if row else {"tier__slug": "", "tier__name": "", "organization_id": None}
    )
    tags = frozenset(ticket.tags.values_list("name", flat=True))
    return TicketFacts(
        tier_slug=customer["tier__slug"] or "",
        tier_name=customer["tier__name"] or "",
        organization_id=customer["organization_id"],
        team_id=ticket.team_id,
        channel=ticket.channel,
        type=ticket.type,
        tags=tags,
    )


def conditions_match(conditions: dict[str, Any], facts: TicketFacts) -> bool:
    """Every condition given must hold; within one, any listed value will do."""
    checks: list[tuple[str, Any]] = [
        ("tiers", facts.tier_slug),
        ("organizations", facts.organization_id),
        ("teams", facts.team_id),
        ("channels", facts.channel),
        ("types", facts.type),
    ]
    for key, value in checks:
        wanted = conditions.get(key) or []
        if wanted and value not in wanted:
            return False
    wanted_tags = conditions.get("tags") or []
    return not wanted_tags or bool(facts.tags.intersection(wanted_tags))


def pick_policy(policies: Iterable[SlaPolicy], facts: TicketFacts) -> SlaPolicy | None:
    """First active non-default policy (in position order) whose conditions hold; else the
    default."""
    default = None
    for policy in policies:
        if not policy.is_active:
            continue
        if policy.is_default:
            default = default or policy
        elif conditions_match(policy.conditions or {}, facts):
            return policy
    return default


def active_policies() -> list[SlaPolicy]:
    return list(
        SlaPolicy.objects.filter(is_active=True)
        .select_related("calendar")
        .prefetch_related("targets")
        .order_by("position", "id")
    )


# --- a clock's pauses and calendar --------------------------------------------------------------

# TicketClock.pauses: [[from ISO, to ISO or null, reason], ...], oldest first; null: still paused.


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text)


def pauses_of(clock: TicketClock, now: datetime) -> list[clocks.Pause]:
    """The clock's pauses as real-time intervals; one still going ends `now` (so a due instant
    computed with them is "the due instant if the pause ended now")."""
    return [
        (_instant(start), _instant(end) if end else now) for start, end, _reason in clock.pauses
    ]


def is_paused(clock: TicketClock) -> bool:
    return bool(clock.pauses) and clock.pauses[-1][1] is None


def calendar_of(clock: TicketClock) -> clocks.BusinessCalendar:
    """The calendar version the clock counts in."""
    return calendar_at(clock.calendar_id, clock.calendar_version)


def promise_reason(*, policy_name: str, conditions: dict[str, Any], tier_name: str) -> str:
    """Why the customer gets this promise: their tier when the policy is a tier's ("Gold
    priority"), otherwise the policy's name."""
    if conditions.get("tiers") and tier_name:
        return f"{tier_name} priority"
    return policy_name


def first(items: Sequence[TicketClock]) -> TicketClock | None:
    return items[0] if items else None
