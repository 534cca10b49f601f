"""The clocks on each ticket, driven through the real ticket services with time moved by
time-machine: first reply, next replies, resolution with its pauses, priority and policy
changes, tier changes, the breach sweep, the ledger and the customer's promise."""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.services import update_customer
from slas.models import ClockSegment, ClockState, TicketClock
from slas.selectors import clock_progress, promise_for, ticket_ledger
from slas.services import breach_due_clocks, save_policy
from tests.factories import CustomerFactory
from tests.slas.sla_helpers import MONDAY_9, targets
from tickets.models import EventKind, Priority, SlaState, Status
from tickets.services import change_ticket_priority, change_ticket_status, open_ticket, post_message

pytestmark = pytest.mark.django_db


def at(minutes: float):
    return time_machine.travel(MONDAY_9 + timedelta(minutes=minutes), tick=False)


def minute(n: float):
    return MONDAY_9 + timedelta(minutes=n)


def clock(ticket, target, sequence=1):
    return TicketClock.objects.get(ticket=ticket, target=target, sequence=sequence)


@pytest.fixture
def gold_ticket(gold_customer, gold_policy):
    with at(0):
        return open_ticket(customer=gold_customer, subject="Late", body="Where?", actor=None)


def test_opening_starts_first_reply_and_resolution_and_promises_the_reply(gold_ticket):
    first, resolution = clock(gold_ticket, "first_reply"), clock(gold_ticket, "resolution")

    assert (first.started_at, first.due_at, first.state) == (minute(0), minute(15), "running")
    assert (resolution.due_at, resolution.target_minutes) == (minute(240), 240)
    gold_ticket.refresh_from_db()
    assert gold_ticket.sla_due_at == minute(15)
    assert (gold_ticket.sla_target, gold_ticket.sla_state) == ("first_reply", SlaState.RUNNING)
    assert gold_ticket.reply_due_at == minute(15)
    assert gold_ticket.reply_promise == "Gold priority"
    assert promise_for(gold_ticket).reason == "Gold priority"


def test_the_first_public_agent_reply_meets_first_reply_a_note_does_not(gold_ticket, agent):
    with at(5):
        post_message(ticket=gold_ticket, author=agent, body="Checking", is_internal=True)
    assert clock(gold_ticket, "first_reply").state == ClockState.RUNNING
    with at(10):
        post_message(ticket=gold_ticket, author=agent, body="On it")

    first = clock(gold_ticket, "first_reply")
    assert (first.state, first.stopped_at, first.business_minutes) == ("met", minute(10), 10)
    gold_ticket.refresh_from_db()
    assert (gold_ticket.reply_due_at, gold_ticket.reply_promise) == (None, "")
    assert (gold_ticket.sla_target, gold_ticket.sla_due_at) == ("resolution", minute(240))


def test_next_reply_starts_at_each_customer_message_after_an_agent_reply(
    gold_ticket, agent, gold_customer
):
    with at(10):
        post_message(ticket=gold_ticket, author=agent, body="On it")
    with at(20):
        post_message(ticket=gold_ticket, author=gold_customer.user, body="Thanks, and?")
    with at(25):
        post_message(ticket=gold_ticket, author=gold_customer.user, body="Hello?")
    first_next = clock(gold_ticket, "next_reply", 1)
    assert (first_next.started_at, first_next.due_at) == (minute(20), minute(50))
    gold_ticket.refresh_from_db()
    assert (gold_ticket.reply_due_at, gold_ticket.reply_promise) == (minute(50), "Gold priority")

    with at(40):
        post_message(ticket=gold_ticket, author=agent, body="Shipped")
    with at(45):
        post_message(ticket=gold_ticket, author=gold_customer.user, body="Tracking number?")

    first_next.refresh_from_db()
    assert (first_next.state, first_next.stopped_at) == ("met", minute(40))
    second = clock(gold_ticket, "next_reply", 2)
    assert (second.started_at, second.due_at, second.state) == (minute(45), minute(75), "running")
    assert TicketClock.objects.filter(ticket=gold_ticket, target="next_reply").count() == 2


