"""Tickets in the Django admin, through the real admin URLs with a signed-in admin: pages render
at a fixed query cost, and every write goes through the same services as the API."""

from http import HTTPStatus

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AuditEntry, Role
from accounts.services import set_team_active, set_user_active
from customers.models import Tag
from tests.factories import (
    AgentFactory,
    MessageFactory,
    TagFactory,
    TicketEventFactory,
    TicketFactory,
    UserFactory,
)
from tickets.models import (
    Attachment,
    EventKind,
    Message,
    Notification,
    Priority,
    SenderKind,
    Status,
    Ticket,
    TicketEvent,
)
from tickets.services import post_message

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_agent(db):
    return AgentFactory(username="ada", first_name="Ada", profile__role=Role.ADMIN)


@pytest.fixture
def web(admin_agent) -> Client:
    client = Client()
    client.force_login(admin_agent)
    return client


def change_url(ticket: Ticket) -> str:
    return reverse("admin:tickets_ticket_change", args=[ticket.pk])


def change_form(ticket: Ticket, **overrides) -> dict:
    """What the change page posts when nothing is touched, plus `overrides`."""
    data = {
        "subject": ticket.subject,
        "type": ticket.type,
        "parent": ticket.parent_id or "",
        "status": ticket.status,
        "priority": ticket.priority,
        "team": ticket.team_id or "",
        "assignee": ticket.assignee_id or "",
        "tags": [tag.pk for tag in ticket.tags.all()],
        "reply": "",
    }
    data.update(overrides)
    return data


def errors_of(response, field: str) -> list[str]:
    form = response.context["adminform"].form
    return form.errors.get(field, [])


