"""A visitor waiting in the queue when the last agent goes offline sees, live, that their chat
became a ticket (chat.services.missed, the `conversation.missed` frame): the desk's line in
the log and the ticket notice in place of the queue place, without a reload.

The worker's sweep runs in this test's process and the widget's socket in the live server's:
the event crosses through Redis, so this needs REDIS_URL (the PostgreSQL run has it; SQLite
runs deselect it like every PostgreSQL-only test)."""

import os
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import Availability
from accounts.services import set_agent_availability
from chat.models import Conversation, ConversationState
from chat.services.missed import miss_stranded_chats
from tests.e2e.test_chat_widget import (  # the widget journeys' fixtures and helpers
    chat_log,
    customer_page,
    open_widget,
    shop,  # noqa: F401 - a fixture
    site,  # noqa: F401 - a fixture
    start_chat,
)
from tests.e2e.test_workspace import (
    UNDO_SECONDS,
    WAIT,
    browser,  # noqa: F401 - a fixture
    sign_in,
)
from tests.live_server import live_server

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def server(tmp_path, transactional_db, monkeypatch, settings):
    assert os.environ.get("REDIS_URL"), "this test needs REDIS_URL: two processes share Redis"
    # One pub/sub prefix for this process and the server, and nobody else's.
    prefix = f"missed{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("CHANNEL_LAYER_PREFIX", prefix)
    layer = dict(settings.CHANNEL_LAYERS["default"])
    layer["CONFIG"] = {**layer["CONFIG"], "prefix": prefix}
    settings.CHANNEL_LAYERS = {"default": layer}
    monkeypatch.setenv("UNDO_SEND_SECONDS", str(UNDO_SECONDS))
    with live_server(tmp_path) as running:
        yield running


def test_the_last_agent_goes_offline_and_the_waiting_visitor_is_told_live(
    shop,  # noqa: F811 - a fixture
    site,  # noqa: F811 - a fixture
    agent,
    server,
    browser,  # noqa: F811 - a fixture
):
    # Online but with no free capacity: the chat waits in the queue.
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
    notice = page.get_by_role("dialog").locator(".notice")
    expect(notice).to_contain_text("You are next in line", timeout=WAIT)
    conversation = Conversation.objects.select_related("ticket").get(site=site)
    assert conversation.state == ConversationState.WAITING

    def worker(call, **kwargs):
        # Where the worker runs it: a thread of its own (Playwright's loop holds this one, and
        # publishing to the channel layer from a thread with a running loop is refused).
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(call, **kwargs).result()

    worker(set_agent_availability, agent=agent, availability=Availability.OFFLINE)
    now = timezone.now()
    assert worker(miss_stranded_chats, now=now) == []  # the sweep sees nobody: the clock starts
    wait = timedelta(seconds=site.missed_after_seconds)
    assert worker(miss_stranded_chats, now=now + wait) == [conversation.pk]

    reference = conversation.ticket.reference
    expect(chat_log(page)).to_contain_text(
        f"No one can answer live right now. Your message is saved as {reference}", timeout=WAIT
    )
    expect(notice).to_contain_text(
        re.compile(rf"your message is ticket {reference}\. We'll answer by email at ana@example")
    )
    expect(page.get_by_label("Write a message")).to_be_visible()  # follow-ups go to the ticket
    assert not [e for e in page.js_errors if "HelpdeskChat" in e]  # type: ignore[attr-defined]
