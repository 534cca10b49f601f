"""Calendars and policies in the Django admin: saved through the services (versions written),
broken rules shown on their field, history read-only."""

import json
from http import HTTPStatus

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Role
from slas.models import BusinessCalendar, CalendarVersion, PolicyVersion, SlaPolicy
from tests.factories import AgentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def web(db) -> Client:
    client = Client()
    client.force_login(AgentFactory(profile__role=Role.ADMIN))
    return client


def calendar_form(**overrides):
    data = {
        "name": "Office",
        "timezone": "Europe/Paris",
        "hours": json.dumps({"mon": [["09:00", "17:00"]]}),
        "holidays": json.dumps(["2026-12-25"]),
        "holiday_country": "",
        "holiday_subdivision": "",
        "is_active": "on",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
    }
    return {**data, **overrides}


def test_a_calendar_added_in_the_admin_is_saved_through_the_service(web):
    response = web.post(reverse("admin:slas_businesscalendar_add"), calendar_form())

    assert response.status_code == HTTPStatus.FOUND, response.content[:2000]
    calendar = BusinessCalendar.objects.get()
    assert calendar.hours["tue"] == []  # normalized by the service
    assert CalendarVersion.objects.get(calendar=calendar).version == 1


def test_a_bad_calendar_shows_the_rule_on_its_field_and_saves_nothing(web):
    bad = calendar_form(hours=json.dumps({"mon": [["17:00", "09:00"]]}))

    response = web.post(reverse("admin:slas_businesscalendar_add"), bad)

    assert response.status_code == HTTPStatus.OK
    assert "hours" in response.context["adminform"].form.errors
    assert not BusinessCalendar.objects.exists()


def test_a_policy_added_in_the_admin_gets_its_targets_and_a_version(web):
    web.post(reverse("admin:slas_businesscalendar_add"), calendar_form())
    calendar = BusinessCalendar.objects.get()
    data = {
        "name": "Standard",
        "position": "0",
        "is_default": "on",
        "is_active": "on",
        "conditions": "{}",
        "calendar": str(calendar.pk),
        "targets": json.dumps({"normal": {"first_reply_minutes": 60}}),
        "targets-TOTAL_FORMS": "0",
        "targets-INITIAL_FORMS": "0",
        "versions-TOTAL_FORMS": "0",
        "versions-INITIAL_FORMS": "0",
    }

    refused = web.post(reverse("admin:slas_slapolicy_add"), {**data, "targets": "{}"})
    assert refused.status_code == HTTPStatus.OK
    assert "targets" in refused.context["adminform"].form.errors
    created = web.post(reverse("admin:slas_slapolicy_add"), data)

    assert created.status_code == HTTPStatus.FOUND
    policy = SlaPolicy.objects.get()
    assert policy.targets.get().first_reply_minutes == 60
    assert PolicyVersion.objects.get(policy=policy).version == 1
    page = web.get(reverse("admin:slas_slapolicy_change", args=[policy.pk]))
    assert page.status_code == HTTPStatus.OK
