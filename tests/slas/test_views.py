"""The SLA manager pages (calendars, policies, rules with the dry run) and the ledger fragment
of the workspace: who may open them, what they show, forms that post through the services and
put a broken rule next to its control, fixed query counts on the lists."""

import re
from datetime import timedelta
from http import HTTPStatus

import pytest
from django.test import Client
from django.utils import timezone

from slas.models import BusinessCalendar, ClockSegment, EscalationRule, SegmentKind, SlaPolicy
from slas.services import save_calendar, save_policy
from tests.factories import TicketFactory, standard_tiers
from tests.slas.rules_world import clock
from tests.slas.sla_helpers import OFFICE_HOURS, targets
from tickets.models import Priority, Status

pytestmark = pytest.mark.django_db

MANAGER_PAGES = [
    "/slas/calendars/",
    "/slas/calendars/new/",
    "/slas/policies/",
    "/slas/policies/new/",
    "/slas/rules/",
    "/slas/rules/new/",
]


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def manager_page(manager):
    return client_for(manager)


@pytest.fixture
def agent_page(agent):
    return client_for(agent)


@pytest.fixture
def office(manager):
    return save_calendar(
        actor=manager,
        calendar=None,
        data={"name": "Office", "timezone": "Europe/Paris", "hours": OFFICE_HOURS},
    )


def error_for(body: str, control_id: str, error_id: str = "") -> str:
    """The message shown next to the control (its aria-describedby points at it)."""
    error_id = error_id or f"{control_id}-error"
    control = re.search(rf'id="{re.escape(control_id)}"[^>]*>', body)
    assert control, f"no control {control_id}"
    assert f'aria-describedby="{error_id}"' in control.group(0)
    message = re.search(rf'<p class="field-error" id="{re.escape(error_id)}">([^<]*)</p>', body)
    assert message, f"no message for {control_id}"
    return message.group(1)


# --- who may open them ------------------------------------------------------------------------
@pytest.mark.parametrize("path", MANAGER_PAGES)
def test_agents_get_403_and_customers_too(path, agent_page, customer):
    assert agent_page.get(path).status_code == HTTPStatus.FORBIDDEN
    assert client_for(customer.user).get(path).status_code == HTTPStatus.FORBIDDEN


@pytest.mark.parametrize("path", MANAGER_PAGES)
def test_anonymous_visitors_are_sent_to_sign_in(path):
    response = Client().get(path)
    assert response.status_code == HTTPStatus.FOUND
    assert "next=" in response["Location"]


def test_agents_cannot_post_to_the_editors_either(agent_page):
    response = agent_page.post("/slas/calendars/new/", {"name": "Sneaky", "always_open": "on"})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert agent_page.post("/slas/rules/dry-run/", {}).status_code == HTTPStatus.FORBIDDEN
    assert not BusinessCalendar.objects.exists()


@pytest.mark.parametrize("path", MANAGER_PAGES)
def test_managers_open_every_page(path, manager_page):
    response = manager_page.get(path)
    assert response.status_code == HTTPStatus.OK
    assert b"<h1>" in response.content


# --- lists: fixed queries ---------------------------------------------------------------------
@pytest.mark.parametrize("count", [2, 9])
def test_lists_cost_fixed_queries(manager_page, manager, django_assert_num_queries, count):
    standard_tiers()
    for index in range(count):
        calendar = save_calendar(
            actor=manager, calendar=None, data={"name": f"Cal {index}", "always_open": True}
        )
        save_policy(
            actor=manager,
            policy=None,
            data={"name": f"Policy {index}", "calendar": calendar, "targets": targets(),
                  "position": index, "is_default": index == 0,
                  "conditions": {"channels": ["chat"], "tiers": ["gold"]} if index else {}},
        )  # fmt: skip
        EscalationRule.objects.create(name=f"Rule {index}", trigger="event")
    for path, name, queries in (
        ("/slas/calendars/", "Cal 0", 6),
        ("/slas/policies/", "Policy 0", 8),
        ("/slas/rules/", "Rule 0", 6),
    ):
        with django_assert_num_queries(queries):
            response = manager_page.get(path)
        assert name in response.content.decode()
    if count > 1:
        assert "Tier Gold; channel Chat" in manager_page.get("/slas/policies/").content.decode()


# --- calendars --------------------------------------------------------------------------------
def test_manager_creates_a_split_shift_calendar(manager_page):
    response = manager_page.post(
        "/slas/calendars/new/",
        {
            "name": "Paris office",
            "timezone": "Europe/Paris",
            "is_active": "on",
            "hours-mon-start": ["09:00", "13:00"],
            "hours-mon-end": ["12:00", "17:30"],
            "hours-tue-start": ["09:00"],
            "hours-tue-end": ["17:00"],
            "holidays": "2026-12-25\n2026-12-26",
            "holiday_country": "FR",
        },
    )
    assert response.status_code == HTTPStatus.FOUND
    calendar = BusinessCalendar.objects.get(name="Paris office")
    assert calendar.hours["mon"] == [["09:00", "12:00"], ["13:00", "17:30"]]
    assert "2026-12-25" in calendar.holidays
    assert calendar.holiday_country == "FR"


