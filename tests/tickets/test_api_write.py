"""Changing tickets through the REST API: every write lands through a service with its audit
row, and bad input is a 400 naming the field with nothing half-written."""

from http import HTTPStatus

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.test import APIClient

from tests.factories import (
    AgentFactory,
    CustomerFactory,
    TagFactory,
    TeamFactory,
    TicketFactory,
    UserFactory,
)
from tickets.models import (
    Attachment,
    EventKind,
    Message,
    Priority,
    SenderKind,
    Status,
    Ticket,
    TicketEvent,
)

ACTIONS = {
    "status": {"status": "open"},
    "priority": {"priority": "high"},
    "assign": {"assignee": None},
    "team": {"team": None},
    "tags": {"tags": ["refund"]},
}


def action_url(name, ticket):
    return reverse(f"api:ticket-{name}", args=[ticket.pk])


def detail_url(ticket):
    return reverse("api:ticket-detail", args=[ticket.pk])


def text_file(name="receipt.txt", content=b"paid", content_type="text/plain"):
    return SimpleUploadedFile(name, content, content_type=content_type)


@pytest.fixture
def ticket(customer):
    return TicketFactory(customer=customer, status=Status.NEW)


def substitute(payload, **ids):
    """Parametrized payloads name rows made in the test (`"USER"`); put their ids in."""
    return {
        key: ids.get(value, value) if isinstance(value, str) else value
        for key, value in payload.items()
    }


def unchanged(ticket):
    """Nothing was written: same row, no events, only the messages it had."""
    fresh = Ticket.objects.get(pk=ticket.pk)
    fields = ["status", "priority", "type", "subject", "team_id", "assignee_id", "parent_id"]
    return (
        all(getattr(fresh, f) == getattr(ticket, f) for f in fields)
        and not fresh.events.exists()
        and list(fresh.tags.all()) == []
    )


# --- opening ----------------------------------------------------------------------------------


def test_customer_opens_a_ticket_for_themselves(customer_client, customer):
    response = customer_client.post(
        reverse("api:ticket-list"),
        {"subject": "Wrong size", "body": "<p>Sent <b>M</b></p><script>x()</script>"},
    )

    assert response.status_code == HTTPStatus.CREATED
    ticket = Ticket.objects.get(pk=response.json()["id"])
    assert (ticket.customer, ticket.channel, ticket.subject) == (customer, "web", "Wrong size")
    assert ticket.messages.get().body == "<p>Sent <b>M</b></p>"
    assert ticket.events.get().kind == EventKind.CREATED
    assert response.json()["messages"][0]["body"] == "<p>Sent <b>M</b></p>"
    assert "team" not in response.json()


def test_customer_cannot_route_their_own_ticket(customer_client, customer, team, agent):
    other = CustomerFactory()
    response = customer_client.post(
        reverse("api:ticket-list"),
        {
            "subject": "Refund",
            "body": "Please",
            "customer": other.pk,
            "team": team.pk,
            "assignee": agent.pk,
            "tags": ["vip"],
            "channel": "phone",
            "priority": "urgent",
            "parent": 999999,  # not even looked up: a customer cannot probe ids
        },
    )

    assert response.status_code == HTTPStatus.CREATED
    ticket = Ticket.objects.get(pk=response.json()["id"])
    assert (ticket.customer, ticket.team, ticket.assignee) == (customer, None, None)
    assert (ticket.channel, ticket.priority, list(ticket.tags.all())) == ("web", "normal", [])


