"""The customer's chat widget in a real browser (Debian's Chromium, Playwright), embedded in a
shop page served from ANOTHER ORIGIN than the helpdesk: the shop is a tiny http.server on
http://localhost:<port> (another host name and port than the helpdesk's http://127.0.0.1:<port>),
with a strict Content-Security-Policy of its own that only names the helpdesk's origin
(docs/widget.md). So the widget's HTTP calls are cross-origin (CORS for the site's allowed
origins) and its socket passes the site's Origin check.

A customer fills the pre-chat form and writes; an agent in a second browser context accepts the
chat in the console (/chat/) and answers; the customer sees the agent's name and answer, their
line turns Read, they reload the shop page (and go to another page of it) and keep the
conversation; the chat ends, the customer rates it, and the agent finds it on the customer's
history (/customers/<id>/). axe-core runs on the shop page with the widget open (inside its
shadow root) and the screenshot is docs/screenshots/chat-widget.png.
"""

import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.conf import settings
from django.template.loader import render_to_string
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from accounts.models import Availability
from chat.demo import add_demo_site
from chat.demo_views import PRODUCTS
from chat.models import ChatLine, Conversation, ConversationState
from customers.factories import standard_tiers
from tests.e2e.axe import assert_accessible, violations
from tests.e2e.test_workspace import (  # the agent UI tests' fixtures and helpers
    SCREENSHOTS,
    WAIT,
    browser,  # noqa: F401 - a fixture
    server,  # noqa: F401 - a fixture
    sign_in,
    wait_for,
)
from tests.live_server import free_port
from tickets.models import Channel
from tickets.services import record_sla_summary

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# A 1x1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cf00000301010018dd8db00000000049454e44ae426082"
)
CSS = settings.BASE_DIR / "static" / "chat" / "demo_shop.css"

SHOP_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Northwind Outfitters</title></head>
<body>
  <header><a href="/">Northwind Outfitters</a> <a href="/orders/">My orders</a></header>
  <main><h1>{heading}</h1><p>Free shipping over 60 EUR.</p>
  <button type="button">Add to cart</button></main>
  <script src="{helpdesk}/static/chat/widget.js" data-site="{key}" async></script>
</body>
</html>
"""


class Shop:
    """A shop on its own origin: the demo shop's page (and a second page) with the widget's one
    tag, the shop's stylesheet, and a CSP of its own."""

    def __init__(self, helpdesk: str, key: str, site) -> None:
        self.port = free_port()
        self.origin = f"http://localhost:{self.port}"
        ws = helpdesk.replace("http://", "ws://")
        policy = (
            f"default-src 'self'; script-src 'self' {helpdesk}; "
            f"connect-src 'self' {helpdesk} {ws}; img-src 'self' {helpdesk} blob:; "
            "style-src 'self'"
        )
        front = render_to_string(
            "chat/demo_shop.html",
            {"site": site, "products": PRODUCTS, "widget_url": f"{helpdesk}/static/chat/widget.js"},
        )
        pages = {
            "/": (front, "text/html"),
            "/orders/": (
                SHOP_PAGE.format(heading="My orders", helpdesk=helpdesk, key=key),
                "text/html",
            ),
            "/static/chat/demo_shop.css": (CSS.read_text(encoding="utf-8"), "text/css"),
        }

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                page, kind = pages.get(self.path, ("Not found", "text/plain"))
                body = page.encode()
                self.send_response(200 if self.path in pages else 404)
                self.send_header("Content-Type", f"{kind}; charset=utf-8")
                self.send_header("Content-Security-Policy", policy)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "Shop":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def site(team):
    standard_tiers()  # a new customer gets the base tier
    # The demo receiver's site (what seed_demo makes), also allowed on the test shop's origin.
    site = add_demo_site(log=lambda line: None)
    assert site is not None
    assert site.team == team
    return site


@pytest.fixture
def shop(site, server) -> Iterator[Shop]:  # noqa: F811 - a fixture
    with Shop(server.url, site.key, site) as running:
        site.allowed_origins = [*site.allowed_origins, running.origin]
        site.save(update_fields=["allowed_origins"])
        yield running


@pytest.fixture
def online_agent(agent):
    profile = agent.agent_profile
    profile.availability, profile.chat_capacity = Availability.ONLINE, 3
    profile.save(update_fields=["availability", "chat_capacity"])
    return agent


def customer_page(chromium: Browser, shop: Shop, *, dark: bool = False) -> Page:
    context = chromium.new_context(
        viewport={"width": 1280, "height": 800}, color_scheme="dark" if dark else "light"
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and "favicon" not in message.text
            else None
        ),
    )
    page.js_errors = errors  # type: ignore[attr-defined]
    page.goto(shop.origin + "/")
    return page


def widget(page: Page):
    """The widget's shadow host; Playwright's locators pierce its open shadow root."""
    return page.locator("helpdesk-chat")


def open_widget(page: Page) -> None:
    page.get_by_role("button", name=re.compile("^Chat with us")).click()
    expect(page.get_by_role("dialog")).to_be_visible(timeout=WAIT)