def queries_for(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == HTTPStatus.OK
    return len(queries)


# --- changelists cost the same for 10 rows as for 50 ------------------------------------------


def many_tickets(n, agent, team):
    TicketFactory.create_batch(n, assignee=agent, team=team, tags=[TagFactory(name="late")])


def many_messages(n, agent, team):
    MessageFactory.create_batch(n, author=agent, sender=SenderKind.AGENT)


def many_attachments(n, agent, team):
    message = MessageFactory(author=agent)
    for i in range(n):
        Attachment.objects.create(
            message=message,
            file=f"attachments/x/{i}",
            token=f"t{i}",
            filename=f"f{i}.pdf",
            content_type="application/pdf",
            size=10,
        )


def many_events(n, agent, team):
    TicketEventFactory.create_batch(n, actor=agent, kind=EventKind.CREATED)


def many_notifications(n, agent, team):
    for ticket in TicketFactory.create_batch(n):
        Notification.objects.create(ticket=ticket, kind="ticket_opened", recipient="a@b.example")


@pytest.mark.parametrize(
    ("model", "make"),
    [
        ("ticket", many_tickets),
        ("message", many_messages),
        ("attachment", many_attachments),
        ("ticketevent", many_events),
        ("notification", many_notifications),
    ],
)
def test_changelist_costs_the_same_queries_for_10_and_50_rows(web, agent, team, model, make):
    url = reverse(f"admin:tickets_{model}_changelist")
    make(10, agent, team)
    with_10 = queries_for(web, url)

    make(40, agent, team)
    response = web.get(url)
    with_50 = queries_for(web, url)

    assert with_50 == with_10
    assert response.context["cl"].result_count == 50


def test_ticket_changelist_shows_references_and_filters_by_status(web):
    solved = TicketFactory(status=Status.SOLVED, subject="Blender solved")
    TicketFactory(status=Status.OPEN, subject="Kettle open")

    response = web.get(reverse("admin:tickets_ticket_changelist"), {"status__exact": "solved"})

    assert [t.pk for t in response.context["cl"].result_list] == [solved.pk]
    assert solved.reference in response.text


def test_ticket_search_finds_a_reference(web):
    wanted, _other = TicketFactory(subject="Kettle"), TicketFactory(subject="Kettle")

    response = web.get(reverse("admin:tickets_ticket_changelist"), {"q": wanted.reference})

    assert [t.pk for t in response.context["cl"].result_list] == [wanted.pk]


def test_unassigned_filter(web, agent):
    unassigned = TicketFactory()
    TicketFactory(assignee=agent)

    response = web.get(reverse("admin:tickets_ticket_changelist"), {"assignee": "none"})

    assert [t.pk for t in response.context["cl"].result_list] == [unassigned.pk]


@pytest.mark.parametrize("value", ["abc", "99999999999999999999999", "-1", "1.5", "²"])
def test_a_malformed_assignee_filter_matches_nothing(web, agent, value):
    TicketFactory(assignee=agent)

    response = web.get(reverse("admin:tickets_ticket_changelist"), {"assignee": value})

    assert response.status_code == HTTPStatus.OK
    assert list(response.context["cl"].result_list) == []


def test_the_assignee_filter_finds_an_agents_tickets(web, agent):
    mine = TicketFactory(assignee=agent)
    TicketFactory()

    response = web.get(reverse("admin:tickets_ticket_changelist"), {"assignee": str(agent.pk)})

    assert [t.pk for t in response.context["cl"].result_list] == [mine.pk]


def test_ticket_change_page_shows_conversation_and_history(web, agent, customer):
    ticket = TicketFactory(customer=customer)
    post_message(ticket=ticket, author=customer.user, body="<p>Where is <b>it</b>?</p>")
    post_message(ticket=ticket, author=agent, body="Checking the courier", is_internal=True)
    Message.objects.filter(ticket=ticket, is_internal=True).update(
        body="Courier <script>alert(1)</script>lost it"  # as if written around the services
    )

    response = web.get(change_url(ticket))

    assert response.status_code == HTTPStatus.OK
    assert "<p>Where is <b>it</b>?</p>" in response.text
    assert "Internal note" in response.text
    assert "<script>alert(1)</script>" not in response.text
    assert "Message posted" in response.text


# --- adding goes through open_ticket ----------------------------------------------------------


def test_adding_a_ticket_opens_it_with_its_first_message_and_event(
    web, admin_agent, customer, agent, team
):
    response = web.post(
        reverse("admin:tickets_ticket_add"),
        {
            "customer": customer.pk,
            "subject": "Phoned: kettle leaks",
            "description": "Customer says the <b>kettle</b> leaks.",
            "attachments": SimpleUploadedFile("photo.png", b"\x89PNG", content_type="image/png"),
            "channel": "phone",
            "priority": "high",
            "type": "incident",
            "team": team.pk,
            "assignee": agent.pk,
            "tags": [TagFactory(name="kettle").pk],
            "parent": "",
        },
    )

    assert response.status_code == HTTPStatus.FOUND
    ticket = Ticket.objects.get()
    assert (ticket.subject, ticket.channel, ticket.priority, ticket.type) == (
        "Phoned: kettle leaks",
        "phone",
        "high",
        "incident",
    )
    assert (ticket.customer, ticket.team, ticket.assignee) == (customer, team, agent)
    assert list(ticket.tags.values_list("name", flat=True)) == ["kettle"]
    message = ticket.messages.get()
    assert (message.author, message.body) == (admin_agent, "Customer says the <b>kettle</b> leaks.")
    attachment = message.attachments.get()
    with default_storage.open(attachment.file.name) as stored:
        assert stored.read() == b"\x89PNG"
    event = ticket.events.get()
    assert (event.kind, event.actor) == (EventKind.CREATED, admin_agent)
    assert set(Notification.objects.values_list("kind", flat=True)) == {
        Notification.Kind.TICKET_OPENED,
        Notification.Kind.TICKET_ASSIGNED,
    }


def add_form(customer, **overrides) -> dict:
    data = {
        "customer": customer.pk,
        "subject": "Help",
        "description": "Please",
        "channel": "web",
        "priority": "normal",
        "type": "question",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"description": ""}, "description", "This field is required."),
        ({"description": "<script>x()</script>"}, "description", "A message cannot be empty."),
        ({"subject": "   "}, "subject", "This field is required."),
    ],
)
def test_adding_a_ticket_with_bad_input_shows_the_error_and_saves_nothing(
    web, customer, overrides, field, message
):
    response = web.post(reverse("admin:tickets_ticket_add"), add_form(customer, **overrides))

    assert response.status_code == HTTPStatus.OK
    assert errors_of(response, field) == [message]
    assert not Ticket.objects.exists()
    assert not Message.objects.exists()


