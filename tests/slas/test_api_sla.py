"""The SLA endpoints through real URLs: who may do what, 400s naming the field, fixed query
counts, a ticket's clocks and ledger, and the promise on the customer's ticket."""

from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.urls import reverse

from slas.models import BusinessCalendar, SlaPolicy
from slas.services import save_calendar, save_policy
from tests.slas.sla_helpers import MONDAY_9, OFFICE_HOURS, targets
from tickets.services import open_ticket, post_message

pytestmark = pytest.mark.django_db

CALENDARS = reverse("api:sla-calendar-list")
POLICIES = reverse("api:sla-policy-list")


def test_a_manager_creates_and_changes_a_calendar(manager_client):
    created = manager_client.post(
        CALENDARS,
        {"name": "Paris", "timezone": "Europe/Paris", "hours": OFFICE_HOURS,
         "holiday_country": "FR"},
        format="json",
    )  # fmt: skip
    assert created.status_code == HTTPStatus.CREATED, created.content
    body = created.json()
    assert (body["name"], body["version"], body["holiday_country"]) == ("Paris", 1, "FR")
    assert body["hours"]["mon"] == [["09:00", "12:00"], ["13:00", "17:00"]]

    changed = manager_client.patch(
        reverse("api:sla-calendar-detail", args=[body["id"]]),
        {"holidays": ["2026-12-24"]},
        format="json",
    )
    assert changed.status_code == HTTPStatus.OK
    assert (changed.json()["version"], changed.json()["holidays"]) == (2, ["2026-12-24"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "X", "hours": {"mon": [["09:00", "25:00"]]}}, "hours.mon.0"),
        ({"name": "X", "timezone": "Nowhere/Land", "always_open": True}, "timezone"),
        ({"name": "X", "hours": OFFICE_HOURS, "holiday_country": "QQ"}, "holiday_country"),
        ({"hours": OFFICE_HOURS}, "name"),
    ],
)
def test_a_bad_calendar_is_a_400_naming_the_field(manager_client, body, field):
    response = manager_client.post(CALENDARS, body, format="json")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert list(response.json()) == [field]
    assert not BusinessCalendar.objects.exists()


def test_agents_read_but_cannot_write_and_customers_get_nothing(
    agent_client, customer_client, always_open, default_policy
):
    assert agent_client.get(CALENDARS).status_code == HTTPStatus.OK
    assert agent_client.get(POLICIES).json()[0]["name"] == "Standard support"
    refused = agent_client.post(CALENDARS, {"name": "Mine", "always_open": True}, format="json")
    assert refused.status_code == HTTPStatus.FORBIDDEN
    detail = reverse("api:sla-policy-detail", args=[default_policy.pk])
    assert agent_client.patch(detail, {"name": "x"}, format="json").status_code == 403
    assert customer_client.get(CALENDARS).status_code == HTTPStatus.FORBIDDEN
    assert customer_client.get(detail).status_code == HTTPStatus.FORBIDDEN
    assert BusinessCalendar.objects.count() == 1


def test_a_manager_creates_a_policy_and_a_bad_one_is_a_400_naming_the_field(
    manager_client, always_open, default_policy, tiers
):
    good = {
        "name": "Gold",
        "calendar": always_open.pk,
        "conditions": {"tiers": ["gold"]},
        "targets": {"urgent": {"first_reply_minutes": 15}},
        "position": 1,
    }
    created = manager_client.post(POLICIES, good, format="json")
    assert created.status_code == HTTPStatus.CREATED, created.content
    assert created.json()["targets"] == {
        "urgent": {
            "first_reply_minutes": 15,
            "next_reply_minutes": None,
            "resolution_minutes": None,
        }
    }

    for change, field in [
        ({"conditions": {"tiers": ["diamond"]}}, "conditions.tiers"),
        ({"targets": {"high": {"resolution_minutes": 0}}}, "targets.high.resolution_minutes"),
        ({"calendar": 424242}, "calendar"),
        ({"name": "Gold"}, "name"),
    ]:
        response = manager_client.post(POLICIES, {**good, "name": "Other", **change},
                                       format="json")  # fmt: skip
        assert response.status_code == HTTPStatus.BAD_REQUEST, change
        assert list(response.json()) == [field]
    assert SlaPolicy.objects.count() == 2


