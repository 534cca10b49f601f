"""The SLA parts of the agent UI in a real browser (Debian's Chromium, Playwright) against a
real server: badges and the "At risk / breaching" view in the queue, a manager editing a
calendar with the keyboard and seeing a field error, writing a rule and running a dry run,
the workspace's SLA ledger, and the promise a customer reads. Every page passes axe-core and
leaves a screenshot in docs/screenshots/ for the README."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from customers.factories import TagFactory, standard_tiers
from slas.models import ClockSegment, SegmentKind
from slas.services import recompute_ticket_clocks, save_calendar, save_policy
from tests.e2e.test_agent_ui import WAIT, check_page, screenshot, sign_in, wait_until_live
from tests.e2e.test_browser_journeys import browser, fetch_json, server  # noqa: F401 (fixtures)
from tests.factories import CustomerFactory, TicketFactory
from tests.slas.rules_world import clock
from tests.slas.sla_helpers import OFFICE_HOURS, targets
from tickets.models import Priority, SlaState, SlaTarget, Status

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def seed_sla_queue(team):
    tiers = {tier.slug: tier for tier in standard_tiers()}
    ana = CustomerFactory(name="Ana Ruiz", tier=tiers["gold"])
    tom = CustomerFactory(name="Tom Li", tier=tiers["standard"])
    now = timezone.now()

    def ticket(subject, customer, minutes, state=SlaState.RUNNING, **extra):
        return TicketFactory(
            subject=subject,
            customer=customer,
            team=team,
            status=extra.pop("status", Status.OPEN),
            sla_due_at=now + timedelta(minutes=minutes) if minutes is not None else None,
            sla_state=state,
            sla_target=extra.pop("sla_target", SlaTarget.FIRST_REPLY),
            **extra,
        )

    return {
        "late": ticket(
            "Parcel never arrived",
            ana,
            -12.5,
            SlaState.BREACHED,
            priority=Priority.HIGH,
            escalation_level=1,
        ),
        "risk": ticket("Refund for order 7731", tom, 42.5, sla_target=SlaTarget.NEXT_REPLY),
        "fine": ticket("Wrong size delivered", ana, 200, sla_target=SlaTarget.RESOLUTION),
        "paused": ticket(
            "Waiting for a photo",
            tom,
            None,
            SlaState.PAUSED,
            status=Status.PENDING,
            sla_target=SlaTarget.RESOLUTION,
        ),
    }


def test_queue_shows_badges_and_the_at_risk_view(server, browser, agent, team):  # noqa: F811
    tickets = seed_sla_queue(team)
    page = sign_in(browser, server, agent.username)
    page.wait_for_url("**/tickets/")
    page.goto("/tickets/?view=all")
    late = page.locator(f"#ticket-row-{tickets['late'].pk}")
    expect(late.locator(".sla")).to_contain_text("Breached")
    expect(late.locator(".sla")).to_contain_text("breached 12 min ago")
    expect(late).to_contain_text("Escalated L1")
    risk = page.locator(f"#ticket-row-{tickets['risk'].pk} .sla")
    expect(risk).to_contain_text("At risk")
    expect(risk).to_contain_text("Next reply")
    expect(risk).to_have_attribute("title", re.compile(r"Next reply due .+"))
    expect(page.locator(f"#ticket-row-{tickets['fine'].pk} .sla")).to_contain_text("On track")
    expect(page.locator(f"#ticket-row-{tickets['paused'].pk} .sla")).to_contain_text("paused")

    nav = page.get_by_role("navigation", name="Views")
    at_risk = nav.get_by_role("link", name=re.compile(r"At risk \/ breaching\s+2"))
    expect(at_risk).to_be_visible()
    at_risk.click()
    page.wait_for_url("**/tickets/?view=at_risk")
    expect(page.get_by_role("heading", name="At risk / breaching", level=1)).to_be_visible()
    rows = page.locator("#queue-results tr[data-ticket-id]")
    expect(rows).to_have_count(2)
    # Soonest due first: the breached one, then the one at risk.
    expect(rows.nth(0)).to_contain_text("Parcel never arrived")
    expect(rows.nth(1)).to_contain_text("Refund for order 7731")
    check_page(page)
    screenshot(page, "sla-queue-at-risk")


def test_manager_edits_a_calendar_with_the_keyboard(server, browser, manager):  # noqa: F811
    calendar = save_calendar(
        actor=manager,
        calendar=None,
        data={"name": "Paris office", "timezone": "Europe/Paris", "hours": OFFICE_HOURS},
    )
    page = sign_in(browser, server, manager.username)
    page.wait_for_url("**/tickets/")
    page.goto("/slas/calendars/")
    check_page(page)
    page.get_by_role("link", name="Paris office").click()
    page.wait_for_url(f"**/slas/calendars/{calendar.pk}/")
    # Saturday: add an interval with the keyboard only.
    add = page.get_by_role("button", name="+ Add interval on Saturday")
    add.focus()
    page.keyboard.press("Enter")
    opens = page.get_by_label("Saturday opens at")
    expect(opens).to_be_focused()
    page.keyboard.type("10:00")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Saturday closes at")).to_be_focused()
    page.keyboard.type("09:00")  # closes before it opens
    check_page(page)
    page.get_by_role("button", name="Save calendar").press("Enter")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("not saved")
    error = page.locator("#h-sat-0-error")
    expect(error).to_be_visible()
    expect(page.get_by_label("Saturday closes at")).to_have_attribute("aria-invalid", "true")
    check_page(page)
    error.scroll_into_view_if_needed()
    screenshot(page, "sla-calendar-editor")
    # Fix it and save.
    page.get_by_label("Saturday closes at").fill("14:00")
    page.get_by_role("button", name="Save calendar").click()
    page.wait_for_url("**/slas/calendars/")
    expect(page.get_by_role("cell", name="v2")).to_be_visible()


def test_manager_writes_a_policy_and_a_rule_and_runs_a_dry_run(server, browser, manager):  # noqa: F811
    standard_tiers()
    TagFactory(name="hot")
    office = save_calendar(
        actor=manager,
        calendar=None,
        data={"name": "Office", "timezone": "Europe/Paris", "hours": OFFICE_HOURS},
    )
    save_policy(
        actor=manager,
        policy=None,
        data={"name": "Standard", "is_default": True, "calendar": office, "targets": targets()},
    )
    TicketFactory(
        subject="Server down at the warehouse", priority=Priority.URGENT, status=Status.OPEN
    )
    TicketFactory(subject="A quiet question", priority=Priority.LOW, status=Status.OPEN)
    page = sign_in(browser, server, manager.username)
    page.wait_for_url("**/tickets/")

    page.goto("/slas/policies/new/")
    page.get_by_label("Name", exact=True).fill("Gold customers")
    page.get_by_label("Order (0 is tried first)").fill("1")
    page.get_by_label("Counts in calendar").select_option(label="Office")
    page.get_by_label("Customer tiers").select_option(["gold"])
    page.get_by_label("Urgent: First reply").fill("30")
    page.get_by_label("Urgent: Resolution").fill("4h")
    page.get_by_label("High: First reply").fill("1h 30")
    page.get_by_label("Normal: Resolution").fill("2d")
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.locator("#target-normal-resolution_minutes-error")).to_contain_text("8h")
    expect(page.get_by_label("High: First reply")).to_have_value("1h 30m")
    check_page(page)
    page.locator("fieldset", has_text="Targets per priority").scroll_into_view_if_needed()
    screenshot(page, "sla-policy-editor")
    page.get_by_label("Normal: Resolution").fill("16h")
    page.get_by_role("button", name="Save policy").click()
    page.wait_for_url("**/slas/policies/")
    expect(page.get_by_role("link", name="Gold customers")).to_be_visible()

    page.goto("/slas/rules/new/")
    page.get_by_label("Name", exact=True).fill("Urgent tickets to the lead")
    page.get_by_label("Runs").select_option("event")
    first = page.locator("[data-cond-row]").first
    first.get_by_label("Condition", exact=True).select_option("priority")
    first.get_by_label("Value", exact=True).select_option(["urgent"])
    page.get_by_role("button", name="+ Add action").click()
    second_action = page.locator("[data-action-row]").nth(1)
    second_action.get_by_label("Action", exact=True).select_option("add_tag")
    second_action.get_by_label("Tag", exact=True).fill("hot")
    page.get_by_role("button", name="Dry run").click()
    result = page.locator("[data-dry-run]")
    expect(result).to_contain_text("1 open ticket would fire now", timeout=WAIT)
    expect(result).to_contain_text("Server down at the warehouse")
    expect(result).not_to_contain_text("A quiet question")
    expect(result).to_be_focused()
    # Only the chosen action's own fields show.
    expect(second_action.get_by_label("Note", exact=True)).to_be_hidden()
    expect(second_action.get_by_label("Tag", exact=True)).to_be_visible()
    check_page(page)
    screenshot(page, "sla-rule-editor")


def test_workspace_sla_panel_shows_the_ledger(server, browser, agent):  # noqa: F811
    ticket = TicketFactory(
        subject="Parcel never arrived",
        status=Status.OPEN,
        sla_due_at=timezone.now() - timedelta(minutes=20),
        sla_state=SlaState.BREACHED,
        sla_target=SlaTarget.FIRST_REPLY,
    )
    start = timezone.now() - timedelta(hours=2)
    first = clock(ticket, started_at=start, minutes=60, due_at=start + timedelta(minutes=100))
    first.state = "breached"
    first.breached_at = first.due_at
    first.business_minutes = 60
    first.save()
    for kind, begin, end, minutes, reason in (
        (SegmentKind.RUNNING, 0, 35, 35, ""),
        (SegmentKind.OUTSIDE_HOURS, 35, 75, 0, "Closed for lunch"),
        (SegmentKind.RUNNING, 75, 100, 25, ""),
    ):
        ClockSegment.objects.create(
            clock=first, kind=kind, starts_at=start + timedelta(minutes=begin),
            ends_at=start + timedelta(minutes=end), business_minutes=minutes, reason=reason,
            policy_version=1, calendar_version=1,
        )  # fmt: skip
    page = sign_in(browser, server, agent.username)
    page.wait_for_url("**/tickets/")
    page.goto(f"/tickets/{ticket.pk}/")
    expect(page.locator("#ws-meta .sla")).to_contain_text("Breached")
    page.get_by_text("SLA clocks and ledger").click()
    ledger = page.locator("[data-ledger]")
    expect(ledger).to_contain_text("First reply", timeout=WAIT)
    expect(ledger).to_contain_text("Outside business hours")
    expect(ledger).to_contain_text("Closed for lunch")
    expect(ledger).to_contain_text("v1")
    page.locator(".ws-sla").scroll_into_view_if_needed()
    check_page(page)
    screenshot(page, "sla-ticket-ledger")


def test_customer_sees_the_promise(server, browser, customer):  # noqa: F811
    TicketFactory(
        customer=customer,
        subject="Where is my order?",
        status=Status.OPEN,
        reply_due_at=timezone.now() + timedelta(minutes=42),
        reply_promise="Gold priority",
        sla_state=SlaState.RUNNING,
        sla_due_at=timezone.now() + timedelta(minutes=42),
        sla_target=SlaTarget.FIRST_REPLY,
    )
    page = sign_in(browser, server, customer.user.username)
    page.goto("/my/requests/")
    promise = page.locator("[data-promise]")
    expect(promise).to_contain_text("We will answer by")
    expect(promise).to_contain_text("Gold priority")
    expect(promise).to_contain_text(re.compile(r"\(in 4[12] min\)"))
    expect(page.locator(".sla")).to_have_count(0)
    check_page(page)
    screenshot(page, "customer-promise")


def test_badge_follows_a_colleagues_change_live(server, browser, agent, other_agent, manager):  # noqa: F811
    """A colleague raises the priority over the API: the server recomputes the clocks and
    announces ticket.sla_changed; the workspace badge (and the queue) redraw without a reload."""
    always = save_calendar(actor=manager, calendar=None, data={"name": "24/7", "always_open": True})
    save_policy(
        actor=manager,
        policy=None,
        data={
            "name": "Standard",
            "is_default": True,
            "calendar": always,
            "targets": {
                "normal": {"first_reply_minutes": 240, "resolution_minutes": 960},
                "urgent": {"first_reply_minutes": 30, "resolution_minutes": 240},
            },
        },
    )
    ticket = TicketFactory(subject="Parcel never arrived", status=Status.OPEN)
    recompute_ticket_clocks(ticket=ticket)
    page = sign_in(browser, server, agent.username)
    page.wait_for_url("**/tickets/")
    page.goto(f"/tickets/{ticket.pk}/")
    wait_until_live(page)
    badge = page.locator("#ws-meta .sla")
    expect(badge).to_contain_text("On track")
    expect(badge).to_contain_text("First reply")

    colleague = sign_in(browser, server, other_agent.username)
    colleague.wait_for_url("**/tickets/")
    changed = fetch_json(
        colleague, "POST", f"/api/v1/tickets/{ticket.pk}/priority/", {"priority": "urgent"}
    )
    assert changed["status"] == 200, changed
    expect(badge).to_contain_text("At risk", timeout=WAIT)
    expect(badge).to_contain_text(re.compile(r"(2\d|30) min left"))
