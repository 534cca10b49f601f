"""The escalation rule admin writes through save_rule: the same validation, as form errors."""

import json
from http import HTTPStatus

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Role
from slas.models import EscalationRule, RuleFiring
from tests.factories import AgentFactory, TicketFactory
from tests.slas import rules_world
from tickets.services import change_ticket_priority

pytestmark = pytest.mark.django_db


@pytest.fixture
def web(db) -> Client:
    client = Client()
    client.force_login(
        AgentFactory(username="root", profile__role=Role.ADMIN, is_staff=True, is_superuser=True)
    )
    return client


def form(**overrides):
    data = {
        "name": "Urgent note",
        "description": "",
        "trigger": "event",
        "position": "0",
        "is_active": "on",
        "conditions": json.dumps([{"field": "priority", "op": "in", "value": ["urgent"]}]),
        "actions": json.dumps([{"type": "add_note", "body": "Urgent!"}]),
    }
    data.update(overrides)
    return data


def test_adding_a_rule_through_the_admin(web):
    response = web.post(reverse("admin:slas_escalationrule_add"), form())
    assert response.status_code == HTTPStatus.FOUND
    rule = EscalationRule.objects.get()
    assert rule.conditions == [{"field": "priority", "op": "in", "value": ["urgent"]}]
    assert rule.created_by.username == "root"


def test_a_bad_rule_is_a_form_error(web):
    bad = json.dumps([{"field": "team", "op": "in", "value": [424242]}])
    response = web.post(reverse("admin:slas_escalationrule_add"), form(conditions=bad))
    assert response.status_code == HTTPStatus.OK
    assert "No team with id 424242." in response.content.decode()
    assert not EscalationRule.objects.exists()


def test_changing_a_rule_bumps_its_version(web, manager):
    rule = rules_world.rule(manager, name="Old name")
    url = reverse("admin:slas_escalationrule_change", args=[rule.pk])
    response = web.post(url, form(name="New name"))
    assert response.status_code == HTTPStatus.FOUND
    rule.refresh_from_db()
    assert (rule.name, rule.version) == ("New name", 2)


def test_a_rule_that_fired_cannot_be_deleted_in_the_admin(web, manager):
    rule = rules_world.rule(manager, name="Fires")
    change_ticket_priority(ticket=TicketFactory(status="open"), priority="high", actor=None)
    assert RuleFiring.objects.exists()
    response = web.post(
        reverse("admin:slas_escalationrule_delete", args=[rule.pk]), {"post": "yes"}
    )
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert EscalationRule.objects.filter(pk=rule.pk).exists()
    assert web.get(reverse("admin:slas_rulefiring_changelist")).status_code == HTTPStatus.OK
    assert (
        web.get(reverse("admin:slas_rulealarm_changelist") + "?q=%00").status_code == HTTPStatus.OK
    )