def test_pending_pauses_resolution_and_resuming_moves_its_due_instant(gold_ticket, agent):
    with at(10):
        change_ticket_status(ticket=gold_ticket, new_status=Status.PENDING, actor=agent)
    resolution = clock(gold_ticket, "resolution")
    assert resolution.state == ClockState.PAUSED
    gold_ticket.refresh_from_db()
    # The first reply is still owed (reply targets never pause).
    assert (gold_ticket.sla_state, gold_ticket.sla_target) == (SlaState.RUNNING, "first_reply")

    with at(40):
        change_ticket_status(ticket=gold_ticket, new_status=Status.OPEN, actor=agent)

    resolution.refresh_from_db()
    assert resolution.state == ClockState.RUNNING
    assert resolution.due_at == minute(240 + 30)
    assert (resolution.business_minutes, resolution.paused_business_minutes) == (10, 30)
    assert resolution.pauses[0][2] == "Pending on the customer"
    segments = list(resolution.segments.values_list("kind", "starts_at", "ends_at", "reason"))
    assert segments == [
        ("running", minute(0), minute(10), ""),
        ("paused", minute(10), minute(40), "Pending on the customer"),
        ("running", minute(40), None, ""),
    ]


def test_on_hold_pauses_only_when_the_policy_says_so(manager, gold_ticket, gold_policy, agent):
    with at(30):
        change_ticket_status(ticket=gold_ticket, new_status=Status.ON_HOLD, actor=agent)
    assert clock(gold_ticket, "resolution").state == ClockState.RUNNING

    with at(31):
        save_policy(actor=manager, policy=gold_policy, data={"pause_on_hold": True})
        change_ticket_status(ticket=gold_ticket, new_status=Status.OPEN, actor=agent)
    with at(40):
        other = open_ticket(customer=gold_ticket.customer, subject="2", body="b", actor=None)
    with at(50):
        change_ticket_status(ticket=other, new_status=Status.ON_HOLD, actor=agent)

    # The first ticket's clock keeps the version it started under (no pause on hold) ...
    assert clock(gold_ticket, "resolution").policy_version == 1
    # ... the new one counts under version 2, which pauses on hold.
    held = clock(other, "resolution")
    assert (held.policy_version, held.state, held.pauses[0][2]) == (2, "paused", "On hold")


def test_solving_meets_resolution_and_cancels_a_reply_still_owed(gold_ticket, agent):
    with at(100):
        change_ticket_status(ticket=gold_ticket, new_status=Status.SOLVED, actor=agent)

    resolution, first = clock(gold_ticket, "resolution"), clock(gold_ticket, "first_reply")
    # The first reply was due at minute 15: solving at 100 stops it late, so breached.
    assert (first.state, first.breached_at, first.stopped_at) == (
        "breached",
        minute(15),
        minute(100),
    )
    assert (resolution.state, resolution.stopped_at, resolution.business_minutes) == (
        "met",
        minute(100),
        100,
    )
    gold_ticket.refresh_from_db()
    assert (gold_ticket.sla_state, gold_ticket.sla_due_at, gold_ticket.reply_due_at) == (
        "",
        None,
        None,
    )


def test_a_reply_owed_but_not_late_is_cancelled_on_solve(gold_ticket, agent):
    with at(10):
        change_ticket_status(ticket=gold_ticket, new_status=Status.SOLVED, actor=agent)

    assert clock(gold_ticket, "first_reply").state == ClockState.CANCELLED


def test_a_reopened_ticket_resumes_resolution_with_the_solved_time_as_a_pause(
    gold_ticket, agent, gold_customer
):
    with at(10):
        post_message(ticket=gold_ticket, author=agent, body="Fixed")
    with at(20):
        change_ticket_status(ticket=gold_ticket, new_status=Status.SOLVED, actor=agent)
    with at(80):
        post_message(ticket=gold_ticket, author=gold_customer.user, body="Still broken")

    gold_ticket.refresh_from_db()
    assert gold_ticket.status == Status.OPEN
    resolution = clock(gold_ticket, "resolution")
    assert (resolution.state, resolution.stopped_at) == ("running", None)
    assert resolution.due_at == minute(240 + 60)
    assert resolution.pauses[-1] == [
        minute(20).isoformat(),
        minute(80).isoformat(),
        "Solved, then reopened",
    ]
    assert clock(gold_ticket, "next_reply").started_at == minute(80)
    kinds = list(resolution.segments.values_list("kind", "reason"))
    assert kinds == [("running", ""), ("paused", "Solved, then reopened"), ("running", "Reopened")]


