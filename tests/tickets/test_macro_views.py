"""Macro management pages (/macros/): managers only; errors next to the field."""

from http import HTTPStatus

import pytest
from django.test import Client
from django.urls import reverse

from tickets.macros import create_macro
from tickets.models import Macro

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def form(**overrides) -> dict:
    return {"title": "Refund", "body": "Hi {{ customer.first_name }}", "set_status": "",
            "set_priority": "", "set_team": "", "add_tags": "refund", "is_active": "on",
            **overrides}  # fmt: skip


def test_manager_lists_creates_edits_and_retires(manager):
    web = signed_in(manager)
    assert "No macros yet" in web.get(reverse("tickets:macros")).content.decode()

    created = web.post(reverse("tickets:macro-new"), form())
    macro = Macro.objects.get()
    edited = web.post(reverse("tickets:macro-edit", args=[macro.pk]), form(title="Refunds"))
    listing = web.get(reverse("tickets:macros")).content.decode()
    retired = web.post(reverse("tickets:macro-retire", args=[macro.pk]))

    assert created.status_code == edited.status_code == retired.status_code == HTTPStatus.FOUND
    assert "Refunds" in listing
    macro.refresh_from_db()
    assert (macro.title, macro.add_tags, macro.is_active) == ("Refunds", ["refund"], False)


def test_unknown_placeholder_is_an_error_next_to_the_body(manager):
    response = signed_in(manager).post(
        reverse("tickets:macro-new"), form(body="{{ customer.user.password }}")
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    html = response.content.decode()
    assert 'id="id_body-error"' in html
    assert "Unknown placeholder" in html
    assert not Macro.objects.exists()


def test_template_tags_are_an_error(manager):
    response = signed_in(manager).post(reverse("tickets:macro-new"), form(body="{% load x %}"))
    assert "Template tags are not allowed" in response.content.decode()


@pytest.mark.parametrize(("persona", "code"), [("agent", 403), ("customer", 403), (None, 302)])
def test_only_managers_reach_the_pages(request, manager, persona, code):
    macro = create_macro(actor=manager, title="x", body="y")
    client = Client()
    if persona == "agent":
        client = signed_in(request.getfixturevalue("agent"))
    elif persona == "customer":
        client = signed_in(request.getfixturevalue("customer").user)

    assert client.get(reverse("tickets:macros")).status_code == code
    assert client.post(reverse("tickets:macro-new"), form()).status_code == code
    assert client.post(reverse("tickets:macro-retire", args=[macro.pk])).status_code == code
    assert Macro.objects.count() == 1


def test_another_managers_personal_macro_is_a_404(manager):
    from tests.factories import AgentFactory

    other = AgentFactory(username="otto", profile__role="manager")
    personal = create_macro(actor=other, title="Mine", body="x", owner=other)

    web = signed_in(manager)
    assert web.get(reverse("tickets:macro-edit", args=[personal.pk])).status_code == 404
    assert web.post(reverse("tickets:macro-retire", args=[personal.pk])).status_code == 404
