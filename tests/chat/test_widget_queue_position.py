"""The visitor's place in the queue reaches the widget with the session (a reload) and with the
socket's session.resumed: the first queue.updated of a new chat is published before the
visitor's socket has joined the chat's group, so it cannot be the only way the place arrives."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from chat.models import ConversationState
from chat.services import issue_visitor_token
from tests.chat.routing_support import make_site, online_agent, tier, waiting_chat

pytestmark = pytest.mark.django_db

SHOP = "https://shop.example"


def session_of(site, token):
    response = Client().post(
        f"{reverse('chat:widget-session')}?site={site.key}",
        data=json.dumps({"token": token}),
        content_type="application/json",
        HTTP_ORIGIN=SHOP,
    )
    assert response.status_code == 200
    return response.json()["conversation"]


def test_the_session_says_where_in_the_queue_a_waiting_chat_is(team):
    online_agent(team, username="full", capacity=0)  # online, no room: the chats wait
    site = make_site(team, allowed_origins=[SHOP])
    first = waiting_chat(site, name="Tom", rank=tier(0).rank)
    gold = waiting_chat(site, name="Ana", rank=tier(2).rank)  # higher tier: ahead of Tom

    assert first.state == gold.state == ConversationState.WAITING
    assert session_of(site, issue_visitor_token(gold.visitor))["position"] == 1
    assert session_of(site, issue_visitor_token(first.visitor))["position"] == 2