def test_a_priority_change_retargets_running_clocks_from_their_start(
    manager, always_open, default_policy, agent
):
    urgent = targets(first=10, nxt=20, resolution=60)["urgent"]
    save_policy(
        actor=manager, policy=default_policy, data={"targets": {**targets(), "urgent": urgent}}
    )
    with at(0):
        ticket = open_ticket(customer=CustomerFactory(), subject="s", body="b", actor=agent)
    with at(5):
        change_ticket_priority(ticket=ticket, priority=Priority.URGENT, actor=agent)

    first = clock(ticket, "first_reply")
    assert (first.priority, first.target_minutes, first.due_at) == ("urgent", 10, minute(10))
    assert clock(ticket, "resolution").due_at == minute(60)
    reasons = list(first.segments.values_list("kind", "reason"))
    assert reasons[-1] == ("running", "Priority normal \u2192 urgent: target 60 \u2192 10 min")
    ticket.refresh_from_db()
    assert ticket.sla_due_at == minute(10)


def test_a_priority_without_that_target_cancels_the_clock(
    manager, always_open, default_policy, agent
):
    save_policy(
        actor=manager,
        policy=default_policy,
        data={"targets": {**targets(), "low": {"resolution_minutes": 960}}},
    )
    with at(0):
        ticket = open_ticket(customer=CustomerFactory(), subject="s", body="b", actor=agent)
    with at(5):
        change_ticket_priority(ticket=ticket, priority=Priority.LOW, actor=agent)

    assert clock(ticket, "first_reply").state == ClockState.CANCELLED
    assert clock(ticket, "resolution").target_minutes == 960


def test_a_policy_change_never_rewrites_running_or_finished_clocks(
    manager, gold_ticket, gold_policy, agent, gold_customer
):
    with at(10):
        post_message(ticket=gold_ticket, author=agent, body="Hi")
    before = {
        row.pk: (row.target_minutes, row.due_at, row.policy_version, row.state)
        for row in TicketClock.objects.filter(ticket=gold_ticket)
    }
    with at(12):
        save_policy(
            actor=manager,
            policy=gold_policy,
            data={"targets": targets(first=1, nxt=5, resolution=30)},
        )
        change_ticket_status(ticket=gold_ticket, new_status=Status.OPEN, actor=agent)  # no-op
        post_message(ticket=gold_ticket, author=agent, body="Note", is_internal=True)
    with at(20):
        post_message(ticket=gold_ticket, author=gold_customer.user, body="And?")

    after = {
        row.pk: (row.target_minutes, row.due_at, row.policy_version, row.state)
        for row in TicketClock.objects.filter(ticket=gold_ticket, pk__in=before)
    }
    assert after == before
    new = clock(gold_ticket, "next_reply")
    assert (new.policy_version, new.target_minutes, new.due_at) == (2, 5, minute(25))


def test_the_sweep_marks_a_breach_once_with_a_timeline_event(gold_ticket):
    assert breach_due_clocks(now=minute(14)) == 0

    assert breach_due_clocks(now=minute(16)) == 1
    assert breach_due_clocks(now=minute(17)) == 0

    first = clock(gold_ticket, "first_reply")
    assert (first.state, first.breached_at, first.stopped_at) == ("breached", minute(15), None)
    events = gold_ticket.events.filter(kind=EventKind.SLA_BREACHED)
    assert [event.data["target"] for event in events] == ["first_reply"]
    gold_ticket.refresh_from_db()
    assert gold_ticket.sla_state == SlaState.BREACHED


def test_a_late_reply_stops_a_breached_clock_without_a_second_event(gold_ticket, agent):
    breach_due_clocks(now=minute(16))
    with at(30):
        post_message(ticket=gold_ticket, author=agent, body="Sorry")

    first = clock(gold_ticket, "first_reply")
    assert (first.state, first.stopped_at, first.business_minutes) == ("breached", minute(30), 30)
    assert gold_ticket.events.filter(kind=EventKind.SLA_BREACHED).count() == 1
    gold_ticket.refresh_from_db()
    assert gold_ticket.sla_state == SlaState.RUNNING


def test_a_clock_passing_its_due_instant_unswept_breaches_at_the_next_change(gold_ticket, agent):
    with at(20):
        post_message(ticket=gold_ticket, author=agent, body="Noted", is_internal=True)

    assert clock(gold_ticket, "first_reply").state == ClockState.BREACHED
    assert gold_ticket.events.filter(kind=EventKind.SLA_BREACHED).count() == 1


