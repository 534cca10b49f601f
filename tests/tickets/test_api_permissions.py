"""Every ticket endpoint, for every persona: who gets in, who is refused, and how.

The ticket belongs to `customer`. Someone else's ticket is a 404, never a 403, so an id does
not reveal that a ticket exists; an agent-only action on one's own ticket is a 403.
"""

from http import HTTPStatus

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.factories import TicketFactory
from tickets.models import Status
from tickets.services import post_message

OK, CREATED = HTTPStatus.OK, HTTPStatus.CREATED
FORBIDDEN, NOT_FOUND, UNAUTHORIZED = (
    HTTPStatus.FORBIDDEN,
    HTTPStatus.NOT_FOUND,
    HTTPStatus.UNAUTHORIZED,
)
PERSONAS = ["agent", "manager", "customer", "other_customer", "anonymous"]

# endpoint: (method, url name, needs ticket id, body, expected status per persona)
ENDPOINTS = {
    "list": ("get", "ticket-list", False, None, [OK, OK, OK, OK, UNAUTHORIZED]),
    "create": (
        "post",
        "ticket-list",
        False,
        {"customer": "CUSTOMER", "subject": "Hi", "body": "Help"},
        [CREATED, CREATED, CREATED, CREATED, UNAUTHORIZED],
    ),
    "retrieve": ("get", "ticket-detail", True, None, [OK, OK, OK, NOT_FOUND, UNAUTHORIZED]),
    "patch": (
        "patch",
        "ticket-detail",
        True,
        {"priority": "high"},
        [OK, OK, FORBIDDEN, NOT_FOUND, UNAUTHORIZED],
    ),
    "status": (
        "post",
        "ticket-status",
        True,
        {"status": "open"},
        [OK, OK, FORBIDDEN, NOT_FOUND, UNAUTHORIZED],
    ),
    "priority": (
        "post",
        "ticket-priority",
        True,
        {"priority": "low"},
        [OK, OK, FORBIDDEN, NOT_FOUND, UNAUTHORIZED],
    ),
    "assign": (
        "post",
        "ticket-assign",
        True,
        {"assignee": None},
        [OK, OK, FORBIDDEN, NOT_FOUND, UNAUTHORIZED],
    ),
    "team": (
        "post",
        "ticket-team",
        True,
        {"team": None},
        [OK, OK, FORBIDDEN, NOT_FOUND, UNAUTHORIZED],
    ),
    "tags": (
        "post",
        "ticket-tags",
        True,
        {"tags": ["vip"]},
        [OK, OK, FORBIDDEN, NOT_FOUND, UNAUTHORIZED],
    ),
    "messages-read": (
        "get",
        "ticket-messages",
        True,
        None,
        [OK, OK, OK, NOT_FOUND, UNAUTHORIZED],
    ),
    "messages-post": (
        "post",
        "ticket-messages",
        True,
        {"body": "Any news?"},
        [CREATED, CREATED, CREATED, NOT_FOUND, UNAUTHORIZED],
    ),
    "events": ("get", "ticket-events", True, None, [OK, OK, FORBIDDEN, NOT_FOUND, UNAUTHORIZED]),
}


@pytest.fixture
def ticket(customer, agent):
    ticket = TicketFactory(customer=customer, status=Status.NEW)
    post_message(
        ticket=ticket,
        author=agent,
        body="Label attached",
        attachments=[SimpleUploadedFile("label.pdf", b"%PDF x", "application/pdf")],
    )
    post_message(
        ticket=ticket,
        author=agent,
        body="Courier notes",
        is_internal=True,
        attachments=[SimpleUploadedFile("notes.txt", b"secret", "text/plain")],
    )
    return ticket


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("persona", PERSONAS)
def test_ticket_endpoint_access(request, ticket, customer, endpoint, persona):
    method, name, with_id, body, expected = ENDPOINTS[endpoint]
    client = request.getfixturevalue(f"{persona}_client")
    url = reverse(f"api:{name}", args=[ticket.pk] if with_id else [])
    if body is not None:
        body = {key: customer.pk if value == "CUSTOMER" else value for key, value in body.items()}
    events_before = ticket.events.count()

    response = getattr(client, method)(url, body) if body is not None else client.get(url)

    assert response.status_code == expected[PERSONAS.index(persona)], response.content
    if response.status_code >= HTTPStatus.BAD_REQUEST:
        assert ticket.events.count() == events_before  # a refusal writes nothing
        assert set(response.json()) == {"detail"}


@pytest.mark.parametrize(
    ("internal", "expected"),
    [
        (False, [OK, OK, OK, NOT_FOUND, UNAUTHORIZED]),
        (True, [OK, OK, NOT_FOUND, NOT_FOUND, UNAUTHORIZED]),
    ],
)
@pytest.mark.parametrize("persona", PERSONAS)
def test_attachment_download_access(request, ticket, persona, internal, expected):
    attachment = ticket.messages.get(is_internal=internal).attachments.get()
    client = request.getfixturevalue(f"{persona}_client")

    response = client.get(reverse("api:attachment-download", args=[attachment.pk]))

    assert response.status_code == expected[PERSONAS.index(persona)]