def test_agent_opens_a_routed_ticket_with_a_file(agent_client, agent, customer, team):
    parent = TicketFactory(customer=customer)
    response = agent_client.post(
        reverse("api:ticket-list"),
        {
            "customer": customer.pk,
            "subject": "Called about a refund",
            "body": "Customer called.",
            "priority": "high",
            "type": "incident",
            "channel": "phone",
            "team": team.pk,
            "assignee": agent.pk,
            "tags": ["refund", "phone"],
            "parent": parent.pk,
            "attachments": [text_file()],
        },
        format="multipart",
    )

    assert response.status_code == HTTPStatus.CREATED, response.json()
    ticket = Ticket.objects.get(pk=response.json()["id"])
    assert (ticket.priority, ticket.type, ticket.channel) == ("high", "incident", "phone")
    assert (ticket.team, ticket.assignee, ticket.parent) == (team, agent, parent)
    assert sorted(ticket.tags.values_list("name", flat=True)) == ["phone", "refund"]
    attachment = Attachment.objects.get(message__ticket=ticket)
    assert (attachment.filename, attachment.size) == ("receipt.txt", 4)
    assert response.json()["messages"][0]["attachments"][0]["filename"] == "receipt.txt"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"subject": "x", "body": "y"}, "customer"),  # agents must say for whom
        ({"customer": 999999, "subject": "x", "body": "y"}, "customer"),
        ({"customer": "CUSTOMER", "body": "y"}, "subject"),
        ({"customer": "CUSTOMER", "subject": "x"}, "body"),
        ({"customer": "CUSTOMER", "subject": "x", "body": "<p> </p>"}, "body"),
        ({"customer": "CUSTOMER", "subject": "x" * 201, "body": "y"}, "subject"),
        ({"customer": "CUSTOMER", "subject": "x", "body": "y", "team": 999999}, "team"),
        ({"customer": "CUSTOMER", "subject": "x", "body": "y", "assignee": 999999}, "assignee"),
        (
            {"customer": "CUSTOMER", "subject": "x", "body": "y", "assignee": "USER"},
            "assignee",
        ),
        ({"customer": "CUSTOMER", "subject": "x", "body": "y", "parent": 999999}, "parent"),
        ({"customer": "CUSTOMER", "subject": "x", "body": "y", "priority": "asap"}, "priority"),
        ({"customer": "CUSTOMER", "subject": "x", "body": "y", "type": "rant"}, "type"),
        ({"customer": "CUSTOMER", "subject": "x", "body": "y", "channel": "fax"}, "channel"),
        ({"customer": "CUSTOMER", "subject": "x", "body": "y", "tags": ["no spaces"]}, "tags"),
        ({"customer": "CUSTOMER", "subject": "x", "body": "y", "tags": [["nested"]]}, "tags"),
    ],
)
def test_agent_create_with_bad_input_is_a_400_and_writes_nothing(
    agent_client, customer, payload, field
):
    payload = substitute(payload, CUSTOMER=customer.pk, USER=customer.user.pk)

    response = agent_client.post(reverse("api:ticket-list"), payload)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    body = response.json()
    assert field in body
    assert all(isinstance(m, str) for messages in body.values() for m in messages)
    assert not Ticket.objects.exists()
    assert not Message.objects.exists()


