"""Reading tickets through the REST API: who sees what, and what it costs."""

from http import HTTPStatus

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import Resolver404, resolve, reverse
from rest_framework.test import APIClient

from tests.factories import AgentFactory, MessageFactory, TagFactory, TicketFactory, UserFactory
from tickets.models import SenderKind, Status
from tickets.services import change_ticket_status, post_message

CUSTOMER_FIELDS = {
    "id",
    "reference",
    "subject",
    "status",
    "priority",
    "type",
    "channel",
    "created_at",
    "updated_at",
    "solved_at",
    # The promise (issue 9): when the customer hears back, and why.
    "reply_due_at",
    "reply_promise",
}


def detail_url(ticket):
    return reverse("api:ticket-detail", args=[ticket.pk])


def messages_url(ticket):
    return reverse("api:ticket-messages", args=[ticket.pk])


def events_url(ticket):
    return reverse("api:ticket-events", args=[ticket.pk])


def download_url(attachment):
    return reverse("api:attachment-download", args=[attachment.pk])


def ids(response):
    return [row["id"] for row in response.json()["results"]]


@pytest.fixture
def conversation(customer, agent):
    """The customer's ticket: their question, an agent's internal note with a file, and the
    agent's public reply with a file."""
    ticket = TicketFactory(customer=customer, subject="Parcel never arrived", team=None)
    MessageFactory(ticket=ticket, author=customer.user, body="<p>Where is my parcel?</p>")
    post_message(
        ticket=ticket,
        author=agent,
        body="Courier says it was stolen; SECRETWORD",
        is_internal=True,
        attachments=[SimpleUploadedFile("note.txt", b"internal", content_type="text/plain")],
    )
    post_message(
        ticket=ticket,
        author=agent,
        body="We are sending a new one.",
        attachments=[
            SimpleUploadedFile("label.pdf", b"%PDF-1.4 x", content_type="application/pdf")
        ],
    )
    return ticket


# --- who sees which tickets -------------------------------------------------------------------


def test_agent_lists_every_ticket_newest_first(agent_client, customer, other_customer):
    mine, theirs = TicketFactory(customer=customer), TicketFactory(customer=other_customer)

    response = agent_client.get(reverse("api:ticket-list"))

    assert response.status_code == HTTPStatus.OK
    assert ids(response) == [theirs.pk, mine.pk]


def test_manager_lists_every_ticket(manager_client, customer, other_customer):
    TicketFactory(customer=customer)
    TicketFactory(customer=other_customer)

    response = manager_client.get(reverse("api:ticket-list"))

    assert len(ids(response)) == 2


def test_customer_lists_only_their_own_tickets_and_fields(customer_client, customer):
    mine = TicketFactory(customer=customer, tags=[TagFactory(name="refund")])
    TicketFactory()  # someone else's

    response = customer_client.get(reverse("api:ticket-list"))

    assert response.status_code == HTTPStatus.OK
    [row] = response.json()["results"]
    assert row["id"] == mine.pk
    assert set(row) == CUSTOMER_FIELDS


def test_agent_sees_the_agent_fields(agent_client, agent, team, customer):
    ticket = TicketFactory(
        customer=customer, team=team, assignee=agent, tags=[TagFactory(name="refund")]
    )

    row = agent_client.get(reverse("api:ticket-list")).json()["results"][0]

    assert row["reference"] == f"HD-{ticket.pk}"
    assert row["team"] == {"id": team.pk, "name": "Orders"}
    assert row["assignee"] == {"id": agent.pk, "name": agent.display_name}
    assert row["tags"] == ["refund"]
    assert row["customer"]["email"] == "carol@shop.example"


def test_user_who_is_neither_agent_nor_customer_sees_nothing(db):
    ticket = TicketFactory()
    client = APIClient()
    client.force_authenticate(UserFactory())

    assert client.get(detail_url(ticket)).status_code == HTTPStatus.NOT_FOUND
    assert client.post(reverse("api:ticket-list"), {"subject": "x", "body": "y"}).status_code == 403

    assert client.get(reverse("api:ticket-list")).json()["results"] == []


