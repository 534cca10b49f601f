"""People in a real browser (Debian's Chromium, driven by Playwright) against a real server.

An agent keeps the event stream open in their browser while a customer opens a ticket from
theirs; an admin works the ticket in the Django admin, where the lifecycle rules hold too.
"""

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from accounts.factories import DEFAULT_PASSWORD, AgentFactory
from accounts.models import Role
from tests.live_server import live_server
from tickets.models import EventKind, Status, Ticket

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

CHROMIUM = "/usr/bin/chromium"
# Headless, and without the background services that would call out of this closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def server(tmp_path, transactional_db):
    with live_server(tmp_path) as running:
        yield running


@pytest.fixture
def browser(monkeypatch) -> Browser:
    # Playwright's sync API keeps its own event loop marked as running on this thread, which
    # trips Django's async-safety check for the ORM calls the test makes between browser
    # steps. Those calls never run inside that loop, so the check is a false alarm here.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def sign_in(browser: Browser, server, username: str) -> Page:
    """A fresh browser profile that signs in through the API's login page."""
    page = browser.new_context(base_url=server.url).new_page()
    page.goto("/api-auth/login/?next=/api/v1/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("[type=submit]")
    page.wait_for_url("**/api/v1/")
    return page


def fetch_json(page: Page, method: str, path: str, body: dict | None = None) -> dict:
    """What the page's own JavaScript would do: same-origin fetch with the CSRF cookie."""
    return page.evaluate(
        """async ([method, path, body]) => {
            const csrf = document.cookie.match(/csrftoken=([^;]+)/)?.[1] ?? "";
            const response = await fetch(path, {
                method,
                headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
                body: body ? JSON.stringify(body) : undefined,
            });
            return {status: response.status, body: await response.json()};
        }""",
        [method, path, body],
    )


def test_agent_browser_hears_the_ticket_a_customer_opens(server, browser, agent, customer):
    agent_page = sign_in(browser, server, agent.username)
    agent_page.evaluate(
        """() => new Promise((resolve, reject) => {
            window.frames_seen = [];
            const url = location.origin.replace("http", "ws") + "/ws/agent/events/";
            const socket = new WebSocket(url);
            socket.onmessage = (message) => window.frames_seen.push(JSON.parse(message.data));
            socket.onopen = () => resolve();
            socket.onerror = () => reject(new Error("the event stream refused the agent"));
        })"""
    )

    customer_page = sign_in(browser, server, customer.user.username)
    opened = fetch_json(
        customer_page,
        "POST",
        "/api/v1/tickets/",
        {"subject": "My parcel arrived damaged", "body": "The box was crushed <b>badly</b>."},
    )
    assert opened["status"] == 201, opened
    reference = opened["body"]["reference"]

    agent_page.wait_for_function(
        "(reference) => window.frames_seen.some((f) => f.ticket?.reference === reference)",
        arg=reference,
        timeout=10_000,
    )
    frame = agent_page.evaluate(
        "(reference) => window.frames_seen.find((f) => f.ticket?.reference === reference)",
        reference,
    )
    assert frame["type"] == "ticket.created"
    assert frame["ticket"]["subject"] == "My parcel arrived damaged"


def test_customer_page_never_shows_an_internal_note(server, browser, agent, customer):
    customer_page = sign_in(browser, server, customer.user.username)
    opened = fetch_json(
        customer_page, "POST", "/api/v1/tickets/", {"subject": "Refund", "body": "Please refund"}
    )
    ticket_id = opened["body"]["id"]

    agent_page = sign_in(browser, server, agent.username)
    note = fetch_json(
        agent_page,
        "POST",
        f"/api/v1/tickets/{ticket_id}/messages/",
        {"body": "Customer has asked for three refunds this month", "is_internal": True},
    )
    reply = fetch_json(
        agent_page,
        "POST",
        f"/api/v1/tickets/{ticket_id}/messages/",
        {"body": "Your refund is on its way", "is_internal": False},
    )
    assert (note["status"], reply["status"]) == (201, 201)

    customer_page.goto(f"/api/v1/tickets/{ticket_id}/")  # the browsable API renders the JSON
    text = customer_page.inner_text("body")
    assert "Your refund is on its way" in text
    assert "three refunds" not in text
    assert "is on its way" in agent_page.goto(f"/api/v1/tickets/{ticket_id}/").text()


def test_admin_changes_status_and_the_rules_hold(server, browser, customer):
    admin = AgentFactory(username="root", profile__role=Role.ADMIN)
    ticket = Ticket.objects.create(subject="Wrong size", customer=customer, status=Status.OPEN)
    page = browser.new_context(base_url=server.url).new_page()
    page.goto("/admin/login/?next=/admin/")
    page.fill("input[name=username]", admin.username)
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("[type=submit]")
    page.wait_for_url("**/admin/")

    page.goto(f"/admin/tickets/ticket/{ticket.pk}/change/")
    page.select_option("select[name=status]", Status.PENDING)
    page.click("input[name=_continue]")
    page.wait_for_selector(".messagelist .success")

    ticket.refresh_from_db()
    assert ticket.status == Status.PENDING
    event = ticket.events.get(kind=EventKind.STATUS_CHANGED)
    assert (event.actor, event.data) == (admin, {"from": "open", "to": "pending"})

    Ticket.objects.filter(pk=ticket.pk).update(status=Status.CLOSED)
    page.goto(f"/admin/tickets/ticket/{ticket.pk}/change/")
    page.select_option("select[name=status]", Status.OPEN)
    page.click("input[name=_continue]")
    page.wait_for_selector(".errorlist")
    assert "cannot become Open" in page.inner_text(".errorlist")
    ticket.refresh_from_db()
    assert ticket.status == Status.CLOSED


def test_api_docs_render_without_any_outside_network(server, browser):
    # Swagger UI's files are served by the helpdesk itself (drf-spectacular-sidecar): the docs
    # work on a closed network and send no visitor's traffic to a CDN.
    page = browser.new_page()
    page.goto(f"{server.url}/api/docs/")
    page.wait_for_selector(".opblock-tag", timeout=15_000)
    assert "Helpdesk API" in page.inner_text(".info .title")
    assert "/api/v1/tickets/" in page.inner_text("body")