@pytest.mark.parametrize("rows", [1, 6])
def test_lists_cost_a_fixed_number_of_queries(
    manager, agent_client, django_assert_num_queries, rows
):
    calendar = save_calendar(actor=manager, calendar=None, data={"name": "c0", "always_open": True})
    for n in range(rows):
        save_policy(
            actor=manager,
            policy=None,
            data={"name": f"p{n}", "is_default": n == 0, "calendar": calendar,
                  "targets": targets(), "position": n},
        )  # fmt: skip
        save_calendar(actor=manager, calendar=None, data={"name": f"c{n + 1}", "always_open": True})

    # (force_authenticate hands over the fixture's user, profile already loaded)
    with django_assert_num_queries(2):  # the policies with their calendars, their targets
        assert len(agent_client.get(POLICIES).json()) == rows
    with django_assert_num_queries(1):
        assert len(agent_client.get(CALENDARS).json()) == rows + 1


@pytest.fixture
def answered_ticket(gold_customer, gold_policy, agent):
    with time_machine.travel(MONDAY_9, tick=False):
        ticket = open_ticket(customer=gold_customer, subject="Late", body="Where?", actor=None)
    with time_machine.travel(MONDAY_9 + timedelta(minutes=10), tick=False):
        post_message(ticket=ticket, author=agent, body="Looking")
    with time_machine.travel(MONDAY_9 + timedelta(minutes=20), tick=False):
        post_message(ticket=ticket, author=gold_customer.user, body="And?")
    return ticket


def test_an_agent_reads_a_tickets_clocks_and_ledger(agent_client, answered_ticket):
    with time_machine.travel(MONDAY_9 + timedelta(minutes=30), tick=False):
        response = agent_client.get(reverse("api:sla-ticket-detail", args=[answered_ticket.pk]))

    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert body["reply_promise"] == "Gold priority"
    clocks = {(clock["target"], clock["sequence"]): clock for clock in body["clocks"]}
    first = clocks[("first_reply", 1)]
    assert (first["state"], first["business_minutes"], first["policy"]["name"]) == (
        "met", 10, "Gold",
    )  # fmt: skip
    assert [(s["kind"], s["business_minutes"]) for s in first["segments"]] == [("running", 10)]
    nxt = clocks[("next_reply", 1)]
    assert nxt["progress"] == {"used_minutes": 10, "minutes_left": 20, "percent_elapsed": 33,
                               "paused": False, "overdue": False}  # fmt: skip
    assert nxt["segments"][-1]["ends_at"] is None


def test_customers_never_see_clocks_and_unknown_tickets_are_404(
    customer_client, agent_client, answered_ticket
):
    url = reverse("api:sla-ticket-detail", args=[answered_ticket.pk])
    assert customer_client.get(url).status_code == HTTPStatus.FORBIDDEN
    missing = reverse("api:sla-ticket-detail", args=[answered_ticket.pk + 1000])
    assert agent_client.get(missing).status_code == HTTPStatus.NOT_FOUND


def test_the_customer_sees_the_promise_on_their_ticket_but_not_the_sla_internals(
    answered_ticket, agent_client, gold_customer
):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(gold_customer.user)
    mine = client.get(reverse("api:ticket-detail", args=[answered_ticket.pk])).json()
    listed = client.get(reverse("api:ticket-list")).json()["results"][0]
    theirs = agent_client.get(reverse("api:ticket-detail", args=[answered_ticket.pk])).json()

    due = (MONDAY_9 + timedelta(minutes=50)).isoformat().replace("+00:00", "Z")
    assert (mine["reply_due_at"], mine["reply_promise"]) == (due, "Gold priority")
    assert listed["reply_promise"] == "Gold priority"
    assert not {"sla_state", "sla_due_at", "sla_target"} & set(mine)
    assert (theirs["sla_state"], theirs["sla_target"]) == ("running", "next_reply")
