"""The time-rule sweep works per rule on batches of due alarms: a fixed number of queries
whatever the batch's size, one ticket's failure is that ticket's alone, rules mix in one sweep,
and a ticket someone else holds waits for the next sweep."""

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
import time_machine
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings as django_settings
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.models import Tag
from slas.models import FiringOutcome, RuleAlarm, RuleFiring
from slas.rules import conditions
from slas.rules.alarms import refresh_alarms_of_tickets, refresh_ticket_alarms
from slas.rules.engine import sweep_time_rules
from tests.factories import AgentFactory, TicketFactory
from tests.slas import rules_world
from tickets import events
from tickets.models import EventKind, Message, Notification, Ticket, TicketEvent
from tickets.services import MAX_TAGS_PER_TICKET

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
WARN_75 = [{"field": "sla.percent_elapsed", "op": "gte", "value": 75, "target": "first_reply"}]
ESCALATE = [
    {"type": "set_escalation_level", "level": 2},
    {"type": "notify", "to": "assignee", "message": "75 % used"},
]


def time_rule(manager, **data):
    data.setdefault("trigger", "time")
    data.setdefault("conditions", WARN_75)
    data.setdefault("actions", ESCALATE)
    return rules_world.rule(manager, **data)


def clock_tickets(count: int, **fields) -> list:
    """`count` open tickets whose first-reply clock started at T0 (75 % of 60 min at +45)."""
    with time_machine.travel(T0, tick=False):
        tickets = [TicketFactory(status="open", **fields) for _ in range(count)]
        for ticket in tickets:
            rules_world.clock(ticket, minutes=60, started_at=T0)
    return tickets


def sweep_counting_queries() -> tuple[object, int]:
    conditions._calendars.clear()  # each sweep reads its calendars afresh, as a new worker does
    with CaptureQueriesContext(connection) as queries:
        result = sweep_time_rules()
    return result, len(queries)


def test_a_sweep_costs_the_same_queries_for_10_and_100_due_alarms(manager, agent):
    with time_machine.travel(T0, tick=False):
        time_rule(manager, name="Escalate")
    swept = []
    for count, minute in ((10, 45), (100, 46)):
        # Tickets created after the rule get their alarms from their clocks' refresh.
        tickets = clock_tickets(count, assignee=agent)
        with time_machine.travel(T0, tick=False):
            refresh_alarms_of_tickets(tickets=tickets)
        with time_machine.travel(T0 + timedelta(minutes=minute), tick=False):
            swept.append(sweep_counting_queries())
    (small, small_queries), (large, large_queries) = swept
    assert (small.due, small.fired, large.due, large.fired) == (10, 10, 100, 100)
    assert small_queries == large_queries
    assert Ticket.objects.filter(escalation_level=2).count() == 110
    assert Notification.objects.filter(kind="escalation", recipient=agent.email).count() == 110
    fired = TicketEvent.objects.filter(kind=EventKind.RULE_FIRED)
    assert fired.count() == 110
    assert fired.first().data["done"] == [
        {"type": "set_escalation_level", "from": 0, "to": 2},
        {"type": "notify", "to": "assignee", "user": agent.pk},
    ]
    assert TicketEvent.objects.filter(kind=EventKind.ESCALATED).count() == 110
    assert not RuleAlarm.objects.exists()


def test_one_tickets_failing_action_is_its_failed_firing_and_the_others_fire(manager):
    Tag.objects.create(name="late")
    full = [Tag.objects.create(name=f"t{i}") for i in range(MAX_TAGS_PER_TICKET)]
    tickets = clock_tickets(3)
    tickets[1].tags.set(full)  # no room for one more tag: set_ticket_tags refuses
    with time_machine.travel(T0, tick=False):
        time_rule(manager, name="Tag late", actions=[{"type": "add_tag", "tag": "late"}])
    with time_machine.travel(T0 + timedelta(minutes=45), tick=False):
        result = sweep_time_rules()
    assert (result.due, result.fired, result.failed) == (3, 2, 1)
    outcomes = dict(RuleFiring.objects.values_list("ticket_id", "outcome"))
    assert outcomes == {
        tickets[0].pk: FiringOutcome.FIRED,
        tickets[1].pk: FiringOutcome.FAILED,
        tickets[2].pk: FiringOutcome.FIRED,
    }
    failed = RuleFiring.objects.get(ticket=tickets[1])
    assert "tags" in failed.error.lower() or str(MAX_TAGS_PER_TICKET) in failed.error
    assert failed.done == []
    assert [t.tags.filter(name="late").exists() for t in tickets] == [True, False, True]
    assert TicketEvent.objects.get(kind=EventKind.RULE_FAILED).ticket_id == tickets[1].pk
    assert TicketEvent.objects.filter(kind=EventKind.RULE_FIRED).count() == 2


