"""The clock engine reads only the clocks it can still move: every clock not stopped and the
latest of each target. A long ticket (a next-reply clock per customer turn) reads as few rows as
a short one, and every change leaves the clocks, the ledger, the timeline and the summary
exactly as an engine reading every clock the ticket ever had would."""

from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.db.models import F, FilteredRelation, Q

from slas.models import ClockSegment, TicketClock
from slas.services import breach_due_clocks, ticket_clocks
from slas.services.settings_cache import stamp_subquery
from tests.slas.sla_helpers import MONDAY_9
from tickets.models import EventKind, Priority, Status, Ticket
from tickets.services import change_ticket_priority, change_ticket_status, open_ticket, post_message

pytestmark = pytest.mark.django_db

TURNS = 30


def at(minutes: float):
    return time_machine.travel(MONDAY_9 + timedelta(minutes=minutes), tick=False)


def every_clock_with_open_segments(ticket: Ticket) -> list[TicketClock]:
    """The read as it was before it was narrowed: every clock the ticket ever had."""
    open_segment = FilteredRelation("segments", condition=Q(segments__ends_at__isnull=True))
    rows = (
        TicketClock.objects.filter(ticket=ticket)
        .annotate(
            open_segment=open_segment,
            open_segment_id=F("open_segment__id"),
            open_segment_kind=F("open_segment__kind"),
            open_segment_starts_at=F("open_segment__starts_at"),
            open_segment_reason=F("open_segment__reason"),
            settings_stamp=stamp_subquery(),
        )
        .order_by("started_at", "id", "open_segment__starts_at", "open_segment__id")
    )
    return list({clock.pk: clock for clock in rows}.values())


def state_of(ticket: Ticket):
    """Everything the engine writes, without the ids a rolled-back run uses up."""
    clock_fields = [
        f.attname
        for f in TicketClock._meta.concrete_fields
        if f.attname not in ("id", "created_at")
    ]
    clocks = list(TicketClock.objects.filter(ticket=ticket).order_by("id").values(*clock_fields))
    segments = list(
        ClockSegment.objects.filter(clock__ticket=ticket)
        .order_by("clock__target", "clock__sequence", "starts_at", "ends_at", "kind")
        .values(
            "clock__target",
            "clock__sequence",
            "kind",
            "starts_at",
            "ends_at",
            "business_minutes",
            "reason",
            "policy_version",
            "calendar_version",
        )
    )
    events = [
        # The engine's own events in full (but the clock's id); the others by kind.
        (kind, {key: value for key, value in data.items() if key != "clock"})
        if kind == EventKind.SLA_BREACHED
        else kind
        for kind, data in ticket.events.order_by("id").values_list("kind", "data")
    ]
    summary = Ticket.objects.filter(pk=ticket.pk).values(
        "status", "sla_due_at", "sla_target", "sla_state", "reply_due_at", "reply_promise"
    )[0]
    return {"clocks": clocks, "segments": segments, "events": events, "summary": summary}


def same_as_reading_every_clock(monkeypatch, ticket: Ticket, minute: float, change) -> None:
    """Run `change` at `minute` with the engine reading every clock (rolled back), then for
    real, and compare what each left behind."""
    with transaction.atomic():
        with monkeypatch.context() as patch:
            patch.setattr(
                ticket_clocks, "_clocks_with_open_segments", every_clock_with_open_segments
            )
            with at(minute):
                change()
        expected = state_of(ticket)
        transaction.set_rollback(True)
    with at(minute):
        change()
    assert state_of(ticket) == expected


@pytest.fixture
def long_ticket(gold_customer, gold_policy, agent):
    """A ticket with TURNS customer/agent turns: TURNS finished next-reply clocks (some late),
    its first reply met and its resolution breached."""
    with at(0):
        ticket = open_ticket(customer=gold_customer, subject="Long", body="Hi", actor=None)
    with at(5):
        post_message(ticket=ticket, author=agent, body="Hello")
    now = 10
    for turn in range(TURNS):
        with at(now):
            post_message(ticket=ticket, author=gold_customer.user, body=f"Question {turn}")
        now += 40 if turn % 7 == 3 else 5  # every seventh reply is late (30 min target)
        with at(now):
            post_message(ticket=ticket, author=agent, body=f"Answer {turn}")
        now += 5
    ticket.refresh_from_db()
    return ticket


def test_a_long_ticket_reads_only_the_clocks_the_engine_can_move(long_ticket, gold_customer):
    assert TicketClock.objects.filter(ticket=long_ticket).count() == TURNS + 2
    read = ticket_clocks._clocks_with_open_segments(long_ticket)
    # The first reply (met), the resolution (running, breached) and the last next reply (met).
    assert [(clock.target, clock.sequence) for clock in read] == [
        ("first_reply", 1),
        ("resolution", 1),
        ("next_reply", TURNS),
    ]

    with at(10_000):
        post_message(ticket=long_ticket, author=gold_customer.user, body="One more")
    read = ticket_clocks._clocks_with_open_segments(long_ticket)
    assert [(clock.target, clock.sequence) for clock in read][-1] == ("next_reply", TURNS + 1)
    assert len(read) == 3
    assert read[-1].open_segment_kind == "running"  # type: ignore[attr-defined]


def test_every_change_to_a_long_ticket_ends_as_reading_every_clock_would(
    monkeypatch, long_ticket, gold_customer, agent
):
    customer = gold_customer.user
    changes = [
        (2000, lambda: post_message(ticket=long_ticket, author=customer, body="Still there?")),
        (2001, lambda: post_message(ticket=long_ticket, author=customer, body="Hello?")),
        (
            2002,
            lambda: change_ticket_priority(
                ticket=long_ticket, priority=Priority.URGENT, actor=agent
            ),
        ),
        (2100, lambda: breach_due_clocks()),
        (2101, lambda: post_message(ticket=long_ticket, author=agent, body="Sorry")),
        (
            2102,
            lambda: change_ticket_status(
                ticket=long_ticket, new_status=Status.PENDING, actor=agent
            ),
        ),
        (2103, lambda: post_message(ticket=long_ticket, author=customer, body="Here it is")),
        (
            2110,
            lambda: change_ticket_status(ticket=long_ticket, new_status=Status.SOLVED, actor=agent),
        ),
        (2200, lambda: post_message(ticket=long_ticket, author=customer, body="Broken again")),
        (2210, lambda: post_message(ticket=long_ticket, author=agent, body="Looking")),
    ]
    for minute, change in changes:
        same_as_reading_every_clock(monkeypatch, long_ticket, minute, change)

    kinds = list(long_ticket.events.values_list("kind", flat=True))
    assert kinds.count(EventKind.SLA_BREACHED) >= 5  # late replies, resolution, the sweep's
    assert TicketClock.objects.filter(ticket=long_ticket, target="next_reply").count() == TURNS + 3
