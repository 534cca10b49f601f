"""Reads of SLAs that several doors share: which policy a ticket falls under, its clocks and
their ledger, what the customer is promised, and how far along a clock is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from slas import clocks
from slas.models import (
    BusinessCalendar,
    ClockSegment,
    ClockState,
    SegmentKind,
    SlaPolicy,
    TicketClock,
)
from slas.services._common import (
    active_policies,
    calendar_of,
    facts_of,
    is_paused,
    pauses_of,
    pick_policy,
    promise_reason,
)
from slas.services.policies import policy_snapshot
from tickets.models import SlaTarget, Ticket

__all__ = [
    "Promise",
    "calendar_of",
    "calendars_in_order",
    "clock_progress",
    "pauses_of",
    "policies_in_order",
    "policy_for",
    "promise_for",
    "ticket_clocks",
    "ticket_ledger",
]


@dataclass(frozen=True)
class Promise:
    """What the customer is told: "We will answer by <due_at> - <reason>"."""

    due_at: datetime
    target: str
    reason: str


def calendars_in_order() -> QuerySet[BusinessCalendar]:
    return BusinessCalendar.objects.order_by("name", "id")


def policies_in_order() -> QuerySet[SlaPolicy]:
    """Policies in the order they are tried, the default last, with their calendar and
    targets loaded (three queries for any number)."""
    return (
        SlaPolicy.objects.select_related("calendar")
        .prefetch_related("targets")
        .order_by("is_default", "position", "id")
    )


def policy_for(ticket: Ticket) -> SlaPolicy | None:
    """The policy a target starting now on this ticket would count under: the first active
    policy (by position) whose conditions hold, else the default; None when there is none."""
    return pick_policy(active_policies(), facts_of(ticket))


def ticket_clocks(ticket: Ticket) -> list[TicketClock]:
    """The ticket's clocks, oldest first, their ledger segments prefetched in order."""
    return list(
        TicketClock.objects.filter(ticket=ticket)
        .select_related("policy", "calendar")
        .prefetch_related(
            Prefetch("segments", queryset=ClockSegment.objects.order_by("starts_at", "id"))
        )
        .order_by("started_at", "id")
    )


def ticket_ledger(ticket: Ticket, now: datetime | None = None) -> list[TicketClock]:
    """The clocks with their ledger as a manager reads it: each clock's `ledger` holds its
    stored segments in order, the open one (still going) cut into counting, paused, outside
    hours and holiday up to `now` like the closed ones (those pieces are not saved: `pk` None,
    `ends_at` None on the last)."""
    now = now or timezone.now()
    found = ticket_clocks(ticket)
    for clock in found:
        ledger: list[ClockSegment] = []
        for segment in clock.segments.all():
            if segment.ends_at is not None:
                ledger.append(segment)
                continue
            pauses = [(segment.starts_at, now)] if segment.kind == SegmentKind.PAUSED else []
            pieces = clocks.segments_between(segment.starts_at, now, calendar_of(clock), pauses)
            for index, piece in enumerate(pieces):
                last = index == len(pieces) - 1
                ledger.append(
                    ClockSegment(
                        clock=clock,
                        kind=piece.kind,
                        starts_at=piece.start,
                        ends_at=None if last else piece.end,
                        business_minutes=piece.business_minutes,
                        reason=segment.reason if piece.kind == segment.kind else "",
                        policy_version=segment.policy_version,
                        calendar_version=segment.calendar_version,
                    )
                )
            if not pieces:
                ledger.append(segment)
        clock.ledger = ledger  # type: ignore[attr-defined]
    return found


def promise_for(ticket: Ticket) -> Promise | None:
    """The running reply target the customer is waiting on, and why they get that promise;
    None when no reply is owed under an SLA. The ticket's `reply_due_at` / `reply_promise`
    store the same."""
    reply = (
        TicketClock.objects.filter(
            ticket=ticket,
            target__in=[SlaTarget.FIRST_REPLY, SlaTarget.NEXT_REPLY],
            stopped_at__isnull=True,
            state__in=[ClockState.RUNNING, ClockState.BREACHED],
        )
        .order_by("due_at")
        .first()
    )
    if reply is None:
        return None
    snapshot = policy_snapshot(reply.policy_id, reply.policy_version)
    reason = promise_reason(
        policy_name=snapshot.get("name", ""),
        conditions=snapshot.get("conditions") or {},
        tier_name=facts_of(ticket).tier_name,
    )
    return Promise(due_at=reply.due_at, target=reply.target, reason=reason)


def clock_progress(clock: TicketClock, now: datetime) -> dict[str, Any]:
    """How far along a clock is, in business time: `used_minutes`, `minutes_left` (negative:
    minutes overdue), `percent_elapsed` (0..100+, whole percent), `paused`, `overdue`."""
    end = clock.stopped_at or now
    calendar = calendar_of(clock)
    used = clocks.business_minutes_between(clock.started_at, end, calendar, pauses_of(clock, end))
    if end >= clock.due_at:
        overdue = clocks.business_minutes_between(
            clock.due_at, end, calendar, pauses_of(clock, end)
        )
        left = -overdue
    else:
        left = max(clock.target_minutes - used, 0)
    return {
        "used_minutes": used,
        "minutes_left": left,
        "percent_elapsed": (used * 100) // clock.target_minutes if clock.target_minutes else 100,
        "paused": is_paused(clock) and clock.stopped_at is None,
        "overdue": end >= clock.due_at,
    }
