"""The chat console /chat/ and the Sites manager pages /chat/sites/ through the test client:
who may open them, what they show, what their forms change, and what they cost in queries."""

from http import HTTPStatus

import pytest
from django.test import Client

from chat.models import AgentChatPresence, ConversationState, Site
from tests.chat.routing_support import fresh, make_site, online_agent, waiting_chat
from tests.factories import TeamFactory
from tickets.models import Message

pytestmark = pytest.mark.django_db


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def site(team):
    return make_site(team, name="Demo shop")


# --- who may open the console -----------------------------------------------------------------


def test_agents_open_the_console_customers_get_403_and_visitors_sign_in(agent, customer):
    page = page_client(agent).get("/chat/")
    assert page.status_code == HTTPStatus.OK
    assert b"Live chats" in page.content
    assert b'data-chat-ws="/ws/chat/agent/"' in page.content
    assert page_client(customer.user).get("/chat/").status_code == HTTPStatus.FORBIDDEN
    assert Client().get("/chat/").status_code == HTTPStatus.FOUND


def test_the_console_lists_offers_my_chats_and_the_waiting_queue(team, site):
    me = online_agent(team, username="me", capacity=2)
    offered = waiting_chat(site, name="Olga Offered")
    mine = waiting_chat(site, name="Mia Mine")
    from chat import routing_engine

    routing_engine.accept(conversation=mine, agent=me)
    AgentChatPresence.objects.filter(agent=me).update(accepting=False)  # full anyway
    waiting = waiting_chat(site, name="Walt Waiting", rank=3)

    page = page_client(me).get("/chat/").content.decode()

    assert fresh(offered).offered_to == me
    assert fresh(waiting).state == ConversationState.WAITING
    offers, rest = page.split("My chats", 1)
    mine_part, waiting_part = rest.split("Waiting", 1)
    assert "Olga Offered" in offers
    assert "Mia Mine" in mine_part
    assert "Walt Waiting" in waiting_part
    assert 'data-attention="2"' in page  # one offer + one waiting: the title badge
    assert "You have 2 of 2 chats." in page


def test_other_teams_chats_are_not_listed_or_shown(team, site):
    billing = TeamFactory(name="Billing")
    outsider = online_agent(billing, username="outsider")
    chat = waiting_chat(site, name="Carol Secret")
    client = page_client(outsider)
    assert "Carol Secret" not in client.get("/chat/lists/").content.decode()
    assert client.get(f"/chat/{chat.pk}/").status_code == HTTPStatus.NOT_FOUND
    assert client.post(f"/chat/{chat.pk}/accept/").status_code == HTTPStatus.NOT_FOUND


def test_managers_see_every_teams_chats(site, manager):
    chat = waiting_chat(site, name="Carol Anyone")
    assert "Carol Anyone" in page_client(manager).get("/chat/lists/").content.decode()
    assert page_client(manager).get(f"/chat/{chat.pk}/").status_code == HTTPStatus.OK


@pytest.mark.parametrize("chats", [2, 12])
def test_the_lists_cost_a_fixed_number_of_queries(team, site, chats, django_assert_num_queries):
    me = online_agent(team, username="me", capacity=20)
    AgentChatPresence.objects.filter(agent=me).update(accepting=False)
    for n in range(chats):
        waiting_chat(site, name=f"Customer {n}")
    client = page_client(me)
    client.get("/chat/lists/")  # session and user warmed like any page after the first
    with django_assert_num_queries(6):
        response = client.get("/chat/lists/")
    assert response.content.decode().count("chat-card") >= chats


# --- one conversation -------------------------------------------------------------------------


def test_the_pane_shows_lines_the_customer_and_the_ticket_link(team, site):
    me = online_agent(team, username="me")
    chat = waiting_chat(site, name="Carol Customer")
    chat.visitor.current_page = "https://shop.example/boots?size=42"
    chat.visitor.save(update_fields=["current_page"])
    page = page_client(me).get(f"/chat/?chat={chat.pk}").content.decode()
    assert "Hello, is anyone there?" in page
    assert f'href="/tickets/{chat.ticket_id}/"' in page
    assert "https://shop.example/boots?size=42" in page
    assert "Lifetime value" in page
    assert ">Accept</button>" in page


def test_accept_then_the_composer_and_end_chat_appear(team, site):
    me = online_agent(team, username="me")
    chat = waiting_chat(site)
    client = page_client(me)
    response = client.post(f"/chat/{chat.pk}/accept/")
    assert response.status_code == HTTPStatus.OK
    body = response.content.decode()
    assert '<label for="chat-message">Message</label>' in body
    assert ">Send</button>" in body
    assert ">End chat</button>" in body
    assert response["HX-Trigger"] == "chatListsChanged"
    assert fresh(chat).agent == me

    ended = client.post(f"/chat/{chat.pk}/end/")
    assert ended.status_code == HTTPStatus.OK
    assert fresh(chat).state == ConversationState.ENDED


def test_a_broken_rule_shows_next_to_the_controls(team, site):
    me = online_agent(team, username="me", capacity=1)
    first = waiting_chat(site, name="First")
    second = waiting_chat(site, name="Second")
    client = page_client(me)
    client.post(f"/chat/{first.pk}/accept/")
    response = client.post(f"/chat/{second.pk}/accept/")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "chat capacity (1)" in response.content.decode()