def test_adding_under_a_closed_parent_is_a_form_error(web, customer):
    closed = TicketFactory(status=Status.CLOSED)

    response = web.post(reverse("admin:tickets_ticket_add"), add_form(customer, parent=closed.pk))

    assert response.status_code == HTTPStatus.OK
    assert errors_of(response, "parent") == ["A closed ticket cannot be a parent."]
    assert Ticket.objects.get() == closed
    assert not Notification.objects.exists()


def test_only_agents_can_be_picked_as_assignee(web, customer):
    response = web.post(
        reverse("admin:tickets_ticket_add"), add_form(customer, assignee=customer.user.pk)
    )

    assert response.status_code == HTTPStatus.OK
    assert errors_of(response, "assignee")
    assert not Ticket.objects.exists()


def test_the_assignee_picker_offers_agents_only(web, agent, customer):
    response = web.get(
        reverse("admin:autocomplete"),
        {"app_label": "tickets", "model_name": "ticket", "field_name": "assignee", "term": ""},
    )

    offered = {int(result["id"]) for result in response.json()["results"]}
    assert agent.pk in offered
    assert customer.user.pk not in offered


# --- changing goes through update_ticket ------------------------------------------------------


def test_changing_status_writes_one_status_event(web, admin_agent):
    ticket = TicketFactory(status=Status.OPEN)

    response = web.post(change_url(ticket), change_form(ticket, status=Status.SOLVED))

    assert response.status_code == HTTPStatus.FOUND
    fresh = Ticket.objects.get(pk=ticket.pk)
    assert fresh.status == Status.SOLVED
    assert fresh.solved_at is not None
    event = ticket.events.get()
    assert (event.kind, event.actor, event.data) == (
        EventKind.STATUS_CHANGED,
        admin_agent,
        {"from": "open", "to": "solved"},
    )


def test_an_illegal_transition_is_a_form_error_and_nothing_changes(web):
    ticket = TicketFactory(status=Status.NEW, priority=Priority.NORMAL)

    response = web.post(
        change_url(ticket),
        change_form(ticket, status=Status.CLOSED, priority=Priority.URGENT, subject="Renamed"),
    )

    assert response.status_code == HTTPStatus.OK
    assert errors_of(response, "status") == ["A New ticket cannot become Closed."]
    fresh = Ticket.objects.get(pk=ticket.pk)
    assert (fresh.status, fresh.priority, fresh.subject) == (
        Status.NEW,
        Priority.NORMAL,
        ticket.subject,
    )
    assert not TicketEvent.objects.exists()


def test_every_routing_field_changes_through_the_services(web, admin_agent, agent, team):
    problem = TicketFactory(type="problem")
    ticket = TicketFactory(status=Status.OPEN, tags=[TagFactory(name="old")])
    vip = TagFactory(name="vip")

    response = web.post(
        change_url(ticket),
        change_form(
            ticket,
            priority=Priority.HIGH,
            team=team.pk,
            assignee=agent.pk,
            tags=[vip.pk],
            subject="Kettle leaks",
            type="incident",
            parent=problem.pk,
        ),
    )

    assert response.status_code == HTTPStatus.FOUND
    fresh = Ticket.objects.get(pk=ticket.pk)
    assert (fresh.priority, fresh.team, fresh.assignee, fresh.subject, fresh.parent) == (
        Priority.HIGH,
        team,
        agent,
        "Kettle leaks",
        problem,
    )
    assert list(fresh.tags.values_list("name", flat=True)) == ["vip"]
    assert sorted(ticket.events.values_list("kind", flat=True)) == sorted(
        [
            EventKind.PRIORITY_CHANGED,
            EventKind.TEAM_CHANGED,
            EventKind.ASSIGNEE_CHANGED,
            EventKind.TAGS_CHANGED,
            EventKind.DETAILS_CHANGED,
        ]
    )
    assert set(ticket.events.values_list("actor", flat=True)) == {admin_agent.pk}
    assert Notification.objects.get().recipient == agent.email


