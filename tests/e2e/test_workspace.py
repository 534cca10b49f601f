"""The ticket workspace in a real browser (Debian's Chromium, Playwright) against a real server:
open a ticket from the queue, write an internal note and a public reply (the customer's API
shows the reply, never the note), undo a send, find a draft after a reload, apply a macro, use
the keyboard; a second agent's change arrives live and both see each other. Every page passes
axe-core (no serious or critical violation) and leaves a screenshot for the README."""

import re
import time
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import Browser, Page, expect

from accounts.factories import DEFAULT_PASSWORD
from customers.factories import standard_tiers
from tests.e2e.axe import assert_accessible as assert_no_serious_violations
from tests.e2e.axe import assert_no_csp_violations, watch_for_csp_violations
from tests.e2e.test_browser_journeys import CHROMIUM, CHROMIUM_ARGS, fetch_json
from tests.factories import CustomerFactory, OrganizationFactory, TagFactory, TicketFactory
from tests.live_server import live_server
from tickets.macros import create_macro
from tickets.models import Message, ReplyDraft, ScheduledReply, Status
from tickets.services import post_message

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"
WAIT = 15_000  # ms: every wait is on a condition, with this deadline
UNDO_SECONDS = 4  # long enough to click Undo on a busy machine, short enough to wait out


@pytest.fixture
def server(tmp_path, transactional_db, monkeypatch):
    # A short undo window keeps the journey brisk; the server reads it from its environment.
    monkeypatch.setenv("UNDO_SEND_SECONDS", str(UNDO_SECONDS))
    with live_server(tmp_path) as running:
        yield running


@pytest.fixture
def browser(monkeypatch) -> Browser:
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # see test_browser_journeys
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def wait_for(condition, timeout: float = WAIT / 1000):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.05)
    raise AssertionError(f"Timed out waiting for {condition.__name__}")


def assert_accessible(page: Page, *, also: tuple[str, ...] = ()) -> None:
    # Judge the page at rest, not halfway through an htmx request.
    expect(page.locator(".htmx-request")).to_have_count(0, timeout=WAIT)
    assert_no_serious_violations(page, also=also)
    assert_no_csp_violations(page)


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=False)


def sign_in(browser: Browser, server, username: str, *, width: int = 1360) -> Page:
    context = browser.new_context(base_url=server.url, viewport={"width": width, "height": 900})
    page = context.new_page()
    watch_for_csp_violations(page)  # an inline script or style would break under the policy
    page.goto("/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/(tickets|my/requests)/"))
    return page


def wait_until_live(page: Page) -> None:
    expect(page.locator("[data-conn-state]")).to_have_attribute(
        "data-conn-state", "connected", timeout=WAIT
    )


def reply_box(page: Page):
    return page.get_by_role("textbox", name=re.compile(r"Public reply|Internal note"))


@pytest.fixture
def conversation(agent, customer, team):
    tiers = {tier.slug: tier for tier in standard_tiers()}
    customer.tier = tiers["gold"]
    customer.phone = "+34 600 123 456"
    customer.organization = OrganizationFactory(name="Ruiz Imports")
    customer.lifetime_value = 1843
    customer.notes = "Prefers email. Ships to Madrid."
    customer.save()
    customer.tags.add(TagFactory(name="repeat-buyer"))
    ticket = TicketFactory(
        customer=customer, team=team, subject="Parcel never arrived", status=Status.NEW
    )
    post_message(
        ticket=ticket,
        author=customer.user,
        body="<p>Hi, order <b>1001</b> was due last week and never arrived. Can you check?</p>",
    )
    TicketFactory(customer=customer, subject="Refund for order 998", status=Status.SOLVED)
    return ticket