def test_an_internal_note_and_a_transfer_to_a_team(team, site):
    me = online_agent(team, username="me")
    billing = TeamFactory(name="Billing")
    chat = waiting_chat(site)
    client = page_client(me)
    client.post(f"/chat/{chat.pk}/accept/")

    assert client.post(f"/chat/{chat.pk}/note/", {"body": ""}).status_code == 400
    client.post(f"/chat/{chat.pk}/note/", {"body": "Asked for the order number"})
    note = Message.objects.get(ticket=chat.ticket, is_internal=True)
    assert "Asked for the order number" in note.body

    bad = client.post(f"/chat/{chat.pk}/transfer/", {"to": "nobody"})
    assert bad.status_code == HTTPStatus.BAD_REQUEST
    assert "Choose an agent or a team from the list." in bad.content.decode()
    moved = client.post(
        f"/chat/{chat.pk}/transfer/", {"to": f"team:{billing.pk}", "note": "Refund question"}
    )
    assert moved.status_code == HTTPStatus.OK
    chat = fresh(chat)
    assert (chat.state, chat.agent) == (ConversationState.WAITING, None)
    chat.ticket.refresh_from_db()
    assert chat.ticket.team == billing


# --- the Sites manager pages ------------------------------------------------------------------


def test_sites_pages_are_for_managers(agent, manager, site):
    assert page_client(agent).get("/chat/sites/").status_code == HTTPStatus.FORBIDDEN
    assert page_client(agent).get(f"/chat/sites/{site.pk}/").status_code == HTTPStatus.FORBIDDEN
    listing = page_client(manager).get("/chat/sites/")
    assert listing.status_code == HTTPStatus.OK
    page = listing.content.decode()
    assert "Demo shop" in page
    # How long a chat may wait with nobody there, beside the offer time-out.
    assert "Give up waiting after" in page
    assert f"{site.missed_after_seconds} s" in page


def test_a_manager_creates_a_site_and_sees_its_snippet_and_secret(manager, team):
    client = page_client(manager)
    form = {
        "name": "Boot shop",
        "allowed_origins": "https://boots.example\nhttp://localhost:8001",
        "team": team.pk,
        "offer_timeout_seconds": 20,
        "missed_after_seconds": 120,
        "prechat_fields": ["name", "email"],
        "greeting": "Hello!",
        "colour": "#aa3300",
        "is_active": "on",
    }
    response = client.post("/chat/sites/new/", form)
    assert response.status_code == HTTPStatus.FOUND
    site = Site.objects.get(name="Boot shop")
    assert site.allowed_origins == ["https://boots.example", "http://localhost:8001"]
    assert site.offer_timeout_seconds == 20
    page = client.get(response["Location"]).content.decode()
    assert f"data-site=&quot;{site.key}&quot;" in page  # in a read-only textarea, escaped
    assert "/static/chat/widget.js" in page
    assert site.identity_secret in page


@pytest.mark.parametrize(
    "origin", ["shop.example", "https://shop.example/path", "ftp://shop.example", "https://"]
)
def test_origins_must_be_scheme_host_and_port(manager, team, origin):
    response = page_client(manager).post(
        "/chat/sites/new/",
        {
            "name": "Bad",
            "allowed_origins": origin,
            "team": team.pk,
            "offer_timeout_seconds": 30,
            "missed_after_seconds": 120,
            "colour": "#123456",
        },
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "is not an origin like https://shop.example" in response.content.decode()
    assert not Site.objects.filter(name="Bad").exists()


def test_rotating_the_identity_secret(manager, site):
    before = site.identity_secret
    response = page_client(manager).post(f"/chat/sites/{site.pk}/rotate-secret/")
    assert response.status_code == HTTPStatus.FOUND
    site.refresh_from_db()
    assert site.identity_secret != before


def test_editing_a_site_keeps_its_key(manager, site, team):
    key = site.key
    response = page_client(manager).post(
        f"/chat/sites/{site.pk}/",
        {
            "name": "Renamed shop",
            "allowed_origins": "https://shop.example",
            "team": team.pk,
            "offer_timeout_seconds": 45,
            "missed_after_seconds": 120,
            "colour": "#123456",
            "is_active": "on",
        },
    )
    assert response.status_code == HTTPStatus.OK
    site.refresh_from_db()
    assert (site.name, site.key, site.offer_timeout_seconds) == ("Renamed shop", key, 45)


# --- the admin ------------------------------------------------------------------------------


def test_the_admin_saves_sites_through_the_service(team):
    from accounts.models import AuditEntry, Role
    from tests.factories import AgentFactory

    admin_user = AgentFactory(username="ada", profile__role=Role.ADMIN)
    client = page_client(admin_user)
    form = {
        "name": "Admin shop",
        "allowed_origins": '["https://shop.example/path"]',
        "team": team.pk,
        "offer_timeout_seconds": 30,
        "missed_after_seconds": 120,
        "prechat_fields": "[]",
        "greeting": "Hi",
        "colour": "#123456",
        "is_active": "on",
    }
    refused = client.post("/admin/chat/site/add/", form)
    assert refused.status_code == HTTPStatus.OK
    assert "is not an origin like https://shop.example" in refused.content.decode()
    assert not Site.objects.filter(name="Admin shop").exists()

    form["allowed_origins"] = '["https://shop.example"]'
    assert client.post("/admin/chat/site/add/", form).status_code == HTTPStatus.FOUND
    site = Site.objects.get(name="Admin shop")
    assert AuditEntry.objects.filter(target_id=site.pk, action="created").exists()
