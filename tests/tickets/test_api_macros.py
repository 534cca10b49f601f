"""/api/v1/macros/: managers write, agents read and render, customers and strangers nothing;
responses match the published schema."""

from http import HTTPStatus

import pytest
from django.urls import reverse

from tests.factories import CustomerFactory, TicketFactory
from tests.test_schema import assert_matches, openapi  # noqa: F401 - a fixture
from tickets.macros import create_macro
from tickets.models import Macro

pytestmark = pytest.mark.django_db

LIST = "/api/v1/macros/"
DETAIL = "/api/v1/macros/{id}/"
RENDER = "/api/v1/macros/{id}/render/"


@pytest.fixture
def macro(manager):
    return create_macro(
        actor=manager,
        title="Late parcel",
        body="Hi {{ customer.first_name }}, about {{ ticket.reference }}.",
        set_status="pending",
        add_tags=["late"],
    )


def test_manager_creates_and_everything_matches_the_schema(openapi, manager_client):  # noqa: F811
    created = manager_client.post(
        reverse("api:macro-list"),
        {
            "title": "Refund",
            "body": "Hello {{ customer.name }}",
            "set_priority": "high",
            "add_tags": ["refund"],
        },
    )
    listing = manager_client.get(reverse("api:macro-list"))
    patched = manager_client.patch(
        reverse("api:macro-detail", args=[created.json()["id"]]), {"title": "Refunds"}
    )

    assert created.status_code == HTTPStatus.CREATED, created.content
    assert_matches(openapi, LIST, "post", created)
    assert_matches(openapi, LIST, "get", listing)
    assert_matches(openapi, DETAIL, "patch", patched)
    macro = Macro.objects.get()
    assert (macro.title, macro.set_priority, macro.add_tags) == ("Refunds", "high", ["refund"])


def test_unknown_placeholder_is_a_400_naming_body(openapi, manager_client):  # noqa: F811
    response = manager_client.post(
        reverse("api:macro-list"), {"title": "x", "body": "{{ customer.user.password }}"}
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "Unknown placeholder" in response.json()["body"][0]
    assert_matches(openapi, LIST, "post", response)
    assert not Macro.objects.exists()


def test_agent_renders_without_applying(openapi, agent_client, macro):  # noqa: F811
    ticket = TicketFactory(customer=CustomerFactory(name="Ana Ruiz"), status="open")

    response = agent_client.post(
        reverse("api:macro-render", args=[macro.pk]), {"ticket": ticket.pk}
    )

    assert response.status_code == HTTPStatus.OK
    assert_matches(openapi, RENDER, "post", response)
    assert response.json()["text"] == f"Hi Ana, about {ticket.reference}."
    assert response.json()["actions"] == {"status": "pending", "add_tags": ["late"]}
    ticket.refresh_from_db()
    assert ticket.status == "open"
    assert not ticket.tags.exists()


def test_render_for_a_missing_ticket_is_a_400(openapi, agent_client, macro):  # noqa: F811
    response = agent_client.post(reverse("api:macro-render", args=[macro.pk]), {"ticket": 999})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert_matches(openapi, RENDER, "post", response)


def test_agent_reads_but_cannot_write(openapi, agent_client, macro):  # noqa: F811
    assert agent_client.get(reverse("api:macro-list")).json()[0]["id"] == macro.pk
    created = agent_client.post(reverse("api:macro-list"), {"title": "x", "body": "y"})
    retired = agent_client.delete(reverse("api:macro-detail", args=[macro.pk]))

    assert created.status_code == retired.status_code == HTTPStatus.FORBIDDEN
    assert_matches(openapi, LIST, "post", created)


def test_manager_retires(manager_client, macro):
    response = manager_client.delete(reverse("api:macro-detail", args=[macro.pk]))

    assert response.status_code == HTTPStatus.NO_CONTENT
    macro.refresh_from_db()
    assert macro.is_active is False


@pytest.mark.parametrize(
    ("client_name", "code"),
    [("customer_client", HTTPStatus.FORBIDDEN), ("anonymous_client", HTTPStatus.UNAUTHORIZED)],
)
def test_customers_and_strangers_get_nothing(request, macro, client_name, code):
    client = request.getfixturevalue(client_name)
    assert client.get(reverse("api:macro-list")).status_code == code
    render = client.post(reverse("api:macro-render", args=[macro.pk]), {"ticket": 1})
    assert render.status_code == code


def test_another_managers_personal_macro_is_a_404(manager_client, agent):
    from tests.factories import AgentFactory

    other_manager = AgentFactory(username="otto", profile__role="manager")
    personal = create_macro(actor=other_manager, title="Mine", body="x", owner=other_manager)

    response = manager_client.get(reverse("api:macro-detail", args=[personal.pk]))
    assert response.status_code == HTTPStatus.NOT_FOUND
