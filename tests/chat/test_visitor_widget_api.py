"""The widget's HTTP endpoints through real URLs: CORS only for the site's origins, the
session (token, identity, site config, promise), attachments through the ticket checks, the
agents' history API."""

import json
from http import HTTPStatus

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from chat.models import ChatLine, Visitor
from chat.services import identity_signature, start_conversation
from tests.chat.visitors import SHOP, make_site, new_visitor, put_online
from tickets.services import post_message

pytestmark = pytest.mark.django_db


@pytest.fixture
def site(team, agent):
    site = make_site(team, prechat_fields=["name"], greeting="Hello there", colour="#aa0000")
    put_online(agent)
    return site


def session(site, body=None, origin=SHOP, client=None):
    client = client or Client()
    headers = {"HTTP_ORIGIN": origin} if origin else {}
    return client.post(
        f"{reverse('chat:widget-session')}?site={site.key}",
        data=json.dumps(body or {}),
        content_type="application/json",
        **headers,
    )


def test_a_new_visitor_gets_a_token_and_the_sites_config(site):
    response = session(site)
    assert response.status_code == HTTPStatus.OK
    assert response["Access-Control-Allow-Origin"] == SHOP
    assert "Access-Control-Allow-Credentials" not in response
    body = response.json()
    assert body["token"]
    assert body["conversation"] is None
    assert body["site"] == {
        "name": "Shop",
        "greeting": "Hello there",
        "colour": "#aa0000",
        "prechat_fields": ["name"],
        "require_identity": False,
        "open_now": True,
        "agents_online": True,
        "next_opening": None,
    }


def test_the_token_brings_back_the_conversation_and_its_lines(site, agent):
    body = session(site).json()
    visitor = Visitor.objects.get()
    chat = start_conversation(site=site, visitor=visitor, prechat={"name": "Eve"}, body="Hi")
    post_message(ticket=chat.ticket, author=agent, body="Hello Eve")
    again = session(site, {"token": body["token"]}).json()
    assert again["conversation"]["id"] == chat.pk
    assert again["conversation"]["reference"] == chat.ticket.reference
    assert [(line["seq"], line["body"]) for line in again["lines"]] == [
        (1, "Hi"),
        (2, "Hello Eve"),
    ]


@pytest.mark.parametrize("origin", ["https://evil.example", "", "null"])
def test_other_origins_get_no_cors_headers_and_a_403(site, origin):
    response = session(site, origin=origin)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "Access-Control-Allow-Origin" not in response
    assert not Visitor.objects.exists()