def test_agent_works_a_ticket_notes_replies_undoes_drafts_and_applies_a_macro(
    conversation, agent, manager, customer, server, browser
):
    ticket = conversation
    create_macro(
        actor=manager,
        title="Parcel delayed",
        body="Hi {{ customer.first_name }},\n\nYour parcel for {{ ticket.reference }} is "
        "**on its way**.\n\n{{ agent.first_name }}",
        set_priority="high",
        add_tags=["late-parcel"],
    )
    page = sign_in(browser, server, agent.username)

    # Open the ticket from the queue.
    page.goto("/tickets/?view=all")
    page.get_by_role("link", name="Parcel never arrived").click()
    page.wait_for_url(f"**/tickets/{ticket.pk}/")
    wait_until_live(page)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Parcel never arrived")
    expect(page.get_by_role("complementary", name="Customer")).to_contain_text("Ruiz Imports")
    # Public reply is the default after a customer message.
    expect(page.get_by_role("radio", name="Public reply")).to_be_checked()

    # An internal note, with the keyboard: n, type, Ctrl+Enter.
    page.keyboard.press("n")
    expect(page.get_by_role("radio", name="Internal note")).to_be_checked()
    expect(reply_box(page)).to_be_focused()
    page.keyboard.type("Carrier says it is stuck in Zaragoza.")
    page.keyboard.press("Control+Enter")
    expect(page.get_by_role("status").filter(has_text="Internal note scheduled.")).to_be_visible()
    note = page.locator(".tl-note").filter(has_text="stuck in Zaragoza")
    expect(note).to_be_visible(timeout=WAIT)
    expect(note).to_contain_text("Internal note")

    # A public reply, with the toolbar's bold.
    page.keyboard.press("r")
    expect(page.get_by_role("radio", name="Public reply")).to_be_checked()
    reply_box(page).fill("We have found it: ")
    page.get_by_role("button", name="Bold").click()
    page.get_by_role("button", name="Send", exact=True).click()
    reply = page.locator(".tl-reply").filter(has_text="We have found it")
    expect(reply).to_be_visible(timeout=WAIT)
    expect(reply.locator(".tl-body strong")).to_have_text("bold text")

    # The customer's own view over the API: the reply, never the note.
    customer_page = browser.new_context(base_url=server.url).new_page()
    customer_page.goto("/api-auth/login/?next=/api/v1/")
    customer_page.fill("input[name=username]", customer.user.username)
    customer_page.fill("input[name=password]", DEFAULT_PASSWORD)
    customer_page.click("[type=submit]")
    customer_page.wait_for_url("**/api/v1/")
    seen = fetch_json(customer_page, "GET", f"/api/v1/tickets/{ticket.pk}/messages/")
    bodies = " ".join(message["body"] for message in seen["body"])
    assert seen["status"] == 200
    assert "We have found it" in bodies
    assert "Zaragoza" not in bodies

    # Undo a send: the text comes back and nothing is posted.
    reply_box(page).fill("Sorry, wrong ticket!")
    page.get_by_role("button", name="Send and mark solved").click()
    expect(reply_box(page)).to_have_value("")  # scheduled: the box is empty again
    page.locator("[data-toasts]").get_by_role("button", name=re.compile(r"^Undo")).click()
    expect(reply_box(page)).to_have_value("Sorry, wrong ticket!")
    undone = ScheduledReply.objects.filter(body="Sorry, wrong ticket!")
    assert list(undone.values_list("state", flat=True)) == ["cancelled"]
    assert not Message.objects.filter(body__contains="wrong ticket").exists()
    ticket.refresh_from_db()
    assert ticket.status != Status.SOLVED

    # A draft survives a reload.
    reply_box(page).fill("Half-written thought about the refund")
    expect(page.locator("[data-draft-state]")).to_have_text("Draft saved", timeout=WAIT)
    page.reload()
    expect(reply_box(page)).to_have_value("Half-written thought about the refund")
    assert ReplyDraft.objects.get(ticket=ticket, author=agent).body.startswith("Half-written")

    # A macro from the picker (m), searched, filled in for review.
    reply_box(page).fill("")
    reply_box(page).press("Escape")  # leave the box: shortcuts never fire while typing
    page.keyboard.press("m")
    dialog = page.get_by_role("dialog", name="Apply a macro")
    expect(dialog).to_be_visible()
    page.get_by_label("Search macros").fill("delayed")
    dialog.get_by_role("button", name=re.compile("Parcel delayed")).click()
    expect(dialog).to_be_hidden()
    expect(reply_box(page)).to_have_value(
        f"Hi Carol,\n\nYour parcel for {ticket.reference} is **on its way**.\n\nAlice"
    )
    expect(page.get_by_label("Priority")).to_have_value("high", timeout=WAIT)
    expect(page.get_by_label("Tags")).to_have_value("late-parcel")

    # Assign to me with a keystroke.
    reply_box(page).press("Escape")
    page.keyboard.press("a")
    expect(page.get_by_label("Assignee")).to_have_value(str(agent.pk), timeout=WAIT)
    wait_for(lambda: type(ticket).objects.filter(pk=ticket.pk, assignee=agent).exists())

    # The shortcut list knows the workspace's keys.
    page.keyboard.press("?")
    shortcuts = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(shortcuts).to_contain_text("Write an internal note")
    page.keyboard.press("Escape")

    page.locator(".ws-timeline").evaluate("el => el.scrollTop = el.scrollHeight")
    page.evaluate("() => window.scrollTo(0, 0)")
    assert_accessible(page)
    screenshot(page, "workspace")


