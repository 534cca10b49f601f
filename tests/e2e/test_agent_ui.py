"""The agent UI in a real browser (Debian's Chromium, Playwright) against a real server: sign
in, work the queue, see another agent's change arrive live, use the keyboard, sign out. Every
main page passes axe-core (no serious or critical violation) and leaves a screenshot in
docs/screenshots/ for the README."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Browser, Page, expect

from accounts.factories import DEFAULT_PASSWORD
from accounts.models import Availability
from customers.factories import standard_tiers
from tests.e2e.axe import assert_accessible, assert_no_csp_violations, watch_for_csp_violations
from tests.e2e.test_browser_journeys import browser, fetch_json, server  # noqa: F401 (fixtures)
from tests.factories import CustomerFactory, MessageFactory, TicketFactory
from tickets.models import Priority, SenderKind, Status, Ticket

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"
WAIT = 10_000  # ms: every wait is on a condition, with this deadline


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


def sign_in(browser: Browser, server, username: str, *, width: int = 1280) -> Page:  # noqa: F811
    """Through the sign-in form at `/`, as a person does."""
    context = browser.new_context(base_url=server.url, viewport={"width": width, "height": 800})
    page = context.new_page()
    watch_for_csp_violations(page)
    page.goto("/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    return page


def check_page(page: Page) -> None:
    """axe-core finds no serious or critical violation, and nothing was blocked by the CSP."""
    assert_accessible(page)
    assert_no_csp_violations(page)


def wait_until_live(page: Page) -> None:
    expect(page.locator("[data-conn-state]")).to_have_attribute(
        "data-conn-state", "connected", timeout=WAIT
    )


def seed_queue(agent, team) -> dict[str, Ticket]:
    tiers = {tier.slug: tier for tier in standard_tiers()}
    ana = CustomerFactory(name="Ana Ruiz", tier=tiers["gold"])
    tom = CustomerFactory(name="Tom Li", tier=tiers["standard"])
    mia = CustomerFactory(name="Mia Wong", tier=tiers["vip"])
    tickets = {
        "parcel": TicketFactory(
            subject="Parcel never arrived", customer=ana, team=team, priority=Priority.HIGH
        ),
        "refund": TicketFactory(
            subject="Refund for order 7731",
            search_document="Refund for order 7731",
            customer=tom,
            team=team,
        ),
        "size": TicketFactory(subject="Wrong size delivered", customer=mia, team=team),
        "mine": TicketFactory(
            subject="Invoice address change",
            customer=tom,
            assignee=agent,
            status=Status.OPEN,
            priority=Priority.URGENT,
        ),
    }
    MessageFactory(ticket=tickets["parcel"], sender=SenderKind.CUSTOMER)
    return tickets


def row(page: Page, ticket: Ticket):
    return page.locator(f"#ticket-row-{ticket.pk}")


def test_sign_in_page_says_so_on_a_wrong_password(server, browser, agent):  # noqa: F811
    page = browser.new_context(base_url=server.url).new_page()
    watch_for_csp_violations(page)
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in to Helpdesk")).to_be_visible()
    check_page(page)
    screenshot(page, "sign-in")
    page.get_by_label("Username").fill(agent.username)
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("That username and password do not match")
    check_page(page)


def test_agent_signs_in_filters_searches_bulk_assigns_and_signs_out(
    server,  # noqa: F811
    browser,  # noqa: F811
    agent,
    team,
):
    tickets = seed_queue(agent, team)
    agent.agent_profile.timezone = "Europe/London"
    agent.agent_profile.save()
    page = sign_in(browser, server, agent.username)
    page.wait_for_url("**/tickets/")
    expect(page.get_by_role("heading", name="My open", level=1)).to_be_visible()
    expect(row(page, tickets["mine"])).to_contain_text("Invoice address change")
    check_page(page)

    nav = page.get_by_role("navigation", name="Views")
    expect(nav.get_by_role("link", name=re.compile(r"Unassigned\s+3"))).to_be_visible()
    nav.get_by_role("link", name=re.compile("Unassigned")).click()
    page.wait_for_url("**/tickets/?view=unassigned")
    expect(page.locator("tr[data-ticket-id]")).to_have_count(3)
    expect(row(page, tickets["parcel"])).to_have_class(re.compile("is-unread"))
    exact = row(page, tickets["parcel"]).locator("time").get_attribute("title")
    assert exact.endswith("(Europe/London)"), exact  # the agent's own time zone
    wait_until_live(page)
    screenshot(page, "queue")

    # Filter: a change of the menu updates the rows (htmx) and the URL.
    filters = page.get_by_role("search", name="Filter the queue")
    filters.get_by_label("Priority").select_option("high")
    page.wait_for_url(re.compile(r"priority=high"))
    assert "tag=" not in page.url  # filters left at "Any" stay out of the URL
    expect(page.locator("tr[data-ticket-id]")).to_have_count(1)
    expect(row(page, tickets["parcel"])).to_be_visible()
    filters.get_by_label("Priority").select_option("")
    expect(page.locator("tr[data-ticket-id]")).to_have_count(3)

    # Search, with the same search as the API.
    search = filters.get_by_role("searchbox", name="Search")
    search.fill("refund")
    search.press("Enter")
    page.wait_for_url(re.compile(r"search=refund"))
    expect(page.locator("tr[data-ticket-id]")).to_have_count(1)
    expect(row(page, tickets["refund"])).to_be_visible()
    search.fill("")
    search.press("Enter")
    expect(page.locator("tr[data-ticket-id]")).to_have_count(3)

    # Bulk-assign two tickets to me.
    page.get_by_label(f"Select {tickets['parcel'].reference}: Parcel never arrived").check()
    page.get_by_label(f"Select {tickets['size'].reference}: Wrong size delivered").check()
    expect(page.locator("[data-bulk-count]")).to_have_text("2 selected")
    page.get_by_label("Assign to").select_option("me")
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="2 tickets changed")).to_contain_text(
        "Assigned to Alice"
    )
    expect(page.locator("tr[data-ticket-id]")).to_have_count(1)  # left Unassigned
    assert set(
        Ticket.objects.filter(pk__in=[tickets["parcel"].pk, tickets["size"].pk]).values_list(
            "assignee", flat=True
        )
    ) == {agent.pk}
    expect(nav.get_by_role("link", name=re.compile(r"My open\s+3"))).to_be_visible()

    # Availability from the header.
    page.get_by_label("Your availability").select_option("away")
    expect(page.locator(".avail-dot.avail-away")).to_be_visible()
    agent.agent_profile.refresh_from_db()
    assert agent.agent_profile.availability == Availability.AWAY

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{server.url}/")
    expect(page.get_by_role("heading", name="Sign in to Helpdesk")).to_be_visible()
    page.goto("/tickets/")
    page.wait_for_url(re.compile(r"/\?next=/tickets/"))


def test_a_change_by_another_agent_appears_live(
    server,  # noqa: F811
    browser,  # noqa: F811
    agent,
    other_agent,
    team,
):
    tickets = seed_queue(agent, team)
    page = sign_in(browser, server, agent.username)
    page.goto("/tickets/?view=unassigned")
    wait_until_live(page)
    parcel = row(page, tickets["parcel"])
    expect(parcel).to_contain_text("High")

    colleague = sign_in(browser, server, other_agent.username)
    colleague.wait_for_url("**/tickets/")
    changed = fetch_json(
        colleague,
        "POST",
        f"/api/v1/tickets/{tickets['parcel'].pk}/priority/",
        {"priority": "urgent"},
    )
    assert changed["status"] == 200, changed
    expect(parcel).to_contain_text("Urgent", timeout=WAIT)
    expect(parcel).to_have_class(re.compile("is-changed"))

    # A ticket that leaves the view while the agent is not busy with the list: gone at once.
    taken = fetch_json(
        colleague,
        "POST",
        f"/api/v1/tickets/{tickets['size'].pk}/assign/",
        {"assignee": other_agent.pk},
    )
    assert taken["status"] == 200, taken
    expect(row(page, tickets["size"])).to_have_count(0, timeout=WAIT)

    # While the agent has rows selected, nothing moves: a pill says what changed.
    page.get_by_label(f"Select {tickets['parcel'].reference}: Parcel never arrived").check()
    fetch_json(
        colleague,
        "POST",
        f"/api/v1/tickets/{tickets['refund'].pk}/assign/",
        {"assignee": other_agent.pk},
    )
    pill = page.get_by_role("button", name=re.compile("1 change in this view: show"))
    expect(pill).to_be_visible(timeout=WAIT)
    expect(row(page, tickets["refund"])).to_be_visible()
    pill.click()
    expect(row(page, tickets["refund"])).to_have_count(0)
    expect(page.get_by_role("navigation", name="Views")).to_contain_text("Unassigned")


def test_keyboard_shortcuts(server, browser, agent, team):  # noqa: F811
    tickets = seed_queue(agent, team)
    page = sign_in(browser, server, agent.username)
    page.wait_for_url("**/tickets/")
    page.goto("/tickets/?view=unassigned&sort=created")
    refs = page.locator("tr[data-ticket-id]")
    expect(refs).to_have_count(3)
    wait_until_live(page)

    page.keyboard.press("j")
    first = refs.nth(0)
    expect(first).to_have_class(re.compile("is-cursor"))
    page.keyboard.press("j")
    expect(refs.nth(1)).to_have_class(re.compile("is-cursor"))
    page.keyboard.press("k")
    expect(first).to_have_class(re.compile("is-cursor"))
    page.keyboard.press("x")
    expect(first.get_by_role("checkbox")).to_be_checked()
    expect(page.locator("[data-bulk-count]")).to_have_text("1 selected")
    page.keyboard.press("x")
    expect(first.get_by_role("checkbox")).not_to_be_checked()

    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Go to Unassigned")
    expect(dialog).to_contain_text("Next ticket in the list")
    check_page(page)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    page.keyboard.press("/")
    expect(page.get_by_role("searchbox", name="Search tickets")).to_be_focused()
    page.keyboard.type("jk")  # typing in a field never fires shortcuts
    expect(first).to_have_class(re.compile("is-cursor"))
    page.keyboard.press("Escape")

    page.keyboard.press("g")
    page.keyboard.press("i")
    page.wait_for_url("**/tickets/?view=mine")
    expect(page.get_by_role("heading", name="My open", level=1)).to_be_visible()
    page.keyboard.press("g")
    page.keyboard.press("u")
    page.wait_for_url("**/tickets/?view=unassigned")
    page.keyboard.press("g")
    page.keyboard.press("p")
    page.wait_for_url("**/tickets/?view=pending")
    expect(page.get_by_text("No ticket is waiting on a customer.")).to_be_visible()

    page.goto("/tickets/?view=mine")
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/tickets/{tickets['mine'].pk}/")


def test_manager_and_customer_pages(server, browser, manager, agent, customer, team):  # noqa: F811
    seed_queue(agent, team)
    TicketFactory(customer=customer, subject="Where is my parcel?")
    TicketFactory(customer=customer, subject="Change my address", status=Status.SOLVED)
    agent.agent_profile.availability = Availability.ONLINE
    agent.agent_profile.save()
    team.manager = manager
    team.save()

    page = sign_in(browser, server, manager.username)
    page.wait_for_url("**/tickets/")

    # A saved view for the team, from the current filters.
    page.goto("/tickets/?view=unassigned&priority=high")
    page.get_by_text("+ Save these filters as a view").click()
    page.get_by_label("Name").fill("High and unassigned")
    page.get_by_label("Visible to").select_option(label="Team Orders")
    page.get_by_role("button", name="Save view").click()
    expect(page.get_by_role("heading", name="High and unassigned", level=1)).to_be_visible()
    assert "priority=high" in page.url
    saved = page.get_by_role("navigation", name="Views").get_by_role(
        "link", name=re.compile("High and unassigned")
    )
    expect(saved).to_have_attribute("aria-current", "page")
    expect(page.locator("tr[data-ticket-id]")).to_have_count(1)

    page.get_by_role("link", name="Team overview").click()
    page.wait_for_url("**/team/")
    expect(page.get_by_role("heading", name="Team overview")).to_be_visible()
    expect(page.get_by_role("region", name=re.compile("Orders"))).to_contain_text("Alice")
    check_page(page)
    screenshot(page, "team-overview")

    # The dark theme (one prefers-color-scheme block) keeps AA contrast too.
    page.emulate_media(color_scheme="dark")
    page.goto("/tickets/?view=all")
    check_page(page)
    screenshot(page, "queue-dark")
    page.emulate_media(color_scheme="light")

    # A tablet width: the navigation folds under a button.
    page.set_viewport_size({"width": 640, "height": 900})
    page.goto("/tickets/?view=all")
    expect(page.get_by_role("navigation", name="Views")).to_be_hidden()
    page.get_by_role("button", name="Menu").click()
    expect(page.get_by_role("navigation", name="Views")).to_be_visible()
    check_page(page)

    shopper = sign_in(browser, server, customer.user.username)
    shopper.wait_for_url("**/my/requests/")
    expect(shopper.get_by_role("heading", name="My requests")).to_be_visible()
    expect(shopper.get_by_role("table", name="Your requests")).to_contain_text(
        "Where is my parcel?"
    )
    expect(shopper.get_by_role("navigation", name="Views")).to_have_count(0)
    check_page(shopper)
    screenshot(shopper, "my-requests")
    shopper.goto("/tickets/")
    expect(shopper.get_by_role("heading", name="You cannot open this page")).to_be_visible()
    check_page(shopper)


def test_stream_reconnects_refetches_and_gives_up_when_signed_out(
    server,  # noqa: F811
    browser,  # noqa: F811
    agent,
    team,
):
    """Helpdesk.stream: a dropped socket reconnects (with back-off) and the queue fetches what
    it missed; close code 4401 (signed out) stops retrying and sends the browser to `/`. The
    socket is routed through Playwright so the test decides when it drops."""
    tickets = seed_queue(agent, team)
    page = sign_in(browser, server, agent.username)
    page.wait_for_url("**/tickets/")
    sockets = []

    def route(socket) -> None:
        sockets.append(socket)
        if len(sockets) == 1:
            socket.close(code=1011, reason="server restarting")  # a drop, not a refusal
        else:
            socket.connect_to_server()

    page.route_web_socket(re.compile(r"/ws/agent/events/$"), route)
    page.goto("/tickets/?view=unassigned")
    expect(page.locator("tr[data-ticket-id]")).to_have_count(3)
    wait_until_live(page)  # the second attempt got through
    assert len(sockets) == 2

    # Missed while away: a ticket that arrived with no event to tell about it. The next drop
    # and reconnect makes the page fetch its rows again.
    missed = TicketFactory(subject="Arrived while offline", team=team)
    sockets[1].close(code=1012, reason="service restart")
    expect(row(page, missed)).to_be_visible(timeout=WAIT)
    assert len(sockets) == 3
    expect(row(page, tickets["parcel"])).to_be_visible()

    with page.expect_navigation(url=re.compile(r"/tickets/$"), timeout=WAIT):
        sockets[2].close(code=4401, reason="signed out")  # `/` sends an agent on to the queue
    wait_until_live(page)
    assert len(sockets) == 4  # one new page, one new socket: the old page did not retry
