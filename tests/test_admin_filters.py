"""Hostile query strings on every admin list: every ModelAdmin the project registers, each of
its list filters' parameters set to a malformed or out-of-range value, plus ordering (`o`) and
search (`q`) garbage, as a signed-in admin. A bad value is "no match" or a message (the admin's
own `?e=1` redirect); never a 500."""

from http import HTTPStatus
from urllib.parse import quote

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from accounts.models import Role
from tests.factories import AgentFactory, MessageFactory, TicketEventFactory, TicketFactory

pytestmark = pytest.mark.django_db

APPS = {"accounts", "chat", "customers", "tickets"}
HOSTILE_VALUES = ["abc", "9" * 20, "-1", "", "%00", "1.5", "%C2%B2"]
HOSTILE_ORDERINGS = ["abc", "9" * 20, "-1", "1.2.3", "%00", "-", "0", "99", "1.-99"]
HOSTILE_SEARCHES = [
    "%00",
    "%25",
    "%27",
    "HD-" + "9" * 20,
    "9" * 20,
    "-1",
    "a" * 2000,
    "%5C",
    "HD-",
    "HD-%C2%B2",
    "%C2%B2",
]

ADMINS = sorted(
    (model_admin for model, model_admin in admin.site._registry.items()
     if model._meta.app_label in APPS),
    key=lambda model_admin: str(model_admin.model._meta),
)  # fmt: skip


def changelist(model_admin) -> str:
    meta = model_admin.model._meta
    return reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")


@pytest.fixture
def web() -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(AgentFactory(username="ada", profile__role=Role.ADMIN))
    return client


@pytest.fixture
def rows(db):
    """Something in every list, so filters and orderings run over real rows."""
    ticket = TicketFactory()
    TicketEventFactory(ticket=ticket)
    MessageFactory(ticket=ticket)


def filter_parameters(web: Client, url: str) -> list[str]:
    response = web.get(url)
    assert response.status_code == HTTPStatus.OK, url
    names: list[str] = []
    for spec in response.context["cl"].filter_specs:
        names.extend(spec.expected_parameters())
    return names


def test_every_admin_of_the_project_is_walked():
    walked = {model_admin.model._meta.label for model_admin in ADMINS}
    assert {"tickets.Ticket", "accounts.User", "customers.Customer"} <= walked


@pytest.mark.parametrize("model_admin", ADMINS, ids=lambda m: m.model._meta.label)
def test_no_list_filter_value_answers_500(web, rows, model_admin):
    url = changelist(model_admin)
    parameters = filter_parameters(web, url)
    failures = []
    for parameter in parameters:
        for value in HOSTILE_VALUES:
            # Alone, and before a valid-looking value (Django reads every value of a key).
            response = web.get(f"{url}?{quote(parameter)}={value}&{quote(parameter)}=1")
            if response.status_code not in {HTTPStatus.OK, HTTPStatus.FOUND}:
                failures.append((parameter, f"{value}&1", response.status_code))
            response = web.get(f"{url}?{quote(parameter)}={value}")
            if response.status_code not in {HTTPStatus.OK, HTTPStatus.FOUND}:
                failures.append((parameter, value, response.status_code))
    assert failures == []


@pytest.mark.parametrize("model_admin", ADMINS, ids=lambda m: m.model._meta.label)
def test_no_ordering_or_search_answers_500(web, rows, model_admin):
    url = changelist(model_admin)
    failures = []
    for value in HOSTILE_ORDERINGS:
        response = web.get(f"{url}?o={value}")
        if response.status_code not in {HTTPStatus.OK, HTTPStatus.FOUND}:
            failures.append(("o", value, response.status_code))
    for value in HOSTILE_SEARCHES:
        response = web.get(f"{url}?q={value}")
        if response.status_code not in {HTTPStatus.OK, HTTPStatus.FOUND}:
            failures.append(("q", value[:30], response.status_code))
    for junk in ["p=abc", "p=-1", "p=" + "9" * 20, "all=x", "_to_field=password", "e=%00",
                 "nosuchfield=1", "id__gt=abc"]:  # fmt: skip
        response = web.get(f"{url}?{junk}")
        if response.status_code not in {HTTPStatus.OK, HTTPStatus.FOUND, HTTPStatus.BAD_REQUEST}:
            failures.append(("?", junk, response.status_code))
    assert failures == []


@pytest.mark.parametrize("value", ["abc", "9" * 20, "-1", "%00", "%C2%B2"])
def test_a_malformed_assignee_is_no_match_not_an_error(web, value):
    TicketFactory()

    response = web.get(f"{reverse('admin:tickets_ticket_changelist')}?assignee={value}")

    assert response.status_code == HTTPStatus.OK
    assert list(response.context["cl"].result_list) == []
