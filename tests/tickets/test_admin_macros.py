"""The Macro admin writes through tickets.macros: placeholder rules are form errors."""

from http import HTTPStatus

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Role
from tests.factories import AgentFactory
from tickets.models import Macro

pytestmark = pytest.mark.django_db


@pytest.fixture
def web(db) -> Client:
    client = Client()
    client.force_login(AgentFactory(username="ada", profile__role=Role.ADMIN))
    return client


def form(**overrides) -> dict:
    return {"title": "Refund", "body": "Hi {{ customer.first_name }}", "set_status": "",
            "set_priority": "", "set_team": "", "add_tags": "refund, vip", "owner": "",
            "is_active": "on", **overrides}  # fmt: skip


def test_admin_creates_a_macro_through_the_service(web):
    response = web.post(reverse("admin:tickets_macro_add"), form())

    assert response.status_code == HTTPStatus.FOUND
    macro = Macro.objects.get()
    assert (macro.title, macro.add_tags, macro.created_by.username) == (
        "Refund",
        ["refund", "vip"],
        "ada",
    )


def test_unknown_placeholder_is_a_form_error_on_body(web):
    response = web.post(
        reverse("admin:tickets_macro_add"), form(body="{{ customer.user.password }}")
    )

    assert response.status_code == HTTPStatus.OK
    errors = response.context["adminform"].form.errors["body"]
    assert "Unknown placeholder" in errors[0]
    assert not Macro.objects.exists()


def test_deleting_retires(web):
    web.post(reverse("admin:tickets_macro_add"), form())
    macro = Macro.objects.get()

    web.post(reverse("admin:tickets_macro_delete", args=[macro.pk]), {"post": "yes"})

    macro.refresh_from_db()
    assert macro.is_active is False