def test_anonymous_is_refused_everywhere(anonymous_client, conversation):
    attachment = conversation.messages.get(is_internal=False, sender="agent").attachments.get()
    urls = [
        reverse("api:ticket-list"),
        detail_url(conversation),
        messages_url(conversation),
        events_url(conversation),
        download_url(attachment),
    ]
    for url in urls:
        assert anonymous_client.get(url).status_code == HTTPStatus.UNAUTHORIZED, url
    for action in ["status", "priority", "assign", "team", "tags", "messages"]:
        url = reverse(f"api:ticket-{action}", args=[conversation.pk])
        assert anonymous_client.post(url, {}).status_code == HTTPStatus.UNAUTHORIZED, url
    assert anonymous_client.post(reverse("api:ticket-list"), {}).status_code == 401
    assert anonymous_client.patch(detail_url(conversation), {}).status_code == 401


# --- one ticket and its conversation ----------------------------------------------------------


def test_agent_reads_the_whole_conversation(agent_client, agent, conversation):
    body = agent_client.get(detail_url(conversation)).json()

    assert [m["is_internal"] for m in body["messages"]] == [False, True, False]
    note = body["messages"][1]
    assert note["author"] == agent.display_name
    assert note["sender"] == SenderKind.AGENT
    assert note["attachments"][0]["filename"] == "note.txt"
    assert note["attachments"][0]["download_url"].endswith(
        reverse("api:attachment-download", args=[note["attachments"][0]["id"]])
    )


def test_customer_reads_their_ticket_without_internal_notes(customer_client, conversation):
    response = customer_client.get(detail_url(conversation))

    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert set(body) == CUSTOMER_FIELDS | {"messages"}
    assert [m["body"] for m in body["messages"]] == [
        "<p>Where is my parcel?</p>",
        "We are sending a new one.",
    ]
    assert "SECRETWORD" not in response.content.decode()
    assert "note.txt" not in response.content.decode()


def test_someone_elses_ticket_is_not_found_never_forbidden(other_customer_client, conversation):
    for url in [detail_url(conversation), messages_url(conversation), events_url(conversation)]:
        assert other_customer_client.get(url).status_code == HTTPStatus.NOT_FOUND, url


def test_missing_ticket_is_a_json_404(agent_client):
    response = agent_client.get(reverse("api:ticket-detail", args=[999999]))

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "detail" in response.json()


def test_message_list_hides_notes_from_the_customer(customer_client, agent_client, conversation):
    customer_view = customer_client.get(messages_url(conversation)).json()
    agent_view = agent_client.get(messages_url(conversation)).json()

    assert [m["is_internal"] for m in customer_view] == [False, False]
    assert [m["is_internal"] for m in agent_view] == [False, True, False]


def test_audit_trail_is_for_agents_only(agent_client, customer_client, conversation):
    agent_response = agent_client.get(events_url(conversation))
    customer_response = customer_client.get(events_url(conversation))

    assert agent_response.status_code == HTTPStatus.OK
    assert [e["kind"] for e in agent_response.json()] == [
        "message_posted",
        "message_posted",
        "status_changed",
    ]
    assert customer_response.status_code == HTTPStatus.FORBIDDEN


# --- attachments ------------------------------------------------------------------------------


def test_customer_downloads_a_public_attachment(customer_client, conversation):
    attachment = conversation.messages.get(is_internal=False, sender="agent").attachments.get()

    response = customer_client.get(download_url(attachment))

    assert response.status_code == HTTPStatus.OK
    assert b"".join(response.streaming_content) == b"%PDF-1.4 x"
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == 'attachment; filename="label.pdf"'
    assert response["X-Content-Type-Options"] == "nosniff"


def test_customer_cannot_download_an_internal_notes_file(customer_client, conversation):
    attachment = conversation.messages.get(is_internal=True).attachments.get()

    assert customer_client.get(download_url(attachment)).status_code == HTTPStatus.NOT_FOUND


def test_agent_downloads_an_internal_notes_file(agent_client, conversation):
    attachment = conversation.messages.get(is_internal=True).attachments.get()

    response = agent_client.get(download_url(attachment))

    assert b"".join(response.streaming_content) == b"internal"