def start_chat(page: Page, message: str) -> None:
    page.get_by_label("Your name").fill("Ana Ruiz")
    page.get_by_label("Email").fill("ana@example.com")
    page.get_by_label("Topic").fill("Delivery")
    page.get_by_label("Order reference").fill("NW-100234")
    page.get_by_label("How can we help?").fill(message)
    page.get_by_role("button", name="Start chat").click()


def chat_log(page: Page):
    return page.get_by_role("log", name="Conversation")


def test_customer_chats_from_another_origin_agent_answers_reload_keeps_it_history_shows_it(
    shop,
    site,
    online_agent,
    server,  # noqa: F811 - a fixture
    browser,  # noqa: F811 - a fixture
):
    agent = online_agent
    # The agent's console is open first: that is what "an agent is online" means.
    console = sign_in(browser, server, agent.username)
    console.goto("/chat/")
    expect(console.locator("[data-chat-conn]")).to_have_attribute(
        "data-chat-conn", "connected", timeout=WAIT
    )

    page = customer_page(browser, shop)
    assert page.url.startswith("http://localhost:")  # not the helpdesk's origin
    assert not server.url.startswith("http://localhost:")
    open_widget(page)
    expect(page.get_by_role("button", name="Start chat")).to_be_visible(timeout=WAIT)
    start_chat(page, "Hi, where is my parcel? It was due on Monday.")
    mine = chat_log(page).locator(".msg.customer").first
    expect(mine).to_contain_text("where is my parcel")
    expect(mine).to_contain_text(re.compile("Delivered|Read"), timeout=WAIT)

    conversation = Conversation.objects.select_related("ticket__customer", "visitor").get(site=site)
    assert conversation.ticket.channel == Channel.CHAT
    assert conversation.ticket.customer.email == "ana@example.com"
    assert conversation.order_reference == "NW-100234"
    assert conversation.visitor.current_page.startswith(shop.origin)

    # The agent accepts in the console and answers.
    console.get_by_role("button", name="Accept chat from Ana Ruiz").click()
    reply_box = console.get_by_role("textbox", name="Message")
    expect(reply_box).to_be_visible(timeout=WAIT)
    expect(console.locator(".chat-line").first).to_contain_text("where is my parcel")
    reply_box.fill("Hi Ana, I'm checking order NW-100234 now.")
    console.get_by_role("button", name="Send").click()

    # The customer sees the agent's name and answer; their own line was read.
    answer = chat_log(page).locator(".msg.agent").last
    expect(answer).to_contain_text("checking order NW-100234", timeout=WAIT)
    expect(answer).to_contain_text(agent.display_name)
    expect(page.get_by_role("dialog")).to_contain_text(f"You're chatting with {agent.display_name}")
    expect(mine).to_contain_text("Read", timeout=WAIT)

    # Text is text: markup in a message is shown, never run or rendered.
    page.get_by_label("Write a message").fill("<b>bold?</b> <img src=x onerror=alert(1)>")
    page.get_by_label("Write a message").press("Enter")
    expect(chat_log(page).locator(".msg.customer").last).to_contain_text(
        "<b>bold?</b> <img src=x onerror=alert(1)>", timeout=WAIT
    )
    expect(console.locator(".chat-line").last).to_contain_text("bold?", timeout=WAIT)
    assert widget(page).locator("img").count() == 0  # the text was not parsed as HTML

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "chat-widget.png"))  # for the README and the docs

    # A picture, uploaded cross-origin (multipart, the token in a header), shown from a blob:
    # URL (files are never public), and on the agent's side too.
    page.locator("helpdesk-chat input[type=file]").set_input_files(
        {"name": "parcel.png", "mimeType": "image/png", "buffer": PNG}
    )
    picture = chat_log(page).get_by_role("img", name="parcel.png")
    expect(picture).to_have_attribute("src", re.compile(r"^blob:"), timeout=WAIT)
    expect(console.locator(".chat-line").last).to_contain_text("parcel.png", timeout=WAIT)
    # One over the size limit is refused before it is sent, saying why.
    page.locator("helpdesk-chat input[type=file]").set_input_files(
        {"name": "huge.pdf", "mimeType": "application/pdf", "buffer": b"%" * (10 * 1024 * 1024 + 1)}
    )
    expect(page.get_by_role("alert")).to_contain_text("huge.pdf is too large: the limit is 10 MB")

    # axe with the widget open (and its error showing), reaching into its shadow root.
    found = violations(page)
    assert not [v for v in found if v["impact"] in ("serious", "critical")], found
    assert page.evaluate(
        "() => !!document.querySelector('helpdesk-chat').shadowRoot.querySelector('[role=log]')"
    )

    # A reload, and another page of the shop, keep the conversation (token in localStorage).
    page.reload()
    open_widget(page)
    expect(chat_log(page)).to_contain_text("checking order NW-100234", timeout=WAIT)
    expect(chat_log(page)).to_contain_text("where is my parcel")
    page.goto(shop.origin + "/orders/")
    open_widget(page)
    expect(chat_log(page)).to_contain_text("checking order NW-100234", timeout=WAIT)
    page.get_by_label("Write a message").fill("Thanks! I'm on the orders page now.")
    page.get_by_role("button", name="Send").click()
    expect(console.locator(".chat-line").last).to_contain_text("orders page now", timeout=WAIT)
    texts = list(
        ChatLine.objects.filter(conversation=conversation, sender="customer")
        .order_by("seq")
        .values_list("message__body", flat=True)
    )
    assert len(texts) == 4  # three texts and the picture: nothing stored twice across reloads
    assert len({line.seq for line in ChatLine.objects.filter(conversation=conversation)}) == (
        ChatLine.objects.filter(conversation=conversation).count()
    )

    # The customer ends the chat and rates it.
    page.get_by_role("button", name="End chat").click()
    expect(page.get_by_role("group", name="How was this chat?")).to_be_visible(timeout=WAIT)
    page.get_by_title("5 of 5").click()
    page.get_by_role("button", name="Send rating").click()
    expect(page.get_by_text("Thanks for your rating.")).to_be_visible(timeout=WAIT)
    # The widget keeps no personal data in the browser: after the reloads, the visitor types it.
    page.get_by_label("Email for the transcript").fill("ana@example.com")
    page.get_by_role("button", name="Email me the transcript").click()
    expect(page.get_by_text("The transcript is on its way to ana@example.com.")).to_be_visible()
    conversation.refresh_from_db()
    assert conversation.state == ConversationState.ENDED
    assert conversation.rating == 5
    wait_for(lambda: Conversation.objects.get(pk=conversation.pk).transcripts_sent == 1)
    assert not [e for e in page.js_errors if "HelpdeskChat" in e]  # type: ignore[attr-defined]

    # The ended chat is on the customer's history, for the agent.
    console.goto(f"/customers/{conversation.ticket.customer_id}/")
    expect(console.get_by_role("main")).to_contain_text(conversation.ticket.subject, timeout=WAIT)


