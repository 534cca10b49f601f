"""/api/v1/sla/rules/: agents read, managers write and dry-run, customers are refused; a bad
rule is a 400 naming its place; the firings of a rule; fixed query counts."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from slas.models import EscalationRule, RuleFiring
from tests.factories import TicketFactory
from tests.slas import rules_world
from tickets.services import change_ticket_priority

pytestmark = pytest.mark.django_db

LIST = reverse("api:sla-rule-list")
DRY_RUN = reverse("api:sla-rule-dry-run")
NOTE = [{"type": "add_note", "body": "Look"}]


def detail(rule) -> str:
    return reverse("api:sla-rule-detail", args=[rule.pk])


def test_a_manager_creates_changes_and_deletes_a_rule(manager_client, manager):
    body = {
        "name": "Urgent to the manager",
        "trigger": "event",
        "position": 2,
        "conditions": [{"field": "priority", "op": "in", "value": ["urgent"]}],
        "actions": [{"type": "notify", "to": "team_manager"}],
    }
    created = manager_client.post(LIST, body, format="json")
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["name"] == "Urgent to the manager"
    assert data["conditions"] == body["conditions"]
    assert data["version"] == 1
    rule = EscalationRule.objects.get(pk=data["id"])
    assert rule.created_by == manager
    changed = manager_client.patch(detail(rule), {"is_active": False}, format="json")
    assert changed.status_code == 200
    assert changed.json()["is_active"] is False
    assert changed.json()["version"] == 2
    assert manager_client.delete(detail(rule)).status_code == 204
    assert not EscalationRule.objects.exists()


def test_a_bad_rule_is_a_400_naming_its_place(manager_client, team):
    body = {
        "name": "Bad",
        "conditions": [
            {"field": "status", "op": "in", "value": ["open"]},
            {"field": "team", "op": "in", "value": [987654]},
        ],
        "actions": NOTE,
    }
    response = manager_client.post(LIST, body, format="json")
    assert response.status_code == 400
    assert response.json() == {"conditions.1.value": ["No team with id 987654."]}
    response = manager_client.post(
        LIST, {"name": "Bad", "actions": [{"type": "assign_team"}]}, format="json"
    )
    assert response.json() == {"actions.0.team": ["This action needs it."]}
    response = manager_client.post(LIST, ["not", "an", "object"], format="json")
    assert response.status_code == 400
    assert not EscalationRule.objects.exists()


def test_a_rule_that_fired_cannot_be_deleted(manager_client, manager):
    rule = rules_world.rule(manager, name="Any change")
    change_ticket_priority(ticket=TicketFactory(status="open"), priority="high", actor=None)
    assert RuleFiring.objects.filter(rule=rule).exists()
    response = manager_client.delete(detail(rule))
    assert response.status_code == 400
    assert "deactivate" in response.json()["rule"][0]


def test_agents_read_but_do_not_write(agent_client, manager):
    rule = rules_world.rule(manager, name="Readable")
    assert agent_client.get(LIST).status_code == 200
    assert agent_client.get(detail(rule)).json()["name"] == "Readable"
    assert agent_client.post(LIST, {"name": "X", "actions": NOTE}, format="json").status_code == 403
    assert agent_client.patch(detail(rule), {"position": 1}, format="json").status_code == 403
    assert (
        agent_client.post(DRY_RUN, {"name": "X", "actions": NOTE}, format="json").status_code == 403
    )
    assert EscalationRule.objects.get().position == 0


def test_customers_and_strangers_are_refused(customer_client, anonymous_client, manager):
    rule = rules_world.rule(manager, name="Hidden")
    for url in (LIST, detail(rule), reverse("api:sla-rule-firings", args=[rule.pk])):
        assert customer_client.get(url).status_code == 403
        assert anonymous_client.get(url).status_code == 401


def test_the_list_is_a_fixed_number_of_queries(agent_client, manager, django_assert_num_queries):
    for position in range(5):
        rules_world.rule(manager, name=f"R{position}", position=position)
    with django_assert_num_queries(1):  # the rules (the profile is cached on the user)
        response = agent_client.get(LIST)
    assert [r["name"] for r in response.json()] == [f"R{n}" for n in range(5)]


def test_dry_run_answers_matches_with_reasons(manager_client):
    late = TicketFactory(status="open", priority="high")
    TicketFactory(status="open", priority="low")
    rules_world.clock(late, minutes=60, started_at=timezone.now() - timedelta(minutes=55))
    body = {
        "name": "Near breach",
        "conditions": [
            {"field": "priority", "op": "in", "value": ["high"]},
            {"field": "sla.minutes_to_breach", "op": "lte", "value": 10},
        ],
        "actions": NOTE,
    }
    response = manager_client.post(DRY_RUN, body, format="json")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["total"] == 1
    assert data["capped"] is False
    [match] = data["matches"]
    assert match["ticket"] == late.pk
    assert match["reference"] == late.reference
    assert match["reasons"][0] == "Priority is High (is one of high)"
    assert match["reasons"][1].startswith("First reply due in ")
    assert not EscalationRule.objects.exists()  # nothing saved
    bad = manager_client.post(DRY_RUN, {"name": "X", "actions": [{"type": "x"}]}, format="json")
    assert bad.json() == {"actions.0.type": ["'x' is not an action."]}
    assert manager_client.post(f"{DRY_RUN}?limit=0", body, format="json").status_code == 400


def test_firings_of_a_rule_latest_first(agent_client, manager, django_assert_num_queries):
    rule = rules_world.rule(manager, name="Every change")
    ticket = TicketFactory(status="open")
    change_ticket_priority(ticket=ticket, priority="high", actor=None)
    change_ticket_priority(ticket=ticket, priority="urgent", actor=None)
    url = reverse("api:sla-rule-firings", args=[rule.pk])
    with django_assert_num_queries(2):  # the rule, the firings (the profile is cached)
        response = agent_client.get(url)
    firings = response.json()
    assert len(firings) == 2
    assert firings[0]["id"] > firings[1]["id"]
    assert firings[0]["ticket"] == ticket.pk
    assert firings[0]["outcome"] == "fired"
    assert firings[0]["occasion"].startswith("event:")
    older = agent_client.get(url, {"before": firings[0]["id"]}).json()
    assert [f["id"] for f in older] == [firings[1]["id"]]
    assert agent_client.get(url, {"before": "x"}).status_code == 400


def test_the_catalog(agent_client):
    data = agent_client.get(reverse("api:sla-rule-catalog")).json()
    assert "sla.percent_elapsed" in [c["key"] for c in data["conditions"]]
    assert "notify" in [a["key"] for a in data["actions"]]