def test_create_refuses_a_file_type_and_writes_nothing(customer_client):
    upload = text_file("run.exe", b"MZ", "application/x-msdownload")

    response = customer_client.post(
        reverse("api:ticket-list"),
        {"subject": "x", "body": "y", "attachments": [upload]},
        format="multipart",
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "attachments" in response.json()
    assert not Ticket.objects.exists()
    assert not Attachment.objects.exists()


def test_malformed_json_is_a_400_in_the_one_shape(agent_client):
    response = agent_client.generic(
        "POST", reverse("api:ticket-list"), "{not json", content_type="application/json"
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert list(response.json()) == ["non_field_errors"]


def test_a_json_list_instead_of_an_object_is_a_400(agent_client):
    response = agent_client.post(reverse("api:ticket-list"), [1, 2], format="json")

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "non_field_errors" in response.json()


# --- PATCH ------------------------------------------------------------------------------------


def test_agent_patches_several_fields_in_one_go(agent_client, agent, ticket, team):
    response = agent_client.patch(
        detail_url(ticket),
        {
            "subject": "Parcel lost",
            "type": "incident",
            "status": "open",
            "priority": "urgent",
            "team": team.pk,
            "assignee": agent.pk,
            "tags": ["lost"],
        },
    )

    assert response.status_code == HTTPStatus.OK, response.json()
    ticket.refresh_from_db()
    assert (ticket.subject, ticket.type, ticket.status) == ("Parcel lost", "incident", "open")
    assert (ticket.priority, ticket.team, ticket.assignee) == ("urgent", team, agent)
    kinds = set(ticket.events.values_list("kind", flat=True))
    assert kinds == {
        EventKind.STATUS_CHANGED,
        EventKind.PRIORITY_CHANGED,
        EventKind.TEAM_CHANGED,
        EventKind.ASSIGNEE_CHANGED,
        EventKind.TAGS_CHANGED,
        EventKind.DETAILS_CHANGED,
    }
    assert set(ticket.events.values_list("actor", flat=True)) == {agent.pk}
    assert response.json()["tags"] == ["lost"]
    assert response.json()["priority"] == "urgent"


def test_patch_sets_and_clears_the_parent(agent_client, ticket):
    problem = TicketFactory(type="problem")

    agent_client.patch(detail_url(ticket), {"parent": problem.pk})
    assert Ticket.objects.get(pk=ticket.pk).parent == problem

    agent_client.patch(detail_url(ticket), {"parent": None})
    assert Ticket.objects.get(pk=ticket.pk).parent is None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"status": "closed"}, "status"),  # new cannot become closed
        ({"status": "lost"}, "status"),
        ({"priority": "asap"}, "priority"),
        ({"type": "rant"}, "type"),
        ({"subject": "   "}, "subject"),
        ({"team": 999999}, "team"),
        ({"assignee": 999999}, "assignee"),
        ({"assignee": "USER"}, "assignee"),  # not an agent
        ({"parent": 999999}, "parent"),
        ({"parent": "SELF"}, "parent"),
        ({"tags": "refund"}, "tags"),
        ({"tags": ["bad tag!"]}, "tags"),
        # A valid change before a broken one: neither lands.
        ({"priority": "high", "team": "TEAM", "status": "closed"}, "status"),
        ({"priority": "high", "assignee": "USER"}, "assignee"),
    ],
)
def test_bad_patch_is_a_400_naming_the_field_and_changes_nothing(
    agent_client, customer, ticket, team, payload, field
):
    payload = substitute(payload, USER=customer.user.pk, SELF=ticket.pk, TEAM=team.pk)

    response = agent_client.patch(detail_url(ticket), payload)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert field in response.json()
    assert unchanged(ticket)


def test_customer_cannot_patch_their_own_ticket(customer_client, ticket):
    response = customer_client.patch(detail_url(ticket), {"priority": "urgent"})

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert unchanged(ticket)


def test_customer_cannot_patch_someone_elses_ticket(other_customer_client, ticket):
    response = other_customer_client.patch(detail_url(ticket), {"priority": "urgent"})

    assert response.status_code == HTTPStatus.NOT_FOUND


def test_put_and_delete_are_not_offered(agent_client, ticket):
    assert agent_client.put(detail_url(ticket), {}).status_code == 405
    assert agent_client.delete(detail_url(ticket)).status_code == 405
    assert Ticket.objects.filter(pk=ticket.pk).exists()


# --- the verb actions -------------------------------------------------------------------------


def test_status_action_moves_the_ticket_and_records_it(agent_client, agent, ticket):
    response = agent_client.post(action_url("status", ticket), {"status": "pending"})

    assert response.status_code == HTTPStatus.OK
    assert response.json()["status"] == "pending"
    event = TicketEvent.objects.get(ticket=ticket)
    assert (event.kind, event.actor, event.data) == (
        EventKind.STATUS_CHANGED,
        agent,
        {"from": "new", "to": "pending"},
    )


def test_priority_action(manager_client, manager, ticket):
    response = manager_client.post(action_url("priority", ticket), {"priority": "urgent"})

    assert response.status_code == HTTPStatus.OK
    assert Ticket.objects.get(pk=ticket.pk).priority == Priority.URGENT
    assert ticket.events.get().actor == manager