def test_a_bulk_rule_that_fails_fails_on_every_ticket_and_changes_nothing(manager):
    gone = AgentFactory(username="gone")
    tickets = clock_tickets(2)
    with time_machine.travel(T0, tick=False):
        time_rule(
            manager,
            name="Escalate and tell",
            actions=[
                {"type": "set_escalation_level", "level": 1},
                {"type": "notify", "to": "user", "user": gone.pk},
            ],
        )
    gone.delete()
    with time_machine.travel(T0 + timedelta(minutes=45), tick=False):
        result = sweep_time_rules()
    assert (result.fired, result.failed) == (0, 2)
    assert set(RuleFiring.objects.values_list("outcome", flat=True)) == {FiringOutcome.FAILED}
    # The escalation done before the notice failed was rolled back with it, ticket by ticket.
    assert [Ticket.objects.get(pk=t.pk).escalation_level for t in tickets] == [0, 0]
    assert not TicketEvent.objects.filter(kind=EventKind.ESCALATED).exists()
    assert TicketEvent.objects.filter(kind=EventKind.RULE_FAILED).count() == 2


def test_mixed_rules_fire_in_one_sweep(manager):
    tickets = clock_tickets(4)
    with time_machine.travel(T0, tick=False):
        time_rule(manager, name="Escalate", position=1, actions=ESCALATE[:1])
        time_rule(
            manager,
            name="Raise and note",
            position=2,
            actions=[
                {"type": "set_priority", "priority": "high"},
                {"type": "add_note", "body": "Raised by the sweep"},
            ],
        )
        time_rule(
            manager,
            name="Breached",
            conditions=[{"field": "sla.breached", "op": "is", "value": True}],
            actions=ESCALATE[:1],
        )
    assert RuleAlarm.objects.count() == 12
    with time_machine.travel(T0 + timedelta(minutes=45), tick=False):
        result = sweep_time_rules()
    assert (result.due, result.fired, result.failed, result.skipped) == (8, 8, 0, 0)
    for ticket in Ticket.objects.filter(pk__in=[t.pk for t in tickets]):
        assert (ticket.escalation_level, ticket.priority) == (2, "high")
        assert Message.objects.filter(ticket=ticket, is_internal=True).count() == 1
    assert RuleFiring.objects.count() == 8
    # The new priority re-ran the clocks, and the sweep refreshed every time rule's alarms
    # after it: they are what a ticket change would leave (the one-ticket refresh).
    after_sweep = set(RuleAlarm.objects.values_list("rule_id", "ticket_id", "occasion", "due_at"))
    with time_machine.travel(T0 + timedelta(minutes=45), tick=False):
        for ticket in Ticket.objects.filter(pk__in=[t.pk for t in tickets]):
            refresh_ticket_alarms(ticket=ticket)
    assert (
        set(RuleAlarm.objects.values_list("rule_id", "ticket_id", "occasion", "due_at"))
        == after_sweep
    )
    assert not RuleAlarm.objects.exclude(rule__name="Breached").exists()


def test_two_due_occasions_of_one_rule_on_one_ticket_fire_one_after_the_other(manager):
    (ticket,) = clock_tickets(1)
    with time_machine.travel(T0, tick=False):
        rules_world.clock(ticket, target="resolution", minutes=60, started_at=T0)
        time_rule(
            manager,
            name="Any target",
            conditions=[{"field": "sla.percent_elapsed", "op": "gte", "value": 75}],
            actions=ESCALATE[:1],
        )
    assert RuleAlarm.objects.count() == 2
    with time_machine.travel(T0 + timedelta(minutes=45), tick=False):
        assert sweep_time_rules().fired == 2
    done = [firing.done for firing in RuleFiring.objects.order_by("id")]
    assert done == [
        [{"type": "set_escalation_level", "from": 0, "to": 2}],
        [{"type": "set_escalation_level", "kept": 2}],  # the second saw what the first did
    ]