def test_other_customer_cannot_download(other_customer_client, conversation):
    attachment = conversation.messages.get(is_internal=False, sender="agent").attachments.get()

    assert other_customer_client.get(download_url(attachment)).status_code == 404


def test_attachments_are_not_under_a_public_media_url(settings, conversation):
    attachment = conversation.messages.get(is_internal=False, sender="agent").attachments.get()

    assert attachment.filename not in attachment.file.name  # stored under a random token
    with pytest.raises(Resolver404):
        resolve(f"/{settings.MEDIA_URL}{attachment.file.name}")


# --- pagination -------------------------------------------------------------------------------


def test_list_pages_with_a_cursor(agent_client):
    tickets = TicketFactory.create_batch(55)

    first = agent_client.get(reverse("api:ticket-list")).json()
    second = agent_client.get(first["next"]).json()

    assert len(first["results"]) == 50
    assert first["previous"] is None
    assert len(second["results"]) == 5
    assert second["next"] is None
    seen = [row["id"] for row in first["results"] + second["results"]]
    assert seen == sorted((t.pk for t in tickets), reverse=True)


def test_list_orders_by_last_update(agent_client):
    old, new = TicketFactory(), TicketFactory()
    old.save()  # touched last

    response = agent_client.get(reverse("api:ticket-list"), {"ordering": "-updated_at"})

    assert ids(response) == [old.pk, new.pk]


def test_unknown_ordering_is_a_400(agent_client):
    response = agent_client.get(reverse("api:ticket-list"), {"ordering": "subject"})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "ordering" in response.json()


@pytest.mark.parametrize("cursor", ["garbage", "cD1ub3QtYS1kYXRl"])  # the second: p=not-a-date
def test_forged_cursor_is_a_404(agent_client, cursor):
    TicketFactory()

    response = agent_client.get(reverse("api:ticket-list"), {"cursor": cursor})

    assert response.status_code == HTTPStatus.NOT_FOUND
    assert response.json() == {"detail": "Invalid cursor"}


# --- query counts -----------------------------------------------------------------------------

# The same for 10 rows as for 100: the request's user, the page, and one prefetch per relation.
LIST_QUERIES = {"agent_client": 2, "customer_client": 2}
DETAIL_QUERIES = {"agent_client": 4, "customer_client": 4}


@pytest.mark.parametrize("rows", [10, 100])
@pytest.mark.parametrize("client_name", ["agent_client", "customer_client"])
def test_list_costs_fixed_queries(request, django_assert_num_queries, client_name, rows, customer):
    client = request.getfixturevalue(client_name)
    team, assignee = request.getfixturevalue("team"), AgentFactory()
    tags = [TagFactory(name="refund"), TagFactory(name="late")]
    for _ in range(rows):
        TicketFactory(customer=customer, team=team, assignee=assignee, tags=tags)

    with django_assert_num_queries(LIST_QUERIES[client_name]):
        response = client.get(reverse("api:ticket-list"))

    assert len(response.json()["results"]) == min(rows, 50)


@pytest.mark.parametrize("rows", [10, 100])
@pytest.mark.parametrize("client_name", ["agent_client", "customer_client"])
def test_detail_costs_fixed_queries(
    request, django_assert_num_queries, client_name, rows, customer, agent
):
    client = request.getfixturevalue(client_name)
    ticket = TicketFactory(customer=customer, tags=[TagFactory(name="refund")])
    for n in range(rows):
        message = MessageFactory(
            ticket=ticket, author=agent, sender=SenderKind.AGENT, is_internal=n % 2 == 1
        )
        message.attachments.create(
            token=f"t{message.pk}", filename="a.txt", content_type="text/plain", size=1
        )

    with django_assert_num_queries(DETAIL_QUERIES[client_name]):
        response = client.get(detail_url(ticket))

    visible = rows if client_name == "agent_client" else rows // 2
    assert len(response.json()["messages"]) == visible


def test_solved_ticket_shows_when_it_was_solved(customer_client, customer):
    ticket = TicketFactory(customer=customer, status=Status.OPEN)
    change_ticket_status(ticket=ticket, new_status=Status.SOLVED, actor=None)

    body = customer_client.get(detail_url(ticket)).json()

    assert body["status"] == "solved"
    assert body["solved_at"] is not None