def test_assign_action_assigns_and_unassigns(agent_client, ticket, other_agent):
    agent_client.post(action_url("assign", ticket), {"assignee": other_agent.pk})
    assert Ticket.objects.get(pk=ticket.pk).assignee == other_agent

    response = agent_client.post(action_url("assign", ticket), {"assignee": None})

    assert response.json()["assignee"] is None
    assert Ticket.objects.get(pk=ticket.pk).assignee is None
    assert ticket.events.filter(kind=EventKind.ASSIGNEE_CHANGED).count() == 2


def test_team_action(agent_client, ticket):
    billing = TeamFactory(name="Billing")

    response = agent_client.post(action_url("team", ticket), {"team": billing.pk})

    assert response.json()["team"] == {"id": billing.pk, "name": "Billing"}
    assert ticket.events.get().data == {"from": None, "to": billing.pk}


def test_tags_action_replaces_the_tags(agent_client, ticket):
    ticket.tags.set([TagFactory(name="old")])

    response = agent_client.post(action_url("tags", ticket), {"tags": ["Refund", "late"]})

    assert response.json()["tags"] == ["late", "refund"]
    assert ticket.events.get().data == {"from": ["old"], "to": ["late", "refund"]}


@pytest.mark.parametrize(
    ("name", "payload", "field"),
    [
        ("status", {}, "status"),
        ("status", {"status": "later"}, "status"),
        ("status", {"status": "closed"}, "status"),  # a rule: new cannot become closed
        ("priority", {}, "priority"),
        ("priority", {"priority": 3}, "priority"),
        ("assign", {}, "assignee"),
        ("assign", {"assignee": 999999}, "assignee"),
        ("assign", {"assignee": "abc"}, "assignee"),
        ("assign", {"assignee": "USER"}, "assignee"),  # not an agent
        ("team", {}, "team"),
        ("team", {"team": 999999}, "team"),
        ("tags", {}, "tags"),
        ("tags", {"tags": ["a b"]}, "tags"),
        ("tags", {"tags": [f"t{n}" for n in range(21)]}, "tags"),
    ],
)
def test_bad_action_input_is_a_400_naming_the_field(
    agent_client, customer, ticket, name, payload, field
):
    payload = substitute(payload, USER=customer.user.pk)

    response = agent_client.post(action_url(name, ticket), payload)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert field in response.json()
    assert unchanged(ticket)


def test_closed_ticket_refuses_changes(agent_client):
    closed = TicketFactory(status=Status.CLOSED)

    response = agent_client.post(action_url("priority", closed), {"priority": "high"})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json() == {"priority": ["A closed ticket cannot be changed."]}


@pytest.mark.parametrize("name", ACTIONS)
def test_customer_gets_403_on_their_own_ticket_and_404_on_others(
    customer_client, customer, other_customer, name
):
    own = TicketFactory(customer=customer)
    theirs = TicketFactory(customer=other_customer)

    own_response = customer_client.post(action_url(name, own), ACTIONS[name])
    their_response = customer_client.post(action_url(name, theirs), ACTIONS[name])

    assert own_response.status_code == HTTPStatus.FORBIDDEN
    assert their_response.status_code == HTTPStatus.NOT_FOUND
    assert not TicketEvent.objects.exists()


@pytest.mark.parametrize("name", ACTIONS)
def test_actions_on_a_missing_ticket_are_404(agent_client, name):
    url = reverse(f"api:ticket-{name}", args=[999999])

    assert agent_client.post(url, ACTIONS[name]).status_code == HTTPStatus.NOT_FOUND


# --- messages ---------------------------------------------------------------------------------


