"""Event rules: every condition and action, run order, once per change, no loops, a failing
rule recorded while the others and the change go on; the escalation email and live notice."""

import asyncio
from datetime import timedelta
from uuid import uuid4

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings as django_settings
from django.core import mail
from django.db import transaction
from django.utils import timezone

from accounts.live import user_streams_group
from accounts.models import Team
from core.errors import RuleBroken
from slas.models import FiringOutcome, RuleFiring
from slas.rules.conditions import ticket_matches
from slas.rules.validation import clean_condition
from tests.factories import (
    CustomerFactory,
    OrganizationFactory,
    TagFactory,
    TeamFactory,
    TicketFactory,
    TierFactory,
)
from tests.slas import rules_world
from tickets import tasks
from tickets.models import EventKind, Message, Notification, SenderKind, TicketEvent
from tickets.services import (
    change_ticket_priority,
    change_ticket_status,
    post_message,
    set_ticket_tags,
)

pytestmark = pytest.mark.django_db

ON_PRIORITY_HIGH = [{"field": "priority", "op": "in", "value": ["high"]}]


@pytest.fixture
def world(db, team, agent):
    gold = TierFactory(name="Gold", slug="gold", rank=2)
    acme = OrganizationFactory(name="Acme")
    customer = CustomerFactory(with_login=True, tier=gold, organization=acme, lifetime_value=2500)
    vip = TagFactory(name="vip")
    TagFactory(name="calm")
    ticket = TicketFactory(
        customer=customer,
        status="open",
        priority="high",
        type="incident",
        channel="email",
        team=team,
        assignee=agent,
    )
    ticket.tags.set([vip])
    post_message(ticket=ticket, author=customer.user, body="<p>I want a REFUND today</p>")
    post_message(ticket=ticket, author=agent, body="On it")
    now = timezone.now()
    rules_world.clock(ticket, minutes=100, started_at=now - timedelta(minutes=80))
    ticket.refresh_from_db()
    return {"ticket": ticket, "gold": gold, "acme": acme, "team": team, "agent": agent}


def condition(field, op, value=None, **extra):
    raw = {"field": field, "op": op, **extra}
    if value is not None:
        raw["value"] = value
    return raw


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (condition("status", "in", ["open", "new"]), True),
        (condition("status", "not_in", ["open"]), False),
        (condition("priority", "in", ["high"]), True),
        (condition("priority", "not_in", ["high"]), False),
        (condition("type", "in", ["incident"]), True),
        (condition("type", "in", ["question"]), False),
        (condition("channel", "in", ["email"]), True),
        (condition("channel", "not_in", ["email", "web"]), False),
        (condition("team", "is_set"), True),
        (condition("team", "is_not_set"), False),
        (condition("assignee", "is_set"), True),
        (condition("assignee", "is_not_set"), False),
        (condition("tags", "has_any", ["vip", "calm"]), True),
        (condition("tags", "has_all", ["vip", "calm"]), False),
        (condition("tags", "has_none", ["calm"]), True),
        (condition("tags", "has_none", ["vip"]), False),
        (condition("customer.lifetime_value", "gte", 2000), True),
        (condition("customer.lifetime_value", "lte", 2000), False),
        (condition("customer.organization", "is_set"), True),
        (condition("customer.organization", "is_not_set"), False),
        (condition("sla.percent_elapsed", "gte", 75), True),  # 80 of 100 minutes
        (condition("sla.percent_elapsed", "gte", 85), False),
        (condition("sla.percent_elapsed", "gte", 75, target="resolution"), False),
        (condition("sla.minutes_to_breach", "lte", 20), True),  # due in 20
        (condition("sla.minutes_to_breach", "lte", 10), False),
        (condition("sla.breached", "is", False), True),
        (condition("sla.breached", "is", True), False),
        (condition("time.since_customer_message", "gte", 0), True),
        (condition("time.since_customer_message", "gte", 5), False),
        (condition("time.since_agent_reply", "gte", 0), True),
        (condition("time.since_agent_reply", "gte", 5), False),
        (condition("message.keywords", "contains_any", ["refund", "chargeback"]), True),
        (condition("message.keywords", "contains_any", ["lawyer"]), False),
    ],
)
def test_every_condition(world, raw, expected):
    cleaned = clean_condition(raw, 0)
    assert ticket_matches(world["ticket"], [cleaned], now=timezone.now()) is expected