def test_saving_without_changes_writes_nothing(web):
    ticket = TicketFactory(status=Status.PENDING, tags=[TagFactory(name="late")])

    response = web.post(change_url(ticket), change_form(ticket))

    assert response.status_code == HTTPStatus.FOUND
    assert not TicketEvent.objects.exists()


def test_a_parent_cycle_is_a_form_error(web):
    top = TicketFactory(type="problem")
    child = TicketFactory(parent=top)

    response = web.post(change_url(top), change_form(top, parent=child.pk))

    assert errors_of(response, "parent") == ["A ticket cannot be its own parent, even indirectly."]
    assert Ticket.objects.get(pk=top.pk).parent is None


# --- replies and notes go through post_message ------------------------------------------------


def test_a_reply_from_the_admin_is_an_agent_reply(web, admin_agent):
    ticket = TicketFactory(status=Status.NEW)

    response = web.post(change_url(ticket), change_form(ticket, reply="We are on it."))

    assert response.status_code == HTTPStatus.FOUND
    message = ticket.messages.get()
    assert (message.author, message.sender, message.is_internal, message.body) == (
        admin_agent,
        SenderKind.AGENT,
        False,
        "We are on it.",
    )
    fresh = Ticket.objects.get(pk=ticket.pk)
    assert fresh.status == Status.OPEN
    assert fresh.first_agent_reply_at == message.created_at


def test_an_internal_note_with_a_file_from_the_admin(web):
    ticket = TicketFactory(status=Status.OPEN)
    receipt = SimpleUploadedFile("r.pdf", b"%PDF receipt", content_type="application/pdf")

    web.post(
        change_url(ticket),
        change_form(ticket, reply="Receipt", reply_is_internal="on", reply_attachments=receipt),
    )

    note = ticket.messages.get()
    assert note.is_internal
    assert note.attachments.get().filename == "r.pdf"
    assert Ticket.objects.get(pk=ticket.pk).first_agent_reply_at is None


def test_reply_and_solve_in_one_save(web):
    ticket = TicketFactory(status=Status.OPEN)

    web.post(change_url(ticket), change_form(ticket, reply="Refunded.", status=Status.SOLVED))

    assert Ticket.objects.get(pk=ticket.pk).status == Status.SOLVED
    assert ticket.messages.get().body == "Refunded."


def test_a_reply_on_a_closed_ticket_is_a_form_error(web):
    ticket = TicketFactory(status=Status.CLOSED)

    response = web.post(change_url(ticket), change_form(ticket, reply="Hello again"))

    assert response.status_code == HTTPStatus.OK
    assert errors_of(response, "reply") == [
        "This ticket is closed; open a new ticket to follow up."
    ]
    assert not Message.objects.exists()


def test_a_bad_status_keeps_the_reply_from_being_posted(web):
    ticket = TicketFactory(status=Status.OPEN)

    response = web.post(change_url(ticket), change_form(ticket, reply="Bye", status=Status.CLOSED))

    assert errors_of(response, "status") == ["An Open ticket cannot become Closed."]
    assert not Message.objects.exists()
    assert not TicketEvent.objects.exists()


def test_a_staff_login_without_an_agent_profile_cannot_reply(customer):
    ticket = TicketFactory(customer=customer, status=Status.SOLVED)
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.post(change_url(ticket), change_form(ticket, reply="Hi"))

    assert response.status_code == HTTPStatus.OK
    assert errors_of(response, "reply") == [
        "Only agents and the ticket's customer write on a ticket."
    ]
    assert Ticket.objects.get(pk=ticket.pk).status == Status.SOLVED