def test_waiting_customer_sees_the_promised_reply_time_of_their_tier(
    shop,
    site,
    agent,
    server,  # noqa: F811 - a fixture
    browser,  # noqa: F811 - a fixture
):
    # Online for chat but with no free capacity: the chat waits in the queue.
    profile = agent.agent_profile
    profile.availability, profile.chat_capacity = Availability.ONLINE, 0
    profile.save(update_fields=["availability", "chat_capacity"])
    console = sign_in(browser, server, agent.username)
    console.goto("/chat/")
    expect(console.locator("[data-chat-conn]")).to_have_attribute(
        "data-chat-conn", "connected", timeout=WAIT
    )

    page = customer_page(browser, shop)
    open_widget(page)
    start_chat(page, "Can I change the size of my order?")
    expect(chat_log(page).locator(".msg.customer").first).to_contain_text("Delivered", timeout=WAIT)
    notice = page.get_by_role("dialog").locator(".notice")
    expect(notice).to_contain_text("You are next in line", timeout=WAIT)

    # What slas stores on the ticket (its reply target and reason) is what the widget promises.
    conversation = Conversation.objects.select_related("ticket").get(site=site)
    due = (timezone.now() + timedelta(minutes=45)).replace(second=0, microsecond=0)
    record_sla_summary(
        ticket=conversation.ticket,
        due_at=due,
        target="first_reply",
        state="running",
        reply_due_at=due,
        reply_promise="Gold priority",
    )
    page.reload()
    open_widget(page)
    local = page.evaluate(
        "(iso) => new Date(iso).toLocaleTimeString('en', {hour: '2-digit', minute: '2-digit'})",
        due.isoformat(),
    )
    expect(notice).to_contain_text(f"we promise a reply by {local}, Gold priority", timeout=WAIT)
    assert_accessible(page)


def test_no_agent_online_the_widget_says_so_and_the_message_becomes_a_ticket(
    shop,
    site,
    server,  # noqa: F811 - a fixture
    browser,  # noqa: F811 - a fixture
):
    page = customer_page(browser, shop, dark=True)
    open_widget(page)
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("No one is online to chat right now", timeout=WAIT)
    expect(dialog).to_contain_text("becomes a ticket")
    page.get_by_label("Your name").fill("Ana Ruiz")
    page.get_by_label("Email").fill("ana@example.com")
    page.get_by_label("Topic").fill("Returns")
    page.get_by_label("How can we help?").fill("How do I return boots?")
    page.get_by_role("button", name="Send message").click()
    expect(dialog.locator(".notice")).to_contain_text(
        re.compile(r"your message is ticket HD-\d+\. We'll answer by email at ana@example\.com"),
        timeout=WAIT,
    )
    conversation = Conversation.objects.select_related("ticket").get(site=site)
    assert conversation.state == ConversationState.MISSED
    assert conversation.ticket.customer.email == "ana@example.com"
    assert_accessible(page)  # the dark theme too
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "chat-widget-offline-dark.png"))