def test_id_conditions(world, other_agent):
    ticket, now = world["ticket"], timezone.now()
    other_team = TeamFactory(name="Billing")
    cases = [
        (condition("team", "in", [world["team"].pk]), True),
        (condition("team", "not_in", [world["team"].pk]), False),
        (condition("team", "in", [other_team.pk]), False),
        (condition("assignee", "in", [world["agent"].pk]), True),
        (condition("assignee", "in", [other_agent.pk]), False),
        (condition("customer.tier", "in", [world["gold"].pk]), True),
        (condition("customer.tier", "not_in", [world["gold"].pk]), False),
        (condition("customer.organization", "in", [world["acme"].pk]), True),
    ]
    for raw, expected in cases:
        assert ticket_matches(ticket, [clean_condition(raw, 0)], now=now) is expected, raw


def test_not_in_matches_an_unset_team(world, team):
    ticket = TicketFactory(status="open", team=None)
    cleaned = clean_condition(condition("team", "not_in", [team.pk]), 0)
    assert ticket_matches(ticket, [cleaned], now=timezone.now())


def test_a_breached_clock_and_a_paused_one(world):
    ticket = TicketFactory(status="open")
    now = timezone.now()
    rules_world.clock(ticket, minutes=10, started_at=now - timedelta(minutes=30))
    rules_world.clock(
        ticket,
        target="resolution",
        minutes=10,
        started_at=now - timedelta(minutes=30),
        state="paused",
    )
    breached = clean_condition(condition("sla.breached", "is", True, target="first_reply"), 0)
    paused = clean_condition(condition("sla.breached", "is", True, target="resolution"), 0)
    assert ticket_matches(ticket, [breached], now=now)
    assert not ticket_matches(ticket, [paused], now=now)  # a paused clock is not running late


