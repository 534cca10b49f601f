"""save_rule's validation (every refusal names its place), the catalog and the dry run."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.errors import RuleBroken
from slas.models import EscalationRule, RuleTrigger
from slas.rules.catalog import catalog_as_json
from slas.services import RULE_ACTIONS, RULE_CONDITION_FIELDS, dry_run_rule, save_rule
from tests.factories import (
    CustomerFactory,
    OrganizationFactory,
    TagFactory,
    TeamFactory,
    TicketFactory,
    TierFactory,
)
from tests.slas import rules_world

pytestmark = pytest.mark.django_db

NOTE = [{"type": "add_note", "body": "Check."}]


def refused(manager, data, *, rule=None) -> RuleBroken:
    with pytest.raises(RuleBroken) as caught:
        save_rule(actor=manager, rule=rule, data=data)
    return caught.value


def test_a_valid_rule_is_saved_normalized(manager, team, agent):
    tag = TagFactory(name="vip")
    rule = save_rule(
        actor=manager,
        rule=None,
        data={
            "name": "  Warn   the team ",
            "trigger": "time",
            "conditions": [
                {"field": "priority", "op": "in", "value": ["urgent", "high", "high"]},
                {"field": "tags", "op": "has_any", "value": ["VIP"]},
                {"field": "sla.percent_elapsed", "op": "gte", "value": 75, "target": "first_reply"},
            ],
            "actions": [{"type": "notify", "to": "team_manager", "message": " Hurry "}],
        },
    )
    assert rule.name == "Warn the team"
    assert rule.trigger == RuleTrigger.TIME and rule.created_by == manager
    assert rule.conditions[0] == {"field": "priority", "op": "in", "value": ["high", "urgent"]}
    assert rule.conditions[1]["value"] == [tag.name]
    assert rule.actions == [{"type": "notify", "to": "team_manager", "message": "Hurry"}]
    assert rule.version == 1
    updated = save_rule(actor=manager, rule=rule, data={"position": 3})
    assert updated.version == 2 and updated.position == 3 and updated.name == "Warn the team"


@pytest.mark.parametrize(
    ("condition", "field"),
    [
        ({"field": "nope", "op": "in", "value": [1]}, "conditions.1.field"),
        ({"field": "status", "op": "gte", "value": ["open"]}, "conditions.1.op"),
        ({"field": "status", "op": "in", "value": "open"}, "conditions.1.value"),
        ({"field": "status", "op": "in", "value": ["opened"]}, "conditions.1.value"),
        ({"field": "status", "op": "in"}, "conditions.1.value"),
        ({"field": "team", "op": "in", "value": [999999]}, "conditions.1.value"),
        ({"field": "team", "op": "in", "value": ["1"]}, "conditions.1.value"),
        ({"field": "team", "op": "is_set", "value": [1]}, "conditions.1.value"),
        ({"field": "assignee", "op": "in", "value": [999999]}, "conditions.1.value"),
        ({"field": "tags", "op": "has_any", "value": ["missing-tag"]}, "conditions.1.value"),
        ({"field": "customer.tier", "op": "in", "value": [999999]}, "conditions.1.value"),
        ({"field": "customer.organization", "op": "in", "value": [999999]}, "conditions.1.value"),
        ({"field": "customer.lifetime_value", "op": "gte", "value": "lots"}, "conditions.1.value"),
        ({"field": "customer.lifetime_value", "op": "gte", "value": True}, "conditions.1.value"),
        ({"field": "sla.percent_elapsed", "op": "gte", "value": 0}, "conditions.1.value"),
        ({"field": "sla.percent_elapsed", "op": "gte", "value": 75.5}, "conditions.1.value"),
        (
            {"field": "sla.percent_elapsed", "op": "gte", "value": 75, "target": "lunch"},
            "conditions.1.target",
        ),
        (
            {"field": "status", "op": "in", "value": ["open"], "target": "any"},
            "conditions.1.target",
        ),
        ({"field": "sla.breached", "op": "is", "value": "yes"}, "conditions.1.value"),
        ({"field": "time.since_agent_reply", "op": "gte", "value": -5}, "conditions.1.value"),
        ({"field": "message.keywords", "op": "contains_any", "value": []}, "conditions.1.value"),
        ({"field": "status", "op": "in", "value": ["open"], "extra": 1}, "conditions.1.extra"),
        ("status is open", "conditions.1"),
    ],
)
def test_a_bad_condition_is_refused_by_its_place(manager, condition, field):
    first = {"field": "status", "op": "in", "value": ["open"]}
    error = refused(manager, {"name": "R", "conditions": [first, condition], "actions": NOTE})
    assert error.field == field


@pytest.mark.parametrize(
    ("action", "field"),
    [
        ({"type": "explode"}, "actions.1.type"),
        ({"type": "set_priority", "priority": "asap"}, "actions.1.priority"),
        ({"type": "assign_team"}, "actions.1.team"),
        ({"type": "assign_team", "team": 999999}, "actions.1.team"),
        ({"type": "assign_agent", "agent": 999999}, "actions.1.agent"),
        ({"type": "add_tag", "tag": "never-seen"}, "actions.1.tag"),
        ({"type": "add_note", "body": "  "}, "actions.1.body"),
        ({"type": "add_note", "body": "x" * 2001}, "actions.1.body"),
        ({"type": "set_escalation_level", "level": 0}, "actions.1.level"),
        ({"type": "set_escalation_level", "level": 10}, "actions.1.level"),
        ({"type": "notify", "to": "everyone"}, "actions.1.to"),
        ({"type": "notify", "to": "user"}, "actions.1.user"),
        ({"type": "notify", "to": "user", "user": 999999}, "actions.1.user"),
        ({"type": "notify", "to": "assignee", "user": 1}, "actions.1.user"),
        ({"type": "add_note", "body": "x", "colour": "red"}, "actions.1.colour"),
    ],
)
def test_a_bad_action_is_refused_by_its_place(manager, action, field):
    error = refused(manager, {"name": "R", "actions": [NOTE[0], action]})
    assert error.field == field


def test_rule_level_refusals(manager, customer):
    assert refused(manager, {"name": "", "actions": NOTE}).field == "name"
    assert refused(manager, {"name": "R", "actions": []}).field == "actions"
    assert refused(manager, {"name": "R", "trigger": "hourly", "actions": NOTE}).field == "trigger"
    assert refused(manager, {"name": "R", "position": -1, "actions": NOTE}).field == "position"
    assert refused(manager, {"name": "R", "actions": NOTE, "colour": 1}).field == "colour"
    # A time rule needs something that becomes true as time passes.
    status_only = [{"field": "status", "op": "in", "value": ["open"]}]
    error = refused(
        manager, {"name": "R", "trigger": "time", "conditions": status_only, "actions": NOTE}
    )
    assert error.field == "conditions"
    # A customer (no agent profile) is no agent to assign to.
    error = refused(
        manager, {"name": "R", "actions": [{"type": "assign_agent", "agent": customer.user.pk}]}
    )
    assert error.field == "actions.0.agent"
    save_rule(actor=manager, rule=None, data={"name": "Taken", "actions": NOTE})
    assert refused(manager, {"name": "taken", "actions": NOTE}).field == "name"
    assert EscalationRule.objects.count() == 1


def test_an_archived_team_is_refused_on_save(manager):
    archived = TeamFactory(name="Old", is_active=False)
    error = refused(
        manager, {"name": "R", "actions": [{"type": "assign_team", "team": archived.pk}]}
    )
    assert error.field == "actions.0.team" and "archived" in error.message


def test_the_catalog_lists_every_field_and_action():
    keys = {spec.key for spec in RULE_CONDITION_FIELDS}
    assert keys == {
        "status", "priority", "type", "channel", "team", "assignee", "tags", "customer.tier",
        "customer.organization", "customer.lifetime_value", "sla.percent_elapsed",
        "sla.minutes_to_breach", "sla.breached", "time.since_customer_message",
        "time.since_agent_reply", "message.keywords",
    }  # fmt: skip
    assert {a.key for a in RULE_ACTIONS} == {
        "set_priority", "assign_team", "assign_agent", "add_tag", "add_note",
        "set_escalation_level", "notify",
    }  # fmt: skip
    data = catalog_as_json()
    status = next(c for c in data["conditions"] if c["key"] == "status")
    assert {"key": "open", "label": "Open"} in status["choices"]
    assert status["operators"][0] == {"key": "in", "label": "is one of"}


# --- dry run -------------------------------------------------------------------------------------


def test_dry_run_lists_open_matches_with_a_reason_per_condition(agent, team):
    gold = TierFactory(name="Gold", slug="gold", rank=2)
    acme = OrganizationFactory(name="Acme")
    rich = CustomerFactory(tier=gold, organization=acme, lifetime_value=5000)
    match = TicketFactory(customer=rich, priority="high", status="open", team=team)
    TicketFactory(customer=rich, priority="high", status="solved", team=team)  # not open
    TicketFactory(customer=rich, priority="low", status="open", team=team)  # wrong priority
    TicketFactory(priority="high", status="open", team=team)  # standard tier
    result = dry_run_rule(
        data={
            "name": "Gold high",
            "conditions": [
                {"field": "priority", "op": "in", "value": ["high", "urgent"]},
                {"field": "customer.tier", "op": "in", "value": [gold.pk]},
                {"field": "customer.organization", "op": "in", "value": [acme.pk]},
                {"field": "customer.lifetime_value", "op": "gte", "value": 1000},
                {"field": "team", "op": "in", "value": [team.pk]},
            ],
            "actions": NOTE,
        }
    )
    assert result.total == 1
    [found] = result.matches
    assert found.ticket == match
    assert found.reasons == [
        "Priority is High (is one of high, urgent)",
        "Customer tier is Gold",
        "Customer organization is Acme",
        "Customer lifetime value is 5000.00 (is at least 1000)",
        "Team is Orders",
    ]


def test_dry_run_validates_like_save(manager):
    with pytest.raises(RuleBroken) as caught:
        dry_run_rule(data={"name": "R", "conditions": [{"field": "x"}], "actions": NOTE})
    assert caught.value.field == "conditions.0.field"


def test_dry_run_sla_and_time_conditions(agent):
    start = timezone.now().replace(microsecond=0) - timedelta(minutes=50)
    late = TicketFactory(status="open")
    early = TicketFactory(status="open")
    rules_world.clock(late, minutes=60, started_at=start)  # 50 of 60 minutes used: 83 %
    rules_world.clock(early, minutes=600, started_at=start)  # 8 %
    result = dry_run_rule(
        data={
            "name": "75",
            "conditions": [{"field": "sla.percent_elapsed", "op": "gte", "value": 75}],
            "actions": NOTE,
        }
    )
    assert [m.ticket for m in result.matches] == [late]
    assert result.matches[0].reasons == ["First reply: at least 75 % of 60 business min used"]
    near = dry_run_rule(
        data={
            "name": "near",
            "conditions": [{"field": "sla.minutes_to_breach", "op": "lte", "value": 15}],
            "actions": NOTE,
        }
    )
    assert [m.ticket for m in near.matches] == [late]


def test_dry_run_is_a_bounded_number_of_queries(agent, django_assert_max_num_queries):
    for _ in range(5):
        TicketFactory(status="open", priority="urgent")
    data = {
        "name": "urgent",
        "conditions": [
            {"field": "priority", "op": "in", "value": ["urgent"]},
            {"field": "tags", "op": "has_none", "value": [TagFactory(name="calm").name]},
        ],
        "actions": NOTE,
    }
    with django_assert_max_num_queries(8):
        result = dry_run_rule(data=data, limit=3)
    assert result.total == 5 and len(result.matches) == 3