def test_a_preflight_is_answered_for_the_sites_origins_only(site):
    url = f"{reverse('chat:widget-session')}?site={site.key}"
    ok = Client().options(url, HTTP_ORIGIN=SHOP, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST")
    assert ok.status_code == HTTPStatus.NO_CONTENT
    assert ok["Access-Control-Allow-Origin"] == SHOP
    assert "POST" in ok["Access-Control-Allow-Methods"]
    assert "X-Chat-Token" in ok["Access-Control-Allow-Headers"]
    refused = Client().options(url, HTTP_ORIGIN="https://evil.example")
    assert refused.status_code == HTTPStatus.FORBIDDEN
    assert "Access-Control-Allow-Origin" not in refused


def test_csrf_does_not_apply_but_the_token_does(site):
    client = Client(enforce_csrf_checks=True)
    assert session(site, client=client).status_code == HTTPStatus.OK
    forged = session(site, {"token": "forged"}, client=client)
    assert forged.status_code == HTTPStatus.UNAUTHORIZED
    assert forged.json() == {"token": ["This visitor token is not valid."]}


def test_another_sites_token_is_a_403(site, team):
    other = make_site(team)
    _, token = new_visitor(other)
    response = session(site, {"token": token})
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "token" in response.json()


def test_an_unknown_or_inactive_site_is_a_404(site):
    site.is_active = False
    site.save()
    assert session(site).status_code == HTTPStatus.NOT_FOUND


@pytest.mark.parametrize(
    "raw",
    ["not json", "[1]", "[" * 100 + "]" * 100, json.dumps({"x": "y" * 20000})],
    ids=["garbage", "array", "deep", "large"],
)
def test_bad_bodies_are_400s_naming_the_problem(site, raw):
    response = Client().post(
        f"{reverse('chat:widget-session')}?site={site.key}",
        data=raw,
        content_type="application/json",
        HTTP_ORIGIN=SHOP,
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "non_field_errors" in response.json()


def test_the_session_endpoint_is_rate_limited(site, settings):
    settings.CHAT_WIDGET_REQUESTS_PER_MINUTE = 3
    statuses = [session(site).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


# --- identity ---------------------------------------------------------------------------------


def identity(site, **overrides):
    claimed = {"id": "42", "email": "dana@x.io", "name": "Dana"}
    claimed["signature"] = identity_signature(
        secret=site.identity_secret, external_id="42", email="dana@x.io"
    )
    return {**claimed, **overrides}


def test_a_correctly_signed_identity_is_linked(site):
    response = session(site, {"identity": identity(site)})
    assert response.status_code == HTTPStatus.OK
    assert response.json()["visitor"] == {"name": "Dana", "identified": True}
    assert Visitor.objects.get().customer.external_id == "42"


@pytest.mark.parametrize(
    "overrides",
    [{"signature": "f" * 64}, {"signature": ""}, {"email": "eve@x.io"}],
    ids=["wrong", "missing", "other-email"],
)
def test_a_wrong_or_missing_signature_is_a_400_naming_the_signature(site, overrides):
    response = session(site, {"identity": identity(site, **overrides)})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert list(response.json()) == ["identity.signature"]
    assert not Visitor.objects.exists()


# --- attachments ------------------------------------------------------------------------------


def upload(site, token, files, **fields):
    return Client().post(
        f"{reverse('chat:widget-attachments')}?site={site.key}",
        data={"file": files, **fields},
        HTTP_ORIGIN=SHOP,
        HTTP_X_CHAT_TOKEN=token,
    )


def test_an_attachment_becomes_a_line_and_only_its_visitor_can_fetch_it(site):
    _, token = new_visitor(site)
    response = upload(
        site,
        token,
        [SimpleUploadedFile("label.pdf", b"%PDF-1.4 x", "application/pdf")],
        client_id="f1",
        prechat=json.dumps({"name": "Eve"}),
    )
    assert response.status_code == HTTPStatus.CREATED, response.content
    line = response.json()
    assert (line["seq"], line["client_id"], line["body"]) == (1, "f1", "label.pdf")
    [attachment] = line["attachments"]
    assert attachment["filename"] == "label.pdf"

    url = f"{attachment['url']}?site={site.key}"
    mine = Client().get(url, HTTP_ORIGIN=SHOP, HTTP_X_CHAT_TOKEN=token)
    assert mine.status_code == HTTPStatus.OK
    assert b"".join(mine.streaming_content) == b"%PDF-1.4 x"
    _, stranger = new_visitor(site)
    theirs = Client().get(url, HTTP_ORIGIN=SHOP, HTTP_X_CHAT_TOKEN=stranger)
    assert theirs.status_code == HTTPStatus.NOT_FOUND


def test_attachments_go_through_the_ticket_limits(site, settings):
    _, token = new_visitor(site)
    response = upload(
        site,
        token,
        [SimpleUploadedFile("run.exe", b"MZ", "application/x-msdownload")],
        prechat=json.dumps({"name": "Eve"}),
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "attachments" in response.json()
    assert not ChatLine.objects.exists()
    assert upload(site, "", [SimpleUploadedFile("a.txt", b"a", "text/plain")]).status_code == 401


# --- the agents' history API ------------------------------------------------------------------


@pytest.mark.parametrize("chats", [1, 5])
def test_the_conversation_list_costs_fixed_queries(
    agent_client, site, chats, django_assert_num_queries
):
    for _ in range(chats):
        visitor, _ = new_visitor(site)
        start_conversation(site=site, visitor=visitor, prechat={"name": "Eve"}, body="Hi")
    with django_assert_num_queries(2):  # the page and the count
        response = agent_client.get(reverse("api:chat-conversation-list"))
    assert response.status_code == HTTPStatus.OK
    assert response.json()["count"] == chats


def test_the_conversation_list_filters_by_state_and_names_a_bad_one(agent_client, site):
    visitor, _ = new_visitor(site)
    chat = start_conversation(site=site, visitor=visitor, prechat={"name": "Eve"}, body="Hi")
    url = reverse("api:chat-conversation-list")
    listed = agent_client.get(url, {"state": chat.state}).json()
    assert [row["id"] for row in listed["results"]] == [chat.pk]
    assert agent_client.get(url, {"state": "ended"}).json()["count"] == 0
    # A NUL used to reach PostgreSQL, which refuses it in text: a 500.
    for bad in ("nonsense", "\x00"):
        response = agent_client.get(url, {"state": bad})
        assert response.status_code == HTTPStatus.BAD_REQUEST
        assert list(response.json()) == ["state"]


def test_lines_after_a_sequence_number(agent_client, site, agent):
    visitor, _ = new_visitor(site)
    chat = start_conversation(site=site, visitor=visitor, prechat={"name": "Eve"}, body="Hi")
    post_message(ticket=chat.ticket, author=agent, body="Note", is_internal=True)
    post_message(ticket=chat.ticket, author=agent, body="Hello Eve")
    url = reverse("api:chat-conversation-lines", args=[chat.pk])
    lines = agent_client.get(url, {"after": 1}).json()
    assert [(line["seq"], line["sender"], line["body"]) for line in lines] == [
        (2, "agent", "Hello Eve")
    ]
    assert agent_client.get(url, {"after": -1}).status_code == HTTPStatus.BAD_REQUEST


def test_an_agent_of_another_team_cannot_read_the_chat(site, api_client_for_other_team):
    visitor, _ = new_visitor(site)
    chat = start_conversation(site=site, visitor=visitor, prechat={"name": "Eve"}, body="Hi")
    response = api_client_for_other_team.get(reverse("api:chat-conversation-lines", args=[chat.pk]))
    assert response.status_code == HTTPStatus.NOT_FOUND


@pytest.fixture
def api_client_for_other_team(db):
    from rest_framework.test import APIClient

    from tests.factories import AgentFactory, TeamFactory

    client = APIClient()
    client.force_authenticate(AgentFactory(username="zed", profile__teams=[TeamFactory(name="X")]))
    return client
