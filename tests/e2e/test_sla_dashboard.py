"""The manager SLA dashboard in a real browser: the demo desk's figures, three charts drawn
from the page's JSON block (no inline script: the CSP holds), each with its numbers as a table,
breach and at-risk links to tickets, filters in the URL, usable from the keyboard, axe-clean.
Leaves docs/screenshots/sla-dashboard.png."""

import re
from concurrent.futures import ThreadPoolExecutor
from io import StringIO

import pytest
from django.core.management import call_command
from playwright.sync_api import Browser, expect

from tests.e2e.test_agent_ui import WAIT, check_page, screenshot, sign_in
from tests.e2e.test_browser_journeys import browser, server  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def demo_desk(db):
    # In a thread of its own: the browser's event loop runs in this one, and seeding
    # announces changes to people through async_to_sync.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(
            call_command, "seed_demo", tickets=600, customers=60, stdout=StringIO()
        ).result()


def test_manager_reads_the_dashboard_and_filters_it(browser: Browser, server, demo_desk):  # noqa: F811
    page = sign_in(browser, server, "manager", width=1400)
    page.set_viewport_size({"width": 1400, "height": 1100})
    page.goto("/slas/dashboard/")

    expect(page.get_by_role("heading", name="SLA dashboard", level=1)).to_be_visible()
    expect(page.get_by_role("heading", name="First reply", exact=True)).to_be_visible()
    # The charts are drawn (Chart.js sized each canvas to its container).
    for name in ("trend", "teams", "forecast"):
        canvas = page.locator(f'canvas[data-chart="{name}"]')
        expect(canvas).to_have_attribute("height", re.compile(r"^[1-9]\d+$"), timeout=WAIT)
        assert canvas.bounding_box()["width"] > 200
    # Each chart's numbers are there as a table too.
    expect(page.get_by_role("table", name=re.compile("Per team"))).to_be_visible()
    expect(page.get_by_role("table", name=re.compile("Per hour"))).to_be_visible()
    # Breaches and at-risk tickets link to the ticket.
    first_breach = page.locator("#breaches-title + ul a").first
    expect(first_breach).to_have_attribute("href", re.compile(r"^/tickets/\d+/$"))
    expect(page.locator("#risk-title + ul a").first).to_have_attribute(
        "href", re.compile(r"^/tickets/\d+/$")
    )
    screenshot(page, "sla-dashboard")
    check_page(page)

    # Keyboard: choose a team and show, without the mouse; the filter lands in the URL.
    page.get_by_label("Team", exact=True).focus()
    page.keyboard.press("ArrowDown")  # the first team
    for _ in range(3):  # past Agent and Tier to the Show button
        page.keyboard.press("Tab")
    expect(page.get_by_role("button", name="Show")).to_be_focused()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"team=\d+"), timeout=WAIT)
    expect(page.locator(".dash-period")).to_contain_text("·")
    # The CSV link carries the same filters.
    expect(page.get_by_role("link", name="Download CSV")).to_have_attribute(
        "href", re.compile(r"/slas/dashboard/csv/\?.*team=\d+")
    )
    check_page(page)


def test_agent_gets_403(browser: Browser, server, demo_desk):  # noqa: F811
    page = sign_in(browser, server, "agent")
    response = page.goto("/slas/dashboard/")
    assert response is not None
    assert response.status == 403