def test_a_bad_interval_is_shown_next_to_its_row(manager_page):
    response = manager_page.post(
        "/slas/calendars/new/",
        {
            "name": "Broken",
            "timezone": "UTC",
            "hours-mon-start": ["09:00", "13:00"],
            "hours-mon-end": ["12:00", "25:99"],
        },
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    body = response.content.decode()
    assert error_for(body, "h-mon-1-end", "h-mon-1-error")
    # What was typed is still there to fix.
    assert 'value="25:99"' in body
    assert not BusinessCalendar.objects.exists()


def test_an_unknown_country_is_a_field_error(manager_page):
    response = manager_page.post(
        "/slas/calendars/new/",
        {
            "name": "Nowhere",
            "timezone": "UTC",
            "holiday_country": "QQ",
            "hours-mon-start": "09:00",
            "hours-mon-end": "17:00",
        },
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert error_for(response.content.decode(), "cal-country")


def test_editing_a_calendar_sets_the_teams_that_use_it(manager_page, office, team):
    from slas.models import TeamCalendar

    response = manager_page.post(
        f"/slas/calendars/{office.pk}/",
        {"name": "Office", "timezone": "Europe/Paris", "hours-wed-start": "08:00",
         "hours-wed-end": "16:00", "teams": [str(team.pk)], "is_active": "on"},
    )  # fmt: skip
    assert response.status_code == HTTPStatus.FOUND
    office.refresh_from_db()
    assert office.hours["wed"] == [["08:00", "16:00"]]
    assert office.version == 2
    assert TeamCalendar.objects.get(team=team).calendar == office
    page = manager_page.get(f"/slas/calendars/{office.pk}/").content.decode()
    assert f'value="{team.pk}" checked' in page


# --- policies ---------------------------------------------------------------------------------
def test_targets_accept_hours_and_minutes_and_show_them_normalized(manager_page, office):
    response = manager_page.post(
        "/slas/policies/new/",
        {
            "name": "Gold",
            "position": "1",
            "is_default": "on",
            "calendar": str(office.pk),
            "is_active": "on",
            "target-urgent-first_reply_minutes": "2h 30m",
            "target-urgent-resolution_minutes": "90",
            "target-normal-first_reply_minutes": "1h",
        },
    )
    assert response.status_code == HTTPStatus.FOUND, response.content.decode()[:2000]
    policy = SlaPolicy.objects.get(name="Gold")
    urgent = policy.targets.get(priority=Priority.URGENT)
    assert (urgent.first_reply_minutes, urgent.resolution_minutes) == (150, 90)
    page = manager_page.get(f"/slas/policies/{policy.pk}/").content.decode()
    assert 'value="2h 30m"' in page
    assert 'value="1h 30m"' in page


def test_a_duration_in_days_is_refused_next_to_its_cell(manager_page, office):
    response = manager_page.post(
        "/slas/policies/new/",
        {"name": "Days", "position": "0", "calendar": str(office.pk),
         "target-high-resolution_minutes": "2d"},
    )  # fmt: skip
    assert response.status_code == HTTPStatus.BAD_REQUEST
    message = error_for(response.content.decode(), "target-high-resolution_minutes")
    assert "business hours" in message
    assert not SlaPolicy.objects.exists()


def test_a_policy_without_a_calendar_is_refused_next_to_the_calendar(manager_page):
    response = manager_page.post(
        "/slas/policies/new/",
        {"name": "No calendar", "position": "0", "target-high-first_reply_minutes": "30"},
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert error_for(response.content.decode(), "pol-calendar")


# --- rules ------------------------------------------------------------------------------------
def rule_post(**overrides):
    data = {
        "name": "Gold waiting",
        "trigger": "time",
        "position": "0",
        "is_active": "on",
        "cond-rows": ["0", "3"],
        "cond-0-field": "sla.percent_elapsed",
        "cond-0-op": "gte",
        "cond-0-target": "first_reply",
        "cond-0-text": "75",
        "cond-3-field": "priority",
        "cond-3-op": "in",
        "cond-3-value": ["high", "urgent"],
        "act-rows": ["0"],
        "act-0-type": "notify",
        "act-0-to": "assignee",
    }
    data.update(overrides)
    return data


def test_manager_creates_a_rule(manager_page):
    response = manager_page.post("/slas/rules/new/", rule_post())
    assert response.status_code == HTTPStatus.FOUND, response.content.decode()[:3000]
    rule = EscalationRule.objects.get(name="Gold waiting")
    assert rule.conditions[1] == {"field": "priority", "op": "in", "value": ["high", "urgent"]}
    assert rule.conditions[0]["value"] == 75
    assert rule.actions == [{"type": "notify", "to": "assignee"}]
    page = manager_page.get(f"/slas/rules/{rule.pk}/").content.decode()
    assert 'value="urgent" selected' in page


def test_a_broken_condition_is_shown_next_to_its_row(manager_page):
    response = manager_page.post("/slas/rules/new/", rule_post(**{"cond-3-value": []}))
    assert response.status_code == HTTPStatus.BAD_REQUEST
    body = response.content.decode()
    # conditions.1 is the second row on the page, whose number there is 3.
    assert error_for(body, "cond-3-value", "cond-3-error")
    assert not EscalationRule.objects.exists()


def test_dry_run_lists_the_open_tickets_it_would_fire_on_and_why(manager_page):
    hot = TicketFactory(priority=Priority.URGENT, status=Status.OPEN, subject="Server down")
    TicketFactory(priority=Priority.LOW, status=Status.OPEN, subject="Low hum in the fridge")
    TicketFactory(priority=Priority.URGENT, status=Status.SOLVED, subject="Old fire")
    data = rule_post(**{"cond-rows": ["3"], "trigger": "event"})
    response = manager_page.post("/slas/rules/dry-run/", data, headers={"HX-Request": "true"})
    assert response.status_code == HTTPStatus.OK
    body = response.content.decode()
    assert "1 open ticket would fire now" in body
    assert hot.reference in body
    assert "Low hum in the fridge" not in body
    assert "Old fire" not in body
    assert "Nothing was saved" in body
    assert not EscalationRule.objects.exists()


def test_dry_run_of_a_broken_rule_shows_the_error_in_place(manager_page):
    data = rule_post(**{"cond-0-text": "not a number"})
    response = manager_page.post("/slas/rules/dry-run/", data, headers={"HX-Request": "true"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    body = response.content.decode()
    assert error_for(body, "cond-0-text", "cond-0-error")
    assert "The dry run could not start" in body


# --- the ledger fragment ----------------------------------------------------------------------
def test_ledger_shows_each_clock_with_versions_and_segments(agent_page):
    ticket = TicketFactory(status=Status.OPEN)
    start = timezone.now() - timedelta(hours=3)
    first = clock(ticket, started_at=start, minutes=60, due_at=start + timedelta(hours=1))
    first.state = "breached"
    first.breached_at = first.due_at
    first.save()
    ClockSegment.objects.create(
        clock=first, kind=SegmentKind.RUNNING, starts_at=start,
        ends_at=start + timedelta(minutes=40), business_minutes=40, policy_version=1,
        calendar_version=1,
    )  # fmt: skip
    ClockSegment.objects.create(
        clock=first, kind=SegmentKind.PAUSED, starts_at=start + timedelta(minutes=40),
        ends_at=start + timedelta(minutes=70), business_minutes=30,
        reason="Pending on the customer", policy_version=1, calendar_version=1,
    )  # fmt: skip
    response = agent_page.get(f"/slas/tickets/{ticket.pk}/clocks/")
    assert response.status_code == HTTPStatus.OK
    body = response.content.decode()
    assert "First reply" in body
    assert "Policy 24/7 v1" in body
    assert "24/7 v1" in body
    assert "Pending on the customer" in body
    assert '<span class="sla-level">Breached</span>' in body
    assert "Counting" in body


def test_ledger_says_so_when_there_is_no_clock(agent_page):
    ticket = TicketFactory()
    body = agent_page.get(f"/slas/tickets/{ticket.pk}/clocks/").content.decode()
    assert "No SLA clock on this ticket" in body


def test_ledger_is_for_agents_only(customer):
    ticket = TicketFactory(customer=customer)
    assert (
        client_for(customer.user).get(f"/slas/tickets/{ticket.pk}/clocks/").status_code
        == HTTPStatus.FORBIDDEN
    )
    assert Client().get(f"/slas/tickets/{ticket.pk}/clocks/").status_code == HTTPStatus.FOUND


def test_ledger_of_a_missing_ticket_is_404(agent_page):
    assert agent_page.get("/slas/tickets/999999/clocks/").status_code == HTTPStatus.NOT_FOUND


def test_an_error_without_a_control_is_shown_at_the_top(manager_page, office, manager):
    save_policy(
        actor=manager,
        policy=None,
        data={"name": "Default", "is_default": True, "calendar": office, "targets": targets()},
    )
    default = SlaPolicy.objects.get(name="Default")
    # The default policy cannot be archived: "is_active" has no error slot of its own.
    response = manager_page.post(
        f"/slas/policies/{default.pk}/",
        {"name": "Default", "position": "0", "calendar": str(office.pk), "is_default": "on",
         "target-normal-first_reply_minutes": "1h"},
    )  # fmt: skip
    assert response.status_code == HTTPStatus.BAD_REQUEST
    alert = response.content.decode().split('role="alert"')[1].split("</div>")[0]
    assert "cannot be archived" in alert