def test_second_agent_changes_the_ticket_live_and_a_stale_reply_warns(
    conversation, agent, other_agent, server, browser
):
    ticket = conversation
    other_agent.first_name, other_agent.last_name = "Priya", "Shah"
    other_agent.save()
    alice = sign_in(browser, server, agent.username)
    alice.goto(f"/tickets/{ticket.pk}/")
    wait_until_live(alice)
    priya = sign_in(browser, server, other_agent.username)
    priya.goto(f"/tickets/{ticket.pk}/")
    wait_until_live(priya)

    # Priya changes the priority; Alice's page shows it without a reload.
    priya.get_by_label("Priority").select_option("urgent")
    expect(alice.get_by_label("Priority")).to_have_value("urgent", timeout=WAIT)
    expect(alice.locator(".tl-event").filter(has_text="Priya Shah")).to_contain_text(
        "changed priority from Normal to Urgent"
    )

    # Alice's reply now warns instead of going ahead; "Send anyway" sends it.
    reply_box(alice).fill("Upgraded to express shipping.")
    alice.get_by_role("button", name="Send", exact=True).click()
    warning = alice.get_by_role("alert").filter(has_text="review before sending")
    expect(warning).to_contain_text("Priya Shah changed the priority")
    assert not ScheduledReply.objects.exists()
    alice.get_by_role("button", name="Send anyway").click()
    expect(priya.locator(".tl-reply").filter(has_text="express shipping")).to_be_visible(
        timeout=WAIT
    )


def test_agents_see_each_other_viewing_and_typing(
    conversation, agent, other_agent, server, browser
):
    ticket = conversation
    other_agent.first_name, other_agent.last_name = "Priya", "Shah"
    other_agent.save()
    agent.last_name = "Adams"
    agent.save()
    alice = sign_in(browser, server, agent.username)
    alice.goto(f"/tickets/{ticket.pk}/")
    wait_until_live(alice)
    priya = sign_in(browser, server, other_agent.username)
    priya.goto(f"/tickets/{ticket.pk}/")
    wait_until_live(priya)

    expect(alice.locator("[data-presence]")).to_have_text("Priya Shah is viewing", timeout=WAIT)
    expect(priya.locator("[data-presence]")).to_have_text("Alice Adams is viewing", timeout=WAIT)
    reply_box(priya).press_sequentially("Let me take this one")
    expect(alice.locator("[data-presence]")).to_have_text("Priya Shah is typing…", timeout=WAIT)


def test_customer_pages_and_macros_are_accessible(
    conversation, agent, manager, customer, server, browser
):
    for index in range(3):
        CustomerFactory(name=f"Zed Customer {index}")
    create_macro(
        actor=manager,
        title="Refund approved",
        body="Hi {{ customer.first_name }}, your refund for {{ ticket.reference }} is on its way.",
        set_status="solved",
        add_tags=["refund"],
    )
    create_macro(
        actor=manager,
        title="Ask for the order number",
        body="Could you send us your order number, {{ customer.first_name }}?",
        set_status="pending",
    )
    page = sign_in(browser, server, agent.username)

    page.goto("/customers/")
    page.get_by_label("Search customers").fill("carol")
    expect(page.locator("#customer-rows tbody tr")).to_have_count(1, timeout=WAIT)
    # Two search forms (the header's, the directory's): each landmark needs its own name.
    assert_accessible(page, also=("landmark-unique",))
    page.get_by_role("link", name="Carol Customer").click()
    page.wait_for_url(f"**/customers/{customer.pk}/")
    expect(page.get_by_role("link", name=conversation.reference)).to_be_visible(timeout=WAIT)
    page.get_by_label("Notes").fill("Prefers email. VIP since 2024.")
    page.get_by_role("button", name="Save notes").click()
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    customer.refresh_from_db()
    assert customer.notes == "Prefers email. VIP since 2024."
    assert_accessible(page)
    screenshot(page, "customer")

    boss = sign_in(browser, server, manager.username)
    boss.goto("/macros/")
    assert_accessible(boss)
    boss.get_by_role("link", name="New macro").click()
    boss.get_by_label("Title").fill("Bad one")
    boss.get_by_label("Body").fill("{{ customer.user.password }}")
    boss.get_by_role("button", name="Save macro").click()
    expect(boss.locator(".field-error")).to_contain_text("Unknown placeholder")
    assert_accessible(boss)
    boss.goto("/macros/")
    screenshot(boss, "macros")

    narrow = sign_in(browser, server, agent.username, width=1000)
    narrow.goto(f"/tickets/{conversation.pk}/")
    panel = narrow.get_by_role("complementary", name="Customer")
    expect(panel).to_be_hidden()
    narrow.get_by_role("button", name=re.compile("^Customer:")).click()
    expect(panel).to_be_visible()