# --- read-only rows ---------------------------------------------------------------------------


def test_the_audit_trail_cannot_be_added_changed_or_deleted(web):
    event = TicketEventFactory(kind=EventKind.CREATED, data={"status": "new"})

    page = web.get(reverse("admin:tickets_ticketevent_change", args=[event.pk]))
    assert page.status_code == HTTPStatus.OK  # viewable
    assert page.context["has_change_permission"] is False

    changed = web.post(
        reverse("admin:tickets_ticketevent_change", args=[event.pk]),
        {"kind": "status_changed", "data": "{}"},
    )
    deleted = web.post(
        reverse("admin:tickets_ticketevent_delete", args=[event.pk]), {"post": "yes"}
    )
    added = web.get(reverse("admin:tickets_ticketevent_add"))

    assert [changed.status_code, deleted.status_code, added.status_code] == [
        HTTPStatus.FORBIDDEN,
        HTTPStatus.FORBIDDEN,
        HTTPStatus.FORBIDDEN,
    ]
    assert TicketEvent.objects.get(pk=event.pk).data == {"status": "new"}


def test_tickets_and_messages_cannot_be_deleted_from_the_admin(web):
    message = MessageFactory()

    ticket_delete = web.post(
        reverse("admin:tickets_ticket_delete", args=[message.ticket_id]), {"post": "yes"}
    )
    message_change = web.post(
        reverse("admin:tickets_message_change", args=[message.pk]), {"body": "rewritten"}
    )

    assert ticket_delete.status_code == HTTPStatus.FORBIDDEN
    assert message_change.status_code == HTTPStatus.FORBIDDEN
    assert Message.objects.get(pk=message.pk).body == message.body


def test_an_agent_who_is_not_staff_cannot_open_the_admin(agent):
    client = Client()
    client.force_login(agent)

    response = client.get(reverse("admin:tickets_ticket_changelist"))

    assert response.status_code == HTTPStatus.FOUND
    assert reverse("admin:login") in response["Location"]


def test_the_add_page_asks_for_the_first_message(web):
    response = web.get(reverse("admin:tickets_ticket_add"))

    assert response.status_code == HTTPStatus.OK
    form = response.context["adminform"].form
    assert {"customer", "subject", "description", "attachments"} <= set(form.fields)
    assert "status" not in form.fields  # a new ticket starts new; open_ticket decides


# --- files: linked to the authenticated download, which the admin's session passes ---------------


@pytest.mark.parametrize("page", ["ticket", "message", "attachment"])
def test_an_admin_follows_the_attachment_link_and_gets_the_file(web, agent, page):
    ticket = TicketFactory(status=Status.OPEN)
    receipt = SimpleUploadedFile("receipt.pdf", b"%PDF receipt", content_type="application/pdf")
    message = post_message(ticket=ticket, author=agent, body="Receipt", attachments=[receipt])
    attachment = message.attachments.get()
    url = {
        "ticket": change_url(ticket),
        "message": reverse("admin:tickets_message_change", args=[message.pk]),
        "attachment": reverse("admin:tickets_attachment_change", args=[attachment.pk]),
    }[page]

    html = web.get(url).text
    link = reverse("api:attachment-download", args=[attachment.pk])
    download = web.get(link)

    assert f'href="{link}"' in html
    assert "/media/" not in html
    assert download.status_code == HTTPStatus.OK
    assert b"".join(download.streaming_content) == b"%PDF receipt"


# --- the audit trail is append-only in the database too ------------------------------------------


@pytest.mark.postgres
def test_postgresql_refuses_bulk_updates_and_deletes_of_ticket_events(agent):
    ticket = TicketFactory()
    TicketEventFactory(ticket=ticket, actor=agent, kind=EventKind.CREATED, data={"status": "new"})

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        TicketEvent.objects.update(data={"status": "closed"})
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        TicketEvent.objects.filter(ticket=ticket).delete()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        agent.delete()  # would set the events' actor to NULL

    assert TicketEvent.objects.get(ticket=ticket).data == {"status": "new"}