def test_percent_counts_business_time_only(world):
    """Started Friday 16:00 Paris with a 120-minute target in a 09-17 weekday calendar: on
    Saturday nothing more is used, so 75 % (90 min) is reached only Monday 09:30."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    paris = ZoneInfo("Europe/Paris")
    office = rules_world.calendar("Office", rules_world.OFFICE)
    ticket = TicketFactory(status="open")
    start = datetime(2026, 11, 27, 16, 0, tzinfo=paris)  # a Friday
    rules_world.clock(ticket, minutes=120, started_at=start, cal=office)
    cond = [clean_condition(condition("sla.percent_elapsed", "gte", 75), 0)]
    assert not ticket_matches(ticket, cond, now=datetime(2026, 11, 28, 12, 0, tzinfo=paris))
    assert not ticket_matches(ticket, cond, now=datetime(2026, 11, 30, 9, 29, tzinfo=paris))
    assert ticket_matches(ticket, cond, now=datetime(2026, 11, 30, 9, 30, tzinfo=paris))


# --- actions, fired by event rules ------------------------------------------------------------


def fire_on_priority_change(world, manager, actions, *, to="high"):
    rules_world.rule(manager, name="On high", conditions=ON_PRIORITY_HIGH, actions=actions)
    ticket = world["ticket"]
    change_ticket_priority(ticket=ticket, priority="normal", actor=world["agent"])
    change_ticket_priority(ticket=ticket, priority=to, actor=world["agent"])
    ticket.refresh_from_db()
    return ticket


def test_action_raise_priority_never_lowers(world, manager):
    ticket = fire_on_priority_change(
        world, manager, [{"type": "set_priority", "priority": "urgent"}]
    )
    assert ticket.priority == "urgent"
    firing = RuleFiring.objects.get()
    assert firing.done == [{"type": "set_priority", "from": "high", "to": "urgent"}]
    lowering = rules_world.rule(
        manager, name="Lower", actions=[{"type": "set_priority", "priority": "low"}]
    )
    change_ticket_priority(ticket=ticket, priority="high", actor=world["agent"])
    ticket.refresh_from_db()
    # The first rule raised it again; "low" never applies.
    assert ticket.priority == "urgent"
    assert RuleFiring.objects.get(rule=lowering).done == [
        {"type": "set_priority", "kept": "urgent"}
    ]


def test_action_assign_team_and_agent(world, manager, other_agent):
    billing = TeamFactory(name="Billing")
    ticket = fire_on_priority_change(
        world,
        manager,
        [
            {"type": "assign_team", "team": billing.pk},
            {"type": "assign_agent", "agent": other_agent.pk},
        ],
    )
    assert ticket.team == billing
    assert ticket.assignee == other_agent
    kinds = list(TicketEvent.objects.filter(ticket=ticket).values_list("kind", flat=True))
    assert EventKind.TEAM_CHANGED in kinds
    assert EventKind.ASSIGNEE_CHANGED in kinds
    # The assignment's own email to the agent, as with any assignment.
    assert Notification.objects.filter(kind="ticket_assigned", recipient=other_agent.email).exists()


def test_action_add_tag_and_note_and_escalation(world, manager):
    ticket = fire_on_priority_change(
        world,
        manager,
        [
            {"type": "add_tag", "tag": "calm"},
            {"type": "add_note", "body": "Call them <now>"},
            {"type": "set_escalation_level", "level": 2},
        ],
    )
    assert sorted(ticket.tags.values_list("name", flat=True)) == ["calm", "vip"]
    note = Message.objects.filter(ticket=ticket, is_internal=True).get()
    assert note.author is None
    assert note.sender == SenderKind.SYSTEM
    assert "Call them &lt;now&gt;" in note.body
    assert ticket.escalation_level == 2
    fired = TicketEvent.objects.get(ticket=ticket, kind=EventKind.RULE_FIRED)
    assert fired.data["name"] == "On high"
    assert fired.data["reasons"] == ["Priority is High (is one of high)"]
    assert [d["type"] for d in fired.data["done"]] == [
        "add_tag",
        "add_note",
        "set_escalation_level",
    ]


def test_action_notify_writes_the_escalation_email(
    world, manager, django_capture_on_commit_callbacks
):
    world["team"].manager = manager
    world["team"].save()
    with django_capture_on_commit_callbacks(execute=False):
        fire_on_priority_change(
            world,
            manager,
            [
                {"type": "notify", "to": "assignee", "message": "Gold customer waiting"},
                {"type": "notify", "to": "team_manager"},
            ],
        )
    owed = Notification.objects.filter(kind=Notification.Kind.ESCALATION).order_by("id")
    assert [n.recipient for n in owed] == [world["agent"].email, manager.email]
    assert owed[0].context["rule"]["name"] == "On high"
    subject, body = tasks.render_notification(owed[0])
    assert subject.startswith(f"[{world['ticket'].reference}] Escalation (On high)")
    assert "Gold customer waiting" in body
    assert "Priority is High" in body


def test_notify_with_nobody_to_tell_is_not_a_failure(world, manager):
    ticket = fire_on_priority_change(world, manager, [{"type": "notify", "to": "team_manager"}])
    firing = RuleFiring.objects.get()
    assert firing.outcome == FiringOutcome.FIRED
    assert firing.done == [{"type": "notify", "to": "team_manager", "skipped": "nobody to notify"}]
    assert not Notification.objects.filter(ticket=ticket, kind="escalation").exists()


@pytest.fixture
async def private_layer(settings):
    layer = dict(django_settings.CHANNEL_LAYERS["default"])
    if "CONFIG" in layer:
        layer["CONFIG"] = {**layer["CONFIG"], "prefix": f"test{uuid4().hex[:12]}"}
        settings.CHANNEL_LAYERS = {"default": layer}
    yield get_channel_layer()
    await get_channel_layer().flush()


@pytest.mark.django_db(transaction=True)
async def test_notify_reaches_the_recipients_stream_after_commit(private_layer, manager, agent):
    layer = private_layer
    channel = await layer.new_channel()
    await layer.group_add(user_streams_group(agent.pk), channel)

    @database_sync_to_async
    def setup_and_change() -> int:
        rules_world.rule(
            manager,
            name="Tell",
            conditions=ON_PRIORITY_HIGH,
            actions=[{"type": "notify", "to": "user", "user": agent.pk, "message": "Look"}],
        )
        ticket = TicketFactory(status="open")
        with transaction.atomic():
            change_ticket_priority(ticket=ticket, priority="high", actor=None)
            async_to_sync(layer.group_send)(
                user_streams_group(agent.pk), {"type": "relay.event", "event": {"type": "marker"}}
            )
        return ticket.pk

    ticket_id = await setup_and_change()
    first = await asyncio.wait_for(layer.receive(channel), timeout=3)
    second = await asyncio.wait_for(layer.receive(channel), timeout=3)
    assert first["event"]["type"] == "marker"  # nothing left before the commit
    event = second["event"]
    assert event["type"] == "rule.notified"
    assert event["ticket"]["id"] == ticket_id
    assert event["recipient"] == agent.pk
    assert event["rule"]["name"] == "Tell"
    assert event["message"] == "Look"
    assert event["reasons"] == ["Priority is High (is one of high)"]


# --- order, once per change, loops, failures ---------------------------------------------------


def test_rules_run_in_position_order_once_per_change(world, manager):
    second = rules_world.rule(
        manager, name="Second", position=2, actions=[{"type": "add_note", "body": "two"}]
    )
    first = rules_world.rule(
        manager, name="First", position=1, actions=[{"type": "add_note", "body": "one"}]
    )
    ticket = world["ticket"]
    change_ticket_status(ticket=ticket, new_status="pending", actor=world["agent"])
    status_event = TicketEvent.objects.filter(ticket=ticket, kind=EventKind.STATUS_CHANGED).latest(
        "id"
    )
    notes = list(Message.objects.filter(ticket=ticket, is_internal=True).order_by("id"))
    assert ["one" in n.body for n in notes] == [True, False]
    firings = RuleFiring.objects.filter(ticket=ticket).order_by("id")
    assert [f.rule for f in firings] == [first, second]
    assert {f.occasion for f in firings} == {f"event:{status_event.pk}"}
    # The notes the rules wrote are changes too, but made by rules: no firing on them.
    assert RuleFiring.objects.count() == 2
    # A new change is a new occasion.
    change_ticket_status(ticket=ticket, new_status="open", actor=world["agent"])
    assert RuleFiring.objects.count() == 4


def test_a_customer_reply_that_reopens_is_one_change_for_the_rules(world, manager):
    # The reply records two events (message_posted, then status_changed pending -> open):
    # one change, so a rule that matches it fires once, for the message.
    rules_world.rule(manager, name="Reply", actions=[{"type": "add_tag", "tag": "calm"}])
    ticket = world["ticket"]
    change_ticket_status(ticket=ticket, new_status="pending", actor=world["agent"])
    before = RuleFiring.objects.count()
    message = post_message(ticket=ticket, author=ticket.customer.user, body="Still broken")
    ticket.refresh_from_db()
    assert ticket.status == "open"
    reply_event = TicketEvent.objects.get(
        ticket=ticket, kind=EventKind.MESSAGE_POSTED, data__message=message.pk
    )
    firings = list(RuleFiring.objects.order_by("id")[before:])
    assert [f.occasion for f in firings] == [f"event:{reply_event.pk}"]
    assert TicketEvent.objects.filter(ticket=ticket, kind=EventKind.STATUS_CHANGED).latest(
        "id"
    ).data == {"from": "pending", "to": "open"}


def test_a_change_of_several_fields_is_told_once_on_the_finished_ticket(world, manager):
    from tickets.services import update_ticket
    from tickets.signals import ticket_changed

    seen = []

    def listen(sender, *, ticket, event, **kwargs):
        seen.append((ticket.priority, ticket.type, event.kind))

    ticket_changed.connect(listen, dispatch_uid="test.one_change")
    try:
        rules_world.rule(
            manager,
            name="Urgent incidents",
            conditions=[
                {"field": "priority", "op": "in", "value": ["urgent"]},
                {"field": "type", "op": "in", "value": ["problem"]},
            ],
            # A quiet action: it tells nobody, so `seen` holds only the PATCH.
            actions=[{"type": "set_escalation_level", "level": 1}],
        )
        ticket = world["ticket"]
        update_ticket(
            ticket=ticket,
            actor=world["agent"],
            changes={"priority": "urgent", "type": "problem"},
        )
        # Told once, after both fields changed, with the change's first event.
        assert seen == [("urgent", "problem", EventKind.PRIORITY_CHANGED)]
        assert RuleFiring.objects.filter(rule__name="Urgent incidents").count() == 1
        # A change refused halfway rolls back and is told to nobody.
        seen.clear()
        with pytest.raises(RuleBroken):
            update_ticket(
                ticket=ticket,
                actor=world["agent"],
                changes={"priority": "low", "status": "no-such-status"},
            )
        assert seen == []
    finally:
        ticket_changed.disconnect(dispatch_uid="test.one_change")


def test_rules_cannot_trigger_each_other(world, manager):
    # A raises priority when tagged; B tags when the priority is urgent; C lowers nothing but
    # tags on any priority change. Without the guard each would set off the others.
    rules_world.rule(
        manager,
        name="A",
        position=1,
        conditions=[{"field": "tags", "op": "has_any", "value": ["calm"]}],
        actions=[{"type": "set_priority", "priority": "urgent"}],
    )
    rules_world.rule(
        manager,
        name="B",
        position=2,
        conditions=[{"field": "priority", "op": "in", "value": ["urgent"]}],
        actions=[{"type": "add_tag", "tag": "vip"}, {"type": "add_note", "body": "B"}],
    )
    ticket = world["ticket"]
    set_ticket_tags(ticket=ticket, tags=["calm"], actor=world["agent"])
    ticket.refresh_from_db()
    # A fired on the tag change; B saw the urgent priority in the same pass (rules run in
    # order on the ticket as it stands), and nothing fired again on the rules' own changes.
    assert ticket.priority == "urgent"
    assert sorted(RuleFiring.objects.values_list("rule__name", flat=True)) == ["A", "B"]
    assert Message.objects.filter(ticket=ticket, is_internal=True).count() == 1


def test_a_failing_rule_is_recorded_and_the_others_and_the_change_go_on(world, manager):
    doomed_team = TeamFactory(name="Doomed")
    broken = rules_world.rule(
        manager,
        name="Broken",
        position=1,
        actions=[
            {"type": "add_note", "body": "first"},
            {"type": "assign_team", "team": doomed_team.pk},
        ],
    )
    fine = rules_world.rule(
        manager, name="Fine", position=2, actions=[{"type": "add_tag", "tag": "calm"}]
    )
    Team.objects.filter(pk=doomed_team.pk).update(
        is_active=False
    )  # archived after the rule was saved
    ticket = world["ticket"]
    change_ticket_status(ticket=ticket, new_status="pending", actor=world["agent"])
    ticket.refresh_from_db()
    assert ticket.status == "pending"  # the change itself went through
    failed = RuleFiring.objects.get(rule=broken)
    assert failed.outcome == FiringOutcome.FAILED
    assert "archived" in failed.error
    # The failed rule's earlier action was rolled back with it.
    assert not Message.objects.filter(ticket=ticket, is_internal=True).exists()
    event = TicketEvent.objects.get(ticket=ticket, kind=EventKind.RULE_FAILED)
    assert event.data["name"] == "Broken"
    assert "archived" in event.data["error"]
    assert RuleFiring.objects.get(rule=fine).outcome == FiringOutcome.FIRED
    assert "calm" in ticket.tags.values_list("name", flat=True)


def test_inactive_rules_and_rules_not_matching_do_not_fire(world, manager):
    rules_world.rule(manager, name="Off", is_active=False)
    rules_world.rule(
        manager, name="Other", conditions=[{"field": "channel", "op": "in", "value": ["chat"]}]
    )
    change_ticket_status(ticket=world["ticket"], new_status="pending", actor=world["agent"])
    assert not RuleFiring.objects.exists()


def test_a_new_ticket_fires_event_rules(manager, customer):
    from tickets.services import open_ticket

    rules_world.rule(
        manager,
        name="Keyword",
        conditions=[{"field": "message.keywords", "op": "contains_any", "value": ["chargeback"]}],
        actions=[{"type": "set_priority", "priority": "urgent"}],
    )
    ticket = open_ticket(
        customer=customer, subject="Help", body="I will file a Chargeback", actor=customer.user
    )
    ticket.refresh_from_db()
    assert ticket.priority == "urgent"
    assert TicketEvent.objects.filter(ticket=ticket, kind=EventKind.RULE_FIRED).count() == 1


def test_escalation_email_is_sent_by_the_worker_code(world, manager):
    world["team"].manager = manager
    world["team"].save()
    fire_on_priority_change(world, manager, [{"type": "notify", "to": "team_manager"}])
    notification = Notification.objects.get(kind="escalation")
    assert tasks.send_notification.run(notification.pk) == "sent"
    assert mail.outbox[-1].to == [manager.email]
    assert "Escalation (On high)" in mail.outbox[-1].subject