def test_agent_replies_with_a_file(agent_client, agent, ticket):
    response = agent_client.post(
        reverse("api:ticket-messages", args=[ticket.pk]),
        {
            "body": "Refund sent.",
            "attachments": [text_file(), text_file("b.csv", b"a,b", "text/csv")],
        },
        format="multipart",
    )

    assert response.status_code == HTTPStatus.CREATED, response.json()
    body = response.json()
    assert (body["sender"], body["is_internal"], body["author"]) == (
        "agent",
        False,
        agent.display_name,
    )
    assert [a["filename"] for a in body["attachments"]] == ["receipt.txt", "b.csv"]
    ticket.refresh_from_db()
    assert ticket.status == Status.OPEN  # an agent's first reply opens a new ticket
    assert ticket.first_agent_reply_at is not None
    assert ticket.events.filter(kind=EventKind.MESSAGE_POSTED).exists()


def test_agent_adds_an_internal_note_as_json(agent_client, ticket):
    response = agent_client.post(
        reverse("api:ticket-messages", args=[ticket.pk]),
        {"body": "Check the courier", "is_internal": True},
    )

    assert response.status_code == HTTPStatus.CREATED
    note = Message.objects.get(ticket=ticket)
    assert note.is_internal
    assert Ticket.objects.get(pk=ticket.pk).first_agent_reply_at is None


def test_customer_reply_reopens_a_solved_ticket(customer_client, customer):
    solved = TicketFactory(customer=customer, status=Status.SOLVED)

    response = customer_client.post(
        reverse("api:ticket-messages", args=[solved.pk]), {"body": "Still broken"}
    )

    assert response.status_code == HTTPStatus.CREATED
    assert response.json()["sender"] == SenderKind.CUSTOMER
    assert Ticket.objects.get(pk=solved.pk).status == Status.OPEN


def test_customer_cannot_write_an_internal_note(customer_client, ticket):
    response = customer_client.post(
        reverse("api:ticket-messages", args=[ticket.pk]), {"body": "psst", "is_internal": True}
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "is_internal" in response.json()
    assert not Message.objects.exists()


def test_customer_cannot_reply_on_someone_elses_ticket(other_customer_client, ticket):
    response = other_customer_client.post(
        reverse("api:ticket-messages", args=[ticket.pk]), {"body": "hi"}
    )

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert not Message.objects.exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "body"),
        ({"body": ""}, "body"),
        ({"body": "<script>alert(1)</script>"}, "body"),  # nothing left after sanitizing
        ({"body": "x" * 50_001}, "body"),
        ({"body": "hi", "is_internal": "perhaps"}, "is_internal"),
    ],
)
def test_bad_message_is_a_400_naming_the_field(agent_client, ticket, payload, field):
    response = agent_client.post(reverse("api:ticket-messages", args=[ticket.pk]), payload)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert field in response.json()
    assert not Message.objects.exists()
    assert unchanged(ticket)


def test_oversized_attachment_is_refused_and_nothing_is_stored(settings, agent_client, ticket):
    settings.ATTACHMENT_MAX_BYTES = 10

    response = agent_client.post(
        reverse("api:ticket-messages", args=[ticket.pk]),
        {"body": "see file", "attachments": [text_file(content=b"x" * 11)]},
        format="multipart",
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "attachments" in response.json()
    assert not Message.objects.exists()
    assert not Attachment.objects.exists()


def test_closed_ticket_takes_no_messages(customer_client, customer):
    closed = TicketFactory(customer=customer, status=Status.CLOSED)

    response = customer_client.post(
        reverse("api:ticket-messages", args=[closed.pk]), {"body": "hello?"}
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "body" in response.json()


def test_a_user_with_no_role_cannot_open_tickets(db):
    client = APIClient()
    client.force_authenticate(UserFactory())

    response = client.post(reverse("api:ticket-list"), {"subject": "x", "body": "y"})

    assert response.status_code == HTTPStatus.FORBIDDEN
    assert not Ticket.objects.exists()


def test_inactive_agent_cannot_be_assigned(agent_client, ticket):
    retired = AgentFactory(is_active=False)

    response = agent_client.post(action_url("assign", ticket), {"assignee": retired.pk})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "assignee" in response.json()
