"""The Content-Security-Policy holds in a real browser: the API docs, the admin and the
browsable API all work under it, and the browser reports no violation on any of them."""

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from accounts.factories import DEFAULT_PASSWORD, AgentFactory
from accounts.models import Role
from tests.e2e.test_browser_journeys import CHROMIUM, CHROMIUM_ARGS
from tests.factories import TicketFactory
from tests.live_server import live_server

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# Chromium fires this event for every blocked script, style, connection, frame or image.
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
    window.cspViolations.push(
        `${location.pathname}: ${event.violatedDirective} blocked ${event.blockedURI} `
        + `(${event.sourceFile}:${event.lineNumber} ${event.sample})`
    );
});
"""


@pytest.fixture
def server(tmp_path, transactional_db):
    with live_server(tmp_path) as running:
        yield running


@pytest.fixture
def browser(monkeypatch) -> Browser:
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # see test_browser_journeys.py
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Watched:
    """A page that remembers every CSP complaint, from the console and from the DOM event."""

    def __init__(self, browser: Browser, base_url: str) -> None:
        self.page: Page = browser.new_context(base_url=base_url).new_page()
        self.console: list[str] = []
        self.page.on("console", self._heard)
        self.page.add_init_script(RECORD_VIOLATIONS)

    def _heard(self, message) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console.append(message.text)

    def violations(self) -> list[str]:
        return self.console + self.page.evaluate("window.cspViolations || []")


def test_the_api_docs_work_under_the_policy(server, browser):
    watched = Watched(browser, server.url)
    response = watched.page.goto("/api/docs/")

    assert "script-src 'self'" in response.headers["content-security-policy"]
    watched.page.wait_for_selector(".opblock-summary-path", timeout=15_000)  # rendered by script
    assert "/api/v1/tickets/" in watched.page.inner_text("body")
    # Open one operation: Swagger UI's own behaviour runs, its styles apply.
    watched.page.click("#operations-tickets-tickets_list .opblock-summary")
    watched.page.wait_for_selector("#operations-tickets-tickets_list .opblock-body")
    assert watched.violations() == []


def test_the_admin_works_under_the_policy(server, browser):
    AgentFactory(username="root", profile__role=Role.ADMIN)
    TicketFactory(subject="Where is my parcel?")
    watched = Watched(browser, server.url)
    page = watched.page

    response = page.goto("/admin/login/?next=/admin/tickets/ticket/")
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    # Styled: the admin's stylesheet applied (an unstyled page lays the header out as a block).
    assert page.eval_on_selector("#header", "e => getComputedStyle(e).display") == "flex"
    page.fill("input[name=username]", "root")
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("[type=submit]")
    page.wait_for_url("**/admin/tickets/ticket/")
    assert "Where is my parcel?" in page.inner_text("#result_list")
    # The admin's own scripts run: the navigation sidebar's toggle opens and closes it.
    shifted = "e => e.classList.contains('shifted')"
    before = page.eval_on_selector("#main", shifted)
    page.click("#toggle-nav-sidebar")
    assert page.eval_on_selector("#main", shifted) is not before
    assert watched.violations() == []


def test_the_browsable_api_works_under_the_policy(server, browser):
    AgentFactory(username="alice")
    watched = Watched(browser, server.url)
    page = watched.page

    page.goto("/api-auth/login/?next=/api/v1/tickets/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", DEFAULT_PASSWORD)
    page.click("[type=submit]")
    page.wait_for_url("**/api/v1/tickets/")
    assert "Ticket List" in page.inner_text("body")
    # Bootstrap's stylesheet applied: the navigation bar is laid out, not a bare list.
    assert page.eval_on_selector(".navbar", "e => getComputedStyle(e).position") != "static"
    assert watched.violations() == []