def test_the_ledger_explains_closed_hours_and_adds_up(manager, office, agent):
    policy_data = {
        "name": "Office",
        "is_default": True,
        "calendar": office,
        "targets": targets(first=None, nxt=None, resolution=120),
    }
    save_policy(actor=manager, policy=None, data=policy_data)
    with at(7 * 60 + 30):  # Monday 16:30
        ticket = open_ticket(customer=CustomerFactory(), subject="s", body="b", actor=agent)
    resolution = clock(ticket, "resolution")
    assert resolution.due_at == minute(24 * 60 + 90)  # Tuesday 10:30

    with at(24 * 60 + 60):  # Tuesday 10:00
        change_ticket_status(ticket=ticket, new_status=Status.SOLVED, actor=agent)

    resolution.refresh_from_db()
    ledger = list(resolution.segments.order_by("starts_at"))
    assert [(s.kind, s.starts_at, s.ends_at, s.business_minutes) for s in ledger] == [
        ("running", minute(450), minute(480), 30),
        ("outside_hours", minute(480), minute(24 * 60), 0),
        ("running", minute(24 * 60), minute(24 * 60 + 60), 60),
    ]
    assert sum(s.business_minutes for s in ledger if s.kind == "running") == 90
    assert resolution.business_minutes == 90
    assert all(s.policy_version == 1 and s.calendar_version == 1 for s in ledger)


def test_the_ledger_selector_cuts_the_open_segment_up_to_now(manager, office, agent):
    save_policy(
        actor=manager,
        policy=None,
        data={
            "name": "Office",
            "is_default": True,
            "calendar": office,
            "targets": targets(first=None, nxt=None, resolution=600),
        },
    )
    with at(7 * 60 + 30):  # Monday 16:30
        ticket = open_ticket(customer=CustomerFactory(), subject="s", body="b", actor=agent)

    (resolution,) = ticket_ledger(ticket, now=minute(24 * 60 + 30))
    assert [(s.kind, s.business_minutes, s.ends_at) for s in resolution.ledger] == [
        ("running", 30, minute(480)),
        ("outside_hours", 0, minute(24 * 60)),
        ("running", 30, None),
    ]
    progress = clock_progress(resolution, minute(24 * 60 + 30))
    assert progress == {
        "used_minutes": 60,
        "minutes_left": 540,
        "percent_elapsed": 10,
        "paused": False,
        "overdue": False,
    }


def test_a_tier_upgrade_gives_future_targets_the_new_policy(
    manager, default_policy, gold_policy, tiers, agent
):
    customer = CustomerFactory(with_login=True, tier=tiers["standard"])
    with at(0):
        ticket = open_ticket(customer=customer, subject="s", body="b", actor=None)
    with at(5):
        post_message(ticket=ticket, author=agent, body="Hello")
        update_customer(customer=customer, actor=agent, changes={"tier": tiers["gold"]})
    with at(6):
        post_message(ticket=ticket, author=customer.user, body="More")

    assert clock(ticket, "resolution").policy_id == default_policy.pk  # running: unchanged
    nxt = clock(ticket, "next_reply")
    assert (nxt.policy_id, nxt.target_minutes) == (gold_policy.pk, 30)
    ticket.refresh_from_db()
    assert ticket.reply_promise == "Gold priority"


def test_a_tier_change_gives_a_ticket_without_an_sla_its_clocks(manager, always_open, tiers, agent):
    customer = CustomerFactory(tier=tiers["standard"])
    with at(0):
        save_policy(
            actor=manager,
            policy=None,
            data={
                "name": "Catch-all",
                "is_default": True,
                "calendar": always_open,
                "targets": {"low": {"first_reply_minutes": 5}},
            },
        )
        gold = save_policy(
            actor=manager,
            policy=None,
            data={
                "name": "Gold",
                "conditions": {"tiers": ["gold"]},
                "calendar": always_open,
                "targets": targets(first=15),
            },
        )
        ticket = open_ticket(customer=customer, subject="s", body="b", actor=agent)
    assert not TicketClock.objects.filter(ticket=ticket).exists()

    with at(3):
        update_customer(customer=customer, actor=agent, changes={"tier": tiers["gold"]})

    first = clock(ticket, "first_reply")
    assert (first.policy_id, first.started_at, first.due_at) == (gold.pk, minute(3), minute(18))
    ticket.refresh_from_db()
    assert ticket.sla_state == SlaState.RUNNING


