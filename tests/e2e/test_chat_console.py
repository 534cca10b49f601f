"""The agent chat console in a real browser (Debian's Chromium, Playwright) against a real
uvicorn server: a chat waiting in the queue rings the agent as soon as their console is open
(title badge), they accept it by its button, write by the "Message" box and "Send" button, the
line is stored and shown as delivered, the alert preferences stick, and "End chat" ends it.
axe-core finds no serious or critical violation; the screenshot is docs/screenshots/
chat-console.png. (The cross-origin customer-and-agent journey is tests/e2e/test_chat_widget.py.)
"""

import re

import pytest
from playwright.sync_api import expect

from accounts.models import Availability
from chat.models import ChatLine, ConversationState
from customers.factories import standard_tiers
from tests.chat.routing_support import fresh, make_site, waiting_chat
from tests.e2e.test_workspace import (  # the shared fixtures and helpers of the agent UI tests
    WAIT,
    assert_accessible,
    browser,  # noqa: F401 - a fixture
    screenshot,
    server,  # noqa: F401 - a fixture
    sign_in,
)
from tests.factories import OrganizationFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def chats(agent, team):
    profile = agent.agent_profile
    profile.availability, profile.chat_capacity = Availability.ONLINE, 3
    profile.save(update_fields=["availability", "chat_capacity"])
    site = make_site(team, name="Demo shop")
    gold = next(tier for tier in standard_tiers() if tier.slug == "gold")
    first = waiting_chat(site, name="Ana Ruiz", rank=gold.rank)
    customer = first.ticket.customer
    customer.lifetime_value = 1843
    customer.organization = OrganizationFactory(name="Ruiz Imports")
    customer.save(update_fields=["lifetime_value", "organization"])
    first.topic = "Parcel never arrived"
    first.save(update_fields=["topic"])
    first.visitor.current_page = "https://shop.example/orders/1001"
    first.visitor.save(update_fields=["current_page"])
    second = waiting_chat(site, name="Tom Li")
    return first, second


def test_agent_is_offered_a_waiting_chat_accepts_it_writes_and_ends_it(
    chats, agent, server, browser  # noqa: F811 - fixtures
):
    first, second = chats
    assert fresh(first).state == ConversationState.WAITING  # nobody at a console yet
    page = sign_in(browser, server, agent.username)
    page.goto("/chat/")
    expect(page.locator("[data-chat-conn]")).to_have_attribute(
        "data-chat-conn", "connected", timeout=WAIT
    )

    # Opening the console is a heartbeat: both waiting chats ring for this agent.
    offers = page.locator(".chat-card.is-offer")
    expect(offers).to_have_count(2, timeout=WAIT)
    expect(page).to_have_title(re.compile(r"^\(2\) Live chats"), timeout=WAIT)

    page.get_by_role("button", name="Accept chat from Ana Ruiz").click()
    message = page.get_by_role("textbox", name="Message")
    expect(message).to_be_visible(timeout=WAIT)
    expect(page.get_by_role("complementary", name="Customer")).to_contain_text("Ruiz Imports")
    expect(page.get_by_role("complementary", name="Customer")).to_contain_text(
        "https://shop.example/orders/1001"
    )
    expect(page).to_have_title(re.compile(r"^\(1\) Live chats"), timeout=WAIT)

    message.fill("Hi Ana, I am looking at order 1001 now.")
    page.get_by_role("button", name="Send").click()
    line = page.locator(".chat-line.from-agent").last
    expect(line).to_contain_text("I am looking at order 1001 now.")
    expect(line.locator("[data-read-mark]")).to_have_text("Delivered", timeout=WAIT)
    assert ChatLine.objects.filter(conversation=first, sender="agent").count() == 1
    # Enter sends too; Shift+Enter would make a new line.
    message.fill("It left our warehouse on Monday.")
    message.press("Enter")
    expect(page.locator(".chat-line.from-agent")).to_have_count(2, timeout=WAIT)

    assert_accessible(page)
    screenshot(page, "chat-console")

    # Alerts can be turned off, and stay off after a reload.
    page.get_by_text("Alerts").click()
    page.get_by_label("Count new chats in the tab title").uncheck()
    expect(page).to_have_title(re.compile(r"^Live chats"))
    page.reload()
    expect(page.get_by_label("Count new chats in the tab title")).not_to_be_checked()

    page.get_by_role("link", name=re.compile("Ana Ruiz")).click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="End chat").click()
    expect(page.locator(".chat-conv-meta")).to_contain_text("Ended", timeout=WAIT)
    assert fresh(first).state == ConversationState.ENDED
    assert fresh(second).offered_to == agent