# --- someone leaves: deactivated in the accounts admin, their tickets returned here ---------------


def test_a_deactivated_agents_open_tickets_are_found_and_returned_to_the_queue(
    web, admin_agent, agent
):
    open_one = TicketFactory(status=Status.OPEN, assignee=agent)
    closed_one = TicketFactory(status=Status.CLOSED, assignee=agent)
    set_user_active(user=agent, active=False, actor=admin_agent)
    changelist = reverse("admin:tickets_ticket_changelist")

    listed = web.get(changelist, {"assignee": agent.pk})
    choices = [choice["display"] for choice in listed.context["cl"].filter_specs[-1].choices(
        listed.context["cl"])]  # fmt: skip
    returned = web.post(
        changelist,
        {"action": "return_to_queue", "_selected_action": [open_one.pk, closed_one.pk]},
        follow=True,
    )

    assert f"{agent.display_name} (inactive)" in choices
    assert set(listed.context["cl"].result_list) == {open_one, closed_one}
    assert Ticket.objects.get(pk=open_one.pk).assignee is None
    assert Ticket.objects.get(pk=closed_one.pk).assignee == agent  # closed: left as it was
    event = TicketEvent.objects.get(ticket=open_one)
    assert (event.kind, event.actor, event.data) == (
        EventKind.ASSIGNEE_CHANGED,
        admin_agent,
        {"from": agent.pk, "to": None},
    )
    assert "Returned 1 ticket(s) to the queue." in returned.text
    assert "A closed ticket cannot be changed." in returned.text


def test_an_archived_team_takes_no_tickets(web, team, admin_agent):
    ticket = TicketFactory(status=Status.OPEN)
    set_team_active(team=team, active=False, actor=admin_agent)

    response = web.post(change_url(ticket), change_form(ticket, team=team.pk))

    assert errors_of(response, "team") == ["Orders is archived and takes no tickets."]
    assert Ticket.objects.get(pk=ticket.pk).team is None


# --- tags are retired through the services, never deleted behind anyone's back -------------------


def test_retiring_a_tag_takes_it_off_open_tickets_and_customers_with_a_record_each(
    web, admin_agent
):
    tag, kept = TagFactory(name="typo"), TagFactory(name="late")
    open_one = TicketFactory(status=Status.OPEN, tags=[tag, kept])
    closed_one = TicketFactory(status=Status.CLOSED, tags=[tag])
    open_one.customer.tags.add(tag)

    response = web.post(
        reverse("admin:customers_tag_changelist"),
        {"action": "retire_selected", "_selected_action": [tag.pk]},
        follow=True,
    )

    assert [str(message) for message in response.context["messages"]] == [
        "typo: taken off 1 ticket(s) and 1 customer(s) (kept by closed tickets)."
    ]
    assert [t.name for t in Ticket.objects.get(pk=open_one.pk).tags.all()] == ["late"]
    event = TicketEvent.objects.get(ticket=open_one)
    assert (event.kind, event.actor, event.data) == (
        EventKind.TAGS_CHANGED,
        admin_agent,
        {"from": ["late", "typo"], "to": ["late"]},
    )
    assert list(open_one.customer.tags.all()) == []
    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.changes) == (admin_agent, {"tags": {"from": ["typo"], "to": []}})
    assert list(Ticket.objects.get(pk=closed_one.pk).tags.all()) == [tag]  # history stays


def test_a_retired_tag_that_nothing_carries_any_more_is_gone(web):
    tag = TagFactory(name="typo")
    TicketFactory(status=Status.OPEN, tags=[tag])

    web.post(
        reverse("admin:customers_tag_changelist"),
        {"action": "retire_selected", "_selected_action": [tag.pk]},
    )

    assert not Tag.objects.filter(name="typo").exists()
