"""The OpenAPI schema is warning-free and tells the truth about real responses.

The API is fuzzed against its own schema, so a response that contradicts it is a bug. These
tests validate real responses (an agent's and a customer's, successes and errors) against the
schema the server publishes, with unknown properties forbidden.
"""

from http import HTTPStatus
from pathlib import Path

import jsonschema
import pytest
import yaml
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from tests.factories import TagFactory, TicketFactory
from tickets.services import post_message


def test_schema_generates_without_warnings_or_errors(tmp_path: Path):
    # --fail-on-warn turns any warning (an unresolvable type, a name clash) into an error;
    # --validate checks the document against the OpenAPI 3 specification.
    target = tmp_path / "schema.yaml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))

    schema = yaml.safe_load(target.read_text())
    assert "/api/v1/tickets/" in schema["paths"]


@pytest.fixture(scope="module")
def openapi(django_db_blocker):
    with django_db_blocker.unblock():
        from django.test import Client

        response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == HTTPStatus.OK
    return response.json()


def strict(node):
    """OpenAPI 3.0 → JSON Schema: `nullable` becomes a null alternative, and an object with
    declared properties takes no others (so an undocumented field fails too)."""
    if isinstance(node, list):
        return [strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: strict(value) for key, value in node.items()}
    if "properties" in node and "additionalProperties" not in node:
        node["additionalProperties"] = False
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


def assert_matches(openapi, path, method, response):
    """The response's body fits what the schema promises for this path, method and code."""
    operation = openapi["paths"][path][method]
    documented = operation["responses"].get(str(response.status_code))
    assert documented is not None, f"{method} {path}: {response.status_code} is undocumented"
    schema = documented["content"]["application/json"]["schema"]
    document = {"components": strict(openapi["components"]), "allOf": [strict(schema)]}
    jsonschema.validate(response.json(), document, cls=jsonschema.Draft202012Validator)


@pytest.fixture
def conversation(customer, agent, team):
    ticket = TicketFactory(customer=customer, team=team, tags=[TagFactory(name="refund")])
    post_message(ticket=ticket, author=customer.user, body="Where is it?")
    post_message(ticket=ticket, author=agent, body="Stolen?", is_internal=True)
    post_message(
        ticket=ticket,
        author=agent,
        body="A new one is on its way.",
        attachments=[SimpleUploadedFile("label.pdf", b"%PDF x", "application/pdf")],
    )
    return ticket


DETAIL = "/api/v1/tickets/{id}/"


@pytest.mark.parametrize("client_name", ["agent_client", "customer_client"])
def test_ticket_detail_and_list_match_the_schema(request, openapi, conversation, client_name):
    client = request.getfixturevalue(client_name)

    detail = client.get(reverse("api:ticket-detail", args=[conversation.pk]))
    listing = client.get(reverse("api:ticket-list"))
    messages = client.get(reverse("api:ticket-messages", args=[conversation.pk]))

    assert detail.status_code == listing.status_code == messages.status_code == HTTPStatus.OK
    assert_matches(openapi, DETAIL, "get", detail)
    assert_matches(openapi, "/api/v1/tickets/", "get", listing)
    assert_matches(openapi, "/api/v1/tickets/{id}/messages/", "get", messages)


def test_agent_writes_match_the_schema(openapi, agent_client, conversation, agent):
    status = agent_client.post(
        reverse("api:ticket-status", args=[conversation.pk]), {"status": "pending"}
    )
    patch = agent_client.patch(
        reverse("api:ticket-detail", args=[conversation.pk]), {"assignee": agent.pk}
    )
    message = agent_client.post(
        reverse("api:ticket-messages", args=[conversation.pk]), {"body": "Any news?"}
    )
    events = agent_client.get(reverse("api:ticket-events", args=[conversation.pk]))
    created = agent_client.post(
        reverse("api:ticket-list"),
        {"customer": conversation.customer_id, "subject": "Call", "body": "Called in"},
    )

    assert_matches(openapi, "/api/v1/tickets/{id}/status/", "post", status)
    assert_matches(openapi, DETAIL, "patch", patch)
    assert_matches(openapi, "/api/v1/tickets/{id}/messages/", "post", message)
    assert_matches(openapi, "/api/v1/tickets/{id}/events/", "get", events)
    assert_matches(openapi, "/api/v1/tickets/", "post", created)
    assert created.status_code == HTTPStatus.CREATED


def test_customer_create_matches_the_schema(openapi, customer_client):
    created = customer_client.post(reverse("api:ticket-list"), {"subject": "Hi", "body": "Help"})

    assert created.status_code == HTTPStatus.CREATED
    assert_matches(openapi, "/api/v1/tickets/", "post", created)


def test_error_responses_match_the_schema(
    openapi, agent_client, customer_client, other_customer_client, anonymous_client, conversation
):
    detail_url = reverse("api:ticket-detail", args=[conversation.pk])
    cases = [
        ("patch", DETAIL, agent_client.patch(detail_url, {"status": "nope"}), 400),
        ("patch", DETAIL, agent_client.patch(detail_url, {"tags": [["x"]]}), 400),
        ("patch", DETAIL, customer_client.patch(detail_url, {"status": "open"}), 403),
        ("get", DETAIL, other_customer_client.get(detail_url), 404),
        ("get", DETAIL, anonymous_client.get(detail_url), 401),
        (
            "get",
            "/api/v1/tickets/",
            agent_client.get(reverse("api:ticket-list"), {"status": "nope"}),
            400,
        ),
        (
            "get",
            "/api/v1/tickets/",
            agent_client.get(reverse("api:ticket-list"), {"cursor": "nonsense"}),
            404,
        ),
        (
            "post",
            "/api/v1/tickets/",
            agent_client.generic(
                "POST", reverse("api:ticket-list"), "{", content_type="application/json"
            ),
            400,
        ),
    ]
    for method, path, response, code in cases:
        assert response.status_code == code, (method, path, response.content)
        assert_matches(openapi, path, method, response)


def test_download_is_documented_as_a_file(openapi, customer_client, conversation):
    attachment = conversation.messages.get(attachments__isnull=False).attachments.get()
    url = reverse("api:attachment-download", args=[attachment.pk])

    response = customer_client.get(url)

    documented = openapi["paths"]["/api/v1/attachments/{id}/download/"]["get"]["responses"]
    assert response.status_code == HTTPStatus.OK
    assert documented["200"]["content"]["*/*"]["schema"]["format"] == "binary"
    assert_matches(
        openapi,
        "/api/v1/attachments/{id}/download/",
        "get",
        customer_client.get(reverse("api:attachment-download", args=[attachment.pk + 999])),
    )


def test_agent_only_fields_are_optional_and_say_so(openapi):
    ticket = openapi["components"]["schemas"]["TicketDetail"]

    for name in ["customer", "team", "assignee", "tags", "parent"]:
        assert name not in ticket["required"]
        assert "Agents only" in ticket["properties"][name]["description"]
    assert {"id", "reference", "status", "messages"} <= set(ticket["required"])