def test_a_ticket_that_no_longer_matches_gets_its_alarm_moved(manager, customer):
    with time_machine.travel(T0, tick=False):
        ticket = TicketFactory(status="open", customer=customer, last_customer_message_at=T0)
        time_rule(
            manager,
            name="Nudge",
            conditions=[{"field": "time.since_customer_message", "op": "gte", "value": 30}],
            actions=ESCALATE[:1],
        )
    assert RuleAlarm.objects.get().due_at == T0 + timedelta(minutes=30)
    # A newer message written behind the alarm's back (no service, so no refresh).
    Ticket.objects.filter(pk=ticket.pk).update(last_customer_message_at=T0 + timedelta(minutes=20))
    with time_machine.travel(T0 + timedelta(minutes=31), tick=False):
        result = sweep_time_rules()
    assert (result.fired, result.skipped) == (0, 1)
    assert RuleAlarm.objects.get().due_at == T0 + timedelta(minutes=50)


@pytest.fixture
async def private_layer(settings):
    layer = dict(django_settings.CHANNEL_LAYERS["default"])
    if "CONFIG" in layer:  # Redis pub/sub is shared by every test run: our own prefix
        layer["CONFIG"] = {**layer["CONFIG"], "prefix": f"test{uuid4().hex[:12]}"}
        settings.CHANNEL_LAYERS = {"default": layer}
    yield get_channel_layer()
    await get_channel_layer().flush()


@pytest.mark.django_db(transaction=True)
async def test_the_sweeps_escalations_reach_the_agent_stream_after_commit(private_layer, manager):
    layer = private_layer
    channel = await layer.new_channel()
    await layer.group_add(events.AGENT_STREAM_GROUP, channel)

    @database_sync_to_async
    def sweep_two() -> list[int]:
        started = timezone.now() - timedelta(minutes=50)
        tickets = [TicketFactory(status="open") for _ in range(2)]
        for ticket in tickets:
            rules_world.clock(ticket, minutes=60, started_at=started)
        time_rule(manager, name="Escalate", actions=ESCALATE[:1])
        assert sweep_time_rules().fired == 2
        return sorted(ticket.pk for ticket in tickets)

    ticket_ids = await sweep_two()
    received = [await asyncio.wait_for(layer.receive(channel), timeout=3) for _ in ticket_ids]
    escalated = [m["event"] for m in received if m["event"]["type"] == "ticket.escalated"]
    assert sorted(e["ticket"]["id"] for e in escalated) == ticket_ids
    assert escalated[0]["change"] == {"field": "escalation_level", "from": 0, "to": 2}


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_ticket_held_by_another_transaction_waits_for_the_next_sweep(manager):
    started = timezone.now() - timedelta(minutes=50)
    tickets = [TicketFactory(status="open") for _ in range(3)]
    for ticket in tickets:
        rules_world.clock(ticket, minutes=60, started_at=started)
    time_rule(manager, name="Escalate", actions=ESCALATE[:1])
    held, release = threading.Event(), threading.Event()

    def hold_the_ticket() -> None:  # an agent's change, mid-transaction, on its own connection
        try:
            with transaction.atomic():
                Ticket.objects.select_for_update().get(pk=tickets[1].pk)
                held.set()
                release.wait(timeout=30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_ticket)
    holder.start()
    try:
        assert held.wait(timeout=10)
        first = sweep_time_rules()
    finally:
        release.set()
        holder.join(timeout=30)
    assert (first.due, first.fired, first.skipped) == (3, 2, 1)
    assert RuleAlarm.objects.get().ticket_id == tickets[1].pk  # still due
    second = sweep_time_rules()
    assert (second.due, second.fired) == (1, 1)
    assert sorted(RuleFiring.objects.values_list("ticket_id", flat=True)) == sorted(
        t.pk for t in tickets
    )
