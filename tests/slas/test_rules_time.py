"""Time rules: alarms computed when a rule is saved and when a ticket changes, the sweep that
fires what is due (once), and what it does when the ticket moved on."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from accounts.models import Team
from slas import tasks as slas_tasks
from slas.models import FiringOutcome, RuleAlarm, RuleFiring
from slas.rules.engine import sweep_time_rules
from slas.services import save_rule
from tests.factories import TeamFactory, TicketFactory
from tests.slas import rules_world
from tickets.models import EventKind, Message, TicketEvent
from tickets.services import change_ticket_status, post_message

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
WARN_75 = [{"field": "sla.percent_elapsed", "op": "gte", "value": 75, "target": "first_reply"}]
NOTE = [{"type": "add_note", "body": "75 % of the first reply used"}]


@pytest.fixture
def clock_ticket(db):
    with time_machine.travel(T0, tick=False):
        ticket = TicketFactory(status="open")
        clock = rules_world.clock(ticket, minutes=60, started_at=T0)
    return ticket, clock


def time_rule(manager, **data):
    data.setdefault("trigger", "time")
    data.setdefault("conditions", WARN_75)
    data.setdefault("actions", NOTE)
    data.setdefault("name", "Warn at 75 %")
    return save_rule(actor=manager, rule=None, data=data)


def test_saving_a_time_rule_sets_alarms_at_the_threshold(manager, clock_ticket):
    ticket, clock = clock_ticket
    with time_machine.travel(T0 + timedelta(minutes=5), tick=False):
        rule = time_rule(manager)
    alarm = RuleAlarm.objects.get()
    assert (alarm.rule, alarm.ticket) == (rule, ticket)
    assert alarm.due_at == T0 + timedelta(minutes=45)  # ceil(0.75 x 60) business minutes
    assert alarm.occasion == f"clock:{clock.pk}"


def test_the_sweep_fires_once_when_due_and_not_before(manager, clock_ticket):
    ticket, _ = clock_ticket
    with time_machine.travel(T0, tick=False):
        rule = time_rule(manager)
    with time_machine.travel(T0 + timedelta(minutes=44, seconds=59), tick=False):
        assert sweep_time_rules().due == 0
    with time_machine.travel(T0 + timedelta(minutes=45), tick=False):
        result = sweep_time_rules()
        assert (result.due, result.fired) == (1, 1)
        assert sweep_time_rules().due == 0  # the alarm is gone; nothing twice
    firing = RuleFiring.objects.get()
    assert (firing.rule, firing.ticket, firing.outcome) == (rule, ticket, FiringOutcome.FIRED)
    assert firing.fired_at == T0 + timedelta(minutes=45)
    assert Message.objects.filter(ticket=ticket, is_internal=True).count() == 1
    event = TicketEvent.objects.get(ticket=ticket, kind=EventKind.RULE_FIRED)
    assert event.data["occasion"] == firing.occasion
    # A change of the ticket later recomputes its alarms; the fired occasion gets none again.
    with time_machine.travel(T0 + timedelta(minutes=50), tick=False):
        change_ticket_status(ticket=ticket, new_status="on_hold", actor=None)
        assert not RuleAlarm.objects.exists()
        assert sweep_time_rules().fired == 0


def test_a_ticket_that_moved_on_loses_its_alarm(manager, clock_ticket):
    ticket, _ = clock_ticket
    with time_machine.travel(T0, tick=False):
        time_rule(manager)
        assert RuleAlarm.objects.count() == 1
        change_ticket_status(ticket=ticket, new_status="solved", actor=None)
        assert not RuleAlarm.objects.exists()


def test_the_sweep_rechecks_the_conditions(manager, clock_ticket):
    ticket, _ = clock_ticket
    with time_machine.travel(T0, tick=False):
        time_rule(
            manager,
            conditions=[*WARN_75, {"field": "priority", "op": "in", "value": ["urgent"]}],
        )
    assert RuleAlarm.objects.count() == 0  # the priority does not match: no candidate
    ticket.priority = "urgent"
    ticket.save()
    with time_machine.travel(T0, tick=False):
        save_rule(
            actor=manager,
            rule=None,
            data={
                "name": "Other",
                "trigger": "time",
                "conditions": WARN_75,
                "actions": NOTE,
            },
        )
    ticket.priority = "low"  # changed behind the alarm's back (no service, no refresh)
    ticket.save()
    with time_machine.travel(T0 + timedelta(minutes=46), tick=False):
        result = sweep_time_rules()
    assert result.fired == 1  # "Other" has no priority condition
    assert RuleFiring.objects.get().rule.name == "Other"


def test_minutes_to_breach_and_breached_alarms(manager, clock_ticket):
    _ticket, _clock = clock_ticket
    with time_machine.travel(T0, tick=False):
        near = time_rule(
            manager,
            name="Near",
            conditions=[{"field": "sla.minutes_to_breach", "op": "lte", "value": 10}],
        )
        late = time_rule(
            manager, name="Late", conditions=[{"field": "sla.breached", "op": "is", "value": True}]
        )
    assert RuleAlarm.objects.get(rule=near).due_at == T0 + timedelta(minutes=50)
    assert RuleAlarm.objects.get(rule=late).due_at == T0 + timedelta(minutes=60)
    with time_machine.travel(T0 + timedelta(minutes=61), tick=False):
        assert sweep_time_rules().fired == 2


def test_waiting_on_the_customer_fires_again_after_each_new_message(manager, customer, agent):
    with time_machine.travel(T0, tick=False):
        ticket = TicketFactory(status="open", customer=customer)
        time_rule(
            manager,
            name="Nudge",
            conditions=[{"field": "time.since_customer_message", "op": "gte", "value": 30}],
        )
        assert not RuleAlarm.objects.exists()  # no customer message yet
        post_message(ticket=ticket, author=customer.user, body="Hello?")
    alarm = RuleAlarm.objects.get()
    assert alarm.due_at == T0 + timedelta(minutes=30)
    with time_machine.travel(T0 + timedelta(minutes=31), tick=False):
        assert sweep_time_rules().fired == 1
        post_message(ticket=ticket, author=customer.user, body="Still there?")
    assert RuleAlarm.objects.get().due_at == T0 + timedelta(minutes=61)
    with time_machine.travel(T0 + timedelta(minutes=61), tick=False):
        assert sweep_time_rules().fired == 1
    assert RuleFiring.objects.count() == 2
    assert len(set(RuleFiring.objects.values_list("occasion", flat=True))) == 2


def test_since_agent_reply(manager, customer, agent):
    with time_machine.travel(T0, tick=False):
        ticket = TicketFactory(status="open", customer=customer)
        post_message(ticket=ticket, author=agent, body="We are looking")
        time_rule(
            manager,
            name="Follow up",
            conditions=[{"field": "time.since_agent_reply", "op": "gte", "value": 120}],
        )
    assert RuleAlarm.objects.get().due_at == T0 + timedelta(minutes=120)


def test_a_failing_time_rule_does_not_stop_the_sweep(manager, clock_ticket):
    ticket, _ = clock_ticket
    doomed = TeamFactory(name="Doomed")
    with time_machine.travel(T0, tick=False):
        time_rule(
            manager, name="Broken", position=1, actions=[{"type": "assign_team", "team": doomed.pk}]
        )
        time_rule(manager, name="Fine", position=2)
    Team.objects.filter(pk=doomed.pk).update(is_active=False)
    with time_machine.travel(T0 + timedelta(minutes=45), tick=False):
        result = sweep_time_rules()
    assert (result.fired, result.failed) == (1, 1)
    assert TicketEvent.objects.filter(ticket=ticket, kind=EventKind.RULE_FAILED).count() == 1
    assert TicketEvent.objects.filter(ticket=ticket, kind=EventKind.RULE_FIRED).count() == 1


def test_an_inactive_rule_has_no_alarms_and_the_task_sweeps(manager, clock_ticket):
    with time_machine.travel(T0, tick=False):
        rule = time_rule(manager)
        save_rule(actor=manager, rule=rule, data={"is_active": False})
    assert not RuleAlarm.objects.exists()
    with time_machine.travel(T0, tick=False):
        save_rule(actor=manager, rule=rule, data={"is_active": True})
    with time_machine.travel(T0 + timedelta(minutes=45), tick=False):
        assert slas_tasks.sweep_time_rules() == {"due": 1, "fired": 1, "failed": 0, "skipped": 0}


def test_an_event_rule_never_gets_alarms(manager, clock_ticket):
    with time_machine.travel(T0, tick=False):
        save_rule(
            actor=manager,
            rule=None,
            data={
                "name": "Event",
                "trigger": "event",
                "conditions": WARN_75,
                "actions": NOTE,
            },
        )
    assert not RuleAlarm.objects.exists()


def test_the_beat_sweeps_time_rules_every_15_seconds():
    from helpdesk.celery import app

    entry = app.conf.beat_schedule["sweep-time-rules"]
    assert entry["task"] == "slas.tasks.sweep_time_rules"
    assert entry["schedule"] <= 15  # a warning fires within 60 s of its threshold
    assert entry["options"]["expires"] < entry["schedule"]
    assert "slas.tasks.sweep_time_rules" in app.tasks
