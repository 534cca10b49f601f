"""`?ordering=` on every API list that sorts: a field the list does not sort by is a 400 naming
`ordering` and the choices (it used to be ignored silently everywhere but on tickets); a known
one sorts. One backend does it, core.api.StrictOrderingFilter."""

from http import HTTPStatus

import pytest
from django.urls import reverse

from core.api import StrictOrderingFilter
from helpdesk.api_urls import router
from slas.services import save_rule
from tests.factories import AgentFactory, CustomerFactory, OrganizationFactory, TicketFactory
from tickets.macros import create_macro

pytestmark = pytest.mark.django_db

# (route name, a field it sorts by, a second one): every list whose view has an ordering backend.
SORTED_LISTS = [
    ("api:agent-list", "username", "last_name"),
    ("api:organization-list", "name", "created_at"),
    ("api:customer-list", "name", "created_at"),
    ("api:ticket-list", "created_at", "updated_at"),
    ("api:macro-list", "title", "created_at"),
    ("api:sla-rule-list", "name", "position"),
]
PAGED_BY_CURSOR = {"api:ticket-list"}  # one field only: the cursor keeps its place by the first


def test_every_list_that_sorts_is_here_and_strict():
    sorting = {
        f"api:{basename}-list": viewset.filter_backends
        for _, viewset, basename in router.registry
        if hasattr(viewset, "list") and viewset.filter_backends
        and any(hasattr(backend, "ordering_param") for backend in viewset.filter_backends)
    }  # fmt: skip

    assert set(sorting) == {name for name, _, _ in SORTED_LISTS}
    for name, backends in sorting.items():
        assert StrictOrderingFilter in backends, name


@pytest.mark.parametrize(("name", "field", "other"), SORTED_LISTS)
@pytest.mark.parametrize("unknown", ["no_such_field", "-no_such_field", "password", "a\x00b"])
def test_an_unknown_ordering_is_a_400_naming_it(manager_client, name, field, other, unknown):
    response = manager_client.get(reverse(name), {"ordering": unknown})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    [message] = response.json()["ordering"]
    assert message.startswith("Order by ")
    assert f"{field}, -{field}" in message


@pytest.mark.parametrize(("name", "field", "other"), SORTED_LISTS)
def test_a_known_field_with_an_unknown_one_is_a_400_too(manager_client, name, field, other):
    response = manager_client.get(reverse(name), {"ordering": f"-{field},no_such_field"})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "ordering" in response.json()


@pytest.fixture
def rows(manager):
    """Two rows in every list, so an order shows."""
    AgentFactory(username="zed")
    for index in range(2):
        OrganizationFactory(name=f"Org {index}")
        CustomerFactory(name=f"Customer {index}")
        TicketFactory()
        create_macro(actor=manager, title=f"Macro {index}", body="Hello")
        save_rule(
            actor=manager,
            rule=None,
            data={"name": f"Rule {index}", "actions": [{"type": "add_note", "body": "x"}]},
        )


@pytest.mark.parametrize(("name", "field", "other"), SORTED_LISTS)
def test_a_known_ordering_sorts(manager_client, rows, name, field, other):
    response = manager_client.get(reverse(name), {"ordering": f"-{field}"})

    assert response.status_code == HTTPStatus.OK
    body = response.json()
    values = [row[field] for row in (body["results"] if isinstance(body, dict) else body)]
    assert len(values) >= 2
    assert values == sorted(values, reverse=True)


@pytest.mark.parametrize(("name", "field", "other"), SORTED_LISTS)
def test_several_fields_unless_paged_by_cursor(manager_client, name, field, other):
    several = manager_client.get(reverse(name), {"ordering": f"{field},-{other}"})

    if name in PAGED_BY_CURSOR:
        assert several.status_code == HTTPStatus.BAD_REQUEST
        assert "ordering" in several.json()
    else:
        assert several.status_code == HTTPStatus.OK