def test_a_change_costs_the_same_queries_however_long_the_history(
    gold_ticket, agent, gold_customer
):
    def round_trip(start):
        with at(start):
            post_message(ticket=gold_ticket, author=agent, body="Reply")
        with at(start + 1), CaptureQueriesContext(connection) as customer_message:
            post_message(ticket=gold_ticket, author=gold_customer.user, body="Again")
        return len(customer_message.captured_queries)

    counts = [round_trip(10 * n) for n in range(1, 6)]

    assert len(set(counts[1:])) == 1, counts
    assert counts[-1] <= 30, counts  # the message itself, its events, and the clocks
    assert TicketClock.objects.filter(ticket=gold_ticket, target="next_reply").count() == 5
    assert ClockSegment.objects.filter(clock__ticket=gold_ticket).count() == 7


def test_paused_segments_add_up_to_the_paused_minutes(gold_ticket, agent):
    with at(5):
        change_ticket_status(ticket=gold_ticket, new_status=Status.PENDING, actor=agent)
    with at(35):
        change_ticket_status(ticket=gold_ticket, new_status=Status.OPEN, actor=agent)
    with at(50):
        change_ticket_status(ticket=gold_ticket, new_status=Status.SOLVED, actor=agent)

    resolution = clock(gold_ticket, "resolution")
    by_kind = {"running": 0, "paused": 0}
    for segment in resolution.segments.all():
        by_kind[segment.kind] += segment.business_minutes
    assert by_kind == {"running": 20, "paused": 30}
    assert (resolution.business_minutes, resolution.paused_business_minutes) == (20, 30)
    assert resolution.stopped_at - resolution.started_at == timedelta(minutes=50)


def test_a_calendar_change_applies_to_new_targets_only(manager, office, agent):
    from slas.services import save_calendar

    save_policy(
        actor=manager,
        policy=None,
        data={"name": "Office", "is_default": True, "calendar": office,
              "targets": targets(first=None, nxt=None, resolution=120)},
    )  # fmt: skip
    with at(7 * 60 + 30):  # Monday 16:30: due Tuesday 10:30
        before = open_ticket(customer=CustomerFactory(), subject="s", body="b", actor=agent)
        save_calendar(actor=manager, calendar=office, data={"holidays": ["2026-03-03"]})
        after = open_ticket(customer=CustomerFactory(), subject="s", body="b", actor=agent)

    assert clock(before, "resolution").due_at == minute(24 * 60 + 90)
    assert clock(before, "resolution").calendar_version == 1
    # Tuesday is now a holiday: Wednesday 10:30, counted under version 2.
    assert clock(after, "resolution").due_at == minute(2 * 24 * 60 + 90)
    assert clock(after, "resolution").calendar_version == 2


def test_a_holiday_shows_as_such_in_the_ledger(manager, agent):
    from slas.services import save_calendar

    calendar = save_calendar(
        actor=manager,
        calendar=None,
        data={"name": "Weekdays", "hours": {"mon": [["00:00", "24:00"]],
              "tue": [["00:00", "24:00"]]}, "holidays": ["2026-03-03"]},
    )  # fmt: skip
    save_policy(
        actor=manager,
        policy=None,
        data={"name": "Any", "is_default": True, "calendar": calendar,
              "targets": targets(first=None, nxt=None, resolution=24 * 60)},
    )  # fmt: skip
    with at(14 * 60):  # Monday 23:00
        ticket = open_ticket(customer=CustomerFactory(), subject="s", body="b", actor=agent)

    (resolution,) = ticket_ledger(ticket, now=minute(14 * 60 + 120))
    assert [(s.kind, s.business_minutes) for s in resolution.ledger] == [
        ("running", 60),
        ("holiday", 0),
    ]


def test_the_sweep_task_runs_every_30_seconds_and_marks_breaches(gold_ticket):
    from helpdesk.celery import app
    from slas.tasks import sweep_breaches

    entry = next(
        entry for entry in app.conf.beat_schedule.values()
        if entry["task"] == "slas.tasks.sweep_breaches"
    )  # fmt: skip
    assert (entry["schedule"], entry["options"]["expires"]) == (30.0, 25)

    with at(16):
        assert sweep_breaches.apply().get() == 1
    assert clock(gold_ticket, "first_reply").state == ClockState.BREACHED
