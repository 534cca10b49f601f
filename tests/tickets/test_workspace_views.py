"""The ticket workspace as people meet it: pages and htmx endpoints through real URLs, for every
persona, with the rows they change and fixed query counts."""

import json
from http import HTTPStatus

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from tests.factories import CustomerFactory, TagFactory, TeamFactory, TicketFactory
from tickets.macros import create_macro
from tickets.models import (
    ReplyDraft,
    ScheduledReply,
    Status,
    TicketEvent,
    TicketSeen,
)
from tickets.replies import save_draft
from tickets.services import assign_ticket, change_ticket_status, change_ticket_team, post_message
from tickets.workspace import latest_event_id

pytestmark = pytest.mark.django_db

# At most: session, user, profile; the version; ticket, its tags; mark seen (savepoint, read,
# write, release); agents, teams; draft, pending replies; messages, attachments, events, the
# people and teams events name; open and past tickets; the shell's nav counts and saved
# views; the customer's tags.
QUERIES_FOR_TICKET_PAGE = 24


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def web(agent) -> Client:
    return signed_in(agent)


@pytest.fixture
def ticket(customer, agent):
    ticket = TicketFactory(customer=customer, status=Status.OPEN, subject="Parcel never arrived")
    post_message(ticket=ticket, author=customer.user, body="Where is my parcel?")
    return ticket


def url(name: str, *args) -> str:
    return reverse(f"tickets:{name}", args=args)


# --- the page -------------------------------------------------------------------------------


def test_agent_sees_the_timeline_controls_reply_box_and_customer(web, agent, ticket, customer):
    post_message(ticket=ticket, author=agent, body="Looking into it", is_internal=True)
    change_ticket_status(ticket=ticket, new_status=Status.PENDING, actor=agent)

    response = web.get(url("ticket", ticket.pk))

    assert response.status_code == HTTPStatus.OK
    html = response.content.decode()
    assert "Where is my parcel?" in html
    assert "Internal note" in html
    assert "Looking into it" in html
    assert "changed status from Open to Pending" in html
    assert 'id="reply-box"' in html
    assert 'name="is_internal"' in html
    assert customer.email in html
    assert TicketSeen.objects.filter(agent=agent, ticket=ticket).exists()  # U1's unread dot


def test_internal_is_not_the_default_after_a_customer_message(web, ticket):
    html = web.get(url("ticket", ticket.pk)).content.decode()
    assert 'value="" data-kind="public" checked' in html
    assert 'data-kind="internal" checked' not in html


def test_my_draft_is_restored_and_nobody_elses_is_shown(web, agent, other_agent, ticket):
    save_draft(ticket=ticket, author=agent, body="My half-written answer", is_internal=False)
    save_draft(ticket=ticket, author=other_agent, body="Bob's secret draft", is_internal=True)

    html = web.get(url("ticket", ticket.pk)).content.decode()

    assert "My half-written answer" in html
    assert "Bob&#x27;s secret draft" not in html
    assert "Bob's secret draft" not in html


def ticket_with_messages(customer, agent, team, count: int):
    ticket = TicketFactory(customer=customer, status=Status.OPEN)
    assign_ticket(ticket=ticket, assignee=agent, actor=agent)
    change_ticket_team(ticket=ticket, team=team, actor=agent)
    for index in range(count // 2):
        post_message(ticket=ticket, author=customer.user, body=f"Question {index}")
        post_message(
            ticket=ticket,
            author=agent,
            body=f"Answer {index}",
            is_internal=index % 3 == 0,
            attachments=[SimpleUploadedFile("a.png", b"\x89PNG x", "image/png")]
            if index % 10 == 0
            else [],
        )
    return ticket


def test_ticket_page_costs_the_same_queries_for_10_and_100_messages(web, agent, team, customer):
    TicketFactory.create_batch(3, customer=customer, status=Status.SOLVED)
    customer.tags.add(TagFactory(name="vip"))
    short = ticket_with_messages(customer, agent, team, 10)
    long = ticket_with_messages(customer, agent, team, 100)
    for ticket in (short, long):
        web.get(url("ticket", ticket.pk))  # warm: session, first "seen" rows

    counts = []
    for ticket in (short, long):
        with CaptureQueriesContext(connection) as queries:
            response = web.get(url("ticket", ticket.pk))
        assert response.status_code == HTTPStatus.OK
        counts.append(len(queries))

    assert counts[0] == counts[1]
    assert counts[0] <= QUERIES_FOR_TICKET_PAGE


@pytest.mark.parametrize(
    ("persona", "code"),
    [("customer", HTTPStatus.FORBIDDEN), ("anonymous", HTTPStatus.FOUND)],
)
@pytest.mark.parametrize(
    ("method", "name", "extra"),
    [
        ("get", "ticket", ()),
        ("get", "ticket-timeline", ()),
        ("get", "ticket-controls", ()),
        ("post", "ticket-draft", ()),
        ("post", "ticket-reply", ()),
        ("post", "ticket-change", ("status",)),
        ("get", "ticket-macros", ()),
        ("post", "ticket-use-macro", (1,)),
        ("post", "ticket-undo", (1,)),
        ("post", "ticket-deliver", (1,)),
    ],
)
def test_customers_and_strangers_cannot_reach_the_workspace(
    ticket, customer, persona, code, method, name, extra
):
    client = signed_in(customer.user) if persona == "customer" else Client()
    response = getattr(client, method)(url(name, ticket.pk, *extra))
    assert response.status_code == code
    if code == HTTPStatus.FOUND:
        assert response["Location"].startswith("/?next=")


@pytest.mark.parametrize(
    ("persona", "code"),
    [("customer", HTTPStatus.FORBIDDEN), ("anonymous", HTTPStatus.FOUND)],
)
def test_customers_and_strangers_cannot_read_a_customer_history(customer, persona, code):
    client = signed_in(customer.user) if persona == "customer" else Client()
    assert client.get(url("customer-history", customer.pk)).status_code == code


def test_images_show_as_thumbnails_and_files_as_links(web, agent, ticket):
    post_message(
        ticket=ticket,
        author=agent,
        body="Photos",
        attachments=[
            SimpleUploadedFile("box.png", b"\x89PNG x", "image/png"),
            SimpleUploadedFile("label.pdf", b"%PDF x", "application/pdf"),
        ],
    )
    png, pdf = ticket.messages.get(body__contains="Photos").attachments.order_by("id")

    html = web.get(url("ticket", ticket.pk)).content.decode()

    download = reverse("api:attachment-download", args=[png.pk])
    assert f'<img class="tl-thumb" src="{download}" alt="box.png"' in html
    assert reverse("api:attachment-download", args=[pdf.pk]) in html
    assert f'src="{reverse("api:attachment-download", args=[pdf.pk])}"' not in html


def test_a_scheduled_reply_is_invisible_to_other_agents(web, other_agent, ticket):
    web.post(url("ticket-reply", ticket.pk), {"body": "Not yet for anyone else"})

    mine = web.get(url("ticket", ticket.pk)).content.decode()
    theirs = signed_in(other_agent).get(url("ticket", ticket.pk)).content.decode()
    timeline = signed_in(other_agent).get(url("ticket-timeline", ticket.pk)).content.decode()

    assert "Reply scheduled" in mine
    assert "Not yet for anyone else" not in theirs
    assert "Not yet for anyone else" not in timeline
    assert "Reply scheduled" not in theirs


def test_a_missing_ticket_is_a_404(web):
    assert web.get(url("ticket", 999)).status_code == HTTPStatus.NOT_FOUND
    assert web.post(url("ticket-reply", 999), {"body": "x"}).status_code == HTTPStatus.NOT_FOUND


def test_manager_uses_the_same_page(manager, ticket):
    assert signed_in(manager).get(url("ticket", ticket.pk)).status_code == HTTPStatus.OK


# --- drafts and sending ----------------------------------------------------------------------


def test_draft_autosave_writes_my_draft(web, agent, ticket):
    response = web.post(
        url("ticket-draft", ticket.pk), {"body": "Hello **Carol**", "is_internal": "on"}
    )

    assert response.status_code == HTTPStatus.NO_CONTENT
    draft = ReplyDraft.objects.get(ticket=ticket, author=agent)
    assert (draft.body, draft.is_internal) == ("Hello **Carol**", True)


def test_send_schedules_and_posts_nothing_yet(web, agent, ticket):
    version = latest_event_id(ticket)
    web.post(url("ticket-draft", ticket.pk), {"body": "On its way"})

    response = web.post(
        url("ticket-reply", ticket.pk),
        {"body": "On its way", "is_internal": "", "status_after": "pending", "seen_event": version},
    )

    assert response.status_code == HTTPStatus.OK
    trigger = json.loads(response["HX-Trigger"])["replyScheduled"]
    reply = ScheduledReply.objects.get()
    assert trigger["id"] == reply.pk
    assert trigger["seconds"] == 5
    assert (reply.body, reply.status_after, reply.is_internal) == ("On its way", "pending", False)
    assert ticket.messages.count() == 1  # only the customer's
    assert not ReplyDraft.objects.exists()
    assert "On its way" not in response.content.decode()  # the box is empty again


def test_undo_puts_the_text_back_in_the_box(web, agent, ticket):
    web.post(url("ticket-reply", ticket.pk), {"body": "Oops, wrong ticket"})
    reply = ScheduledReply.objects.get()

    response = web.post(url("ticket-undo", ticket.pk, reply.pk))

    assert response.status_code == HTTPStatus.OK
    assert "Oops, wrong ticket" in response.content.decode()
    reply.refresh_from_db()
    assert reply.state == ScheduledReply.State.CANCELLED


def test_the_page_delivers_a_due_reply_once(web, agent, ticket, settings):
    settings.UNDO_SEND_SECONDS = 0
    web.post(url("ticket-reply", ticket.pk), {"body": "Here you go", "status_after": "solved"})
    reply = ScheduledReply.objects.get()

    first = web.post(url("ticket-deliver", ticket.pk, reply.pk))
    second = web.post(url("ticket-deliver", ticket.pk, reply.pk))

    assert first.json()["state"] == second.json()["state"] == "sent"
    assert ticket.messages.filter(author=agent).count() == 1
    ticket.refresh_from_db()
    assert ticket.status == Status.SOLVED


def test_someone_elses_scheduled_reply_is_a_404(web, other_agent, ticket):
    signed_in(other_agent).post(url("ticket-reply", ticket.pk), {"body": "Bob's"})
    reply = ScheduledReply.objects.get()

    assert web.post(url("ticket-undo", ticket.pk, reply.pk)).status_code == HTTPStatus.NOT_FOUND
    assert web.post(url("ticket-deliver", ticket.pk, reply.pk)).status_code == 404


def test_an_empty_reply_is_an_error_and_keeps_nothing(web, ticket):
    response = web.post(url("ticket-reply", ticket.pk), {"body": "   "})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "A message cannot be empty." in response.content.decode()
    assert not ScheduledReply.objects.exists()


def test_a_failed_send_keeps_the_text_and_says_why(web, agent, customer):
    closed = TicketFactory(customer=customer, status=Status.CLOSED)

    response = web.post(url("ticket-reply", closed.pk), {"body": "Still there?"})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    html = response.content.decode()
    assert "This ticket is closed" in html
    assert "Still there?" in html


def test_a_reply_after_someone_else_changed_the_ticket_warns_instead_of_sending(
    web, agent, other_agent, ticket
):
    seen = latest_event_id(ticket)
    other_agent.first_name = "Priya"
    other_agent.save()
    post_message(ticket=ticket, author=other_agent, body="I answered already")

    warned = web.post(url("ticket-reply", ticket.pk), {"body": "My answer", "seen_event": seen})

    html = warned.content.decode()
    assert warned.status_code == HTTPStatus.OK
    assert "Priya" in html
    assert "replied" in html
    assert "review before sending" in html
    assert "Send anyway" in html
    assert "My answer" in html
    assert not ScheduledReply.objects.exists()

    anyway = web.post(
        url("ticket-reply", ticket.pk),
        {"body": "My answer", "seen_event": seen, "acknowledged_event": latest_event_id(ticket)},
    )
    assert anyway.status_code == HTTPStatus.OK
    assert ScheduledReply.objects.get().body == "My answer"


def test_my_own_changes_never_warn_me(web, agent, ticket):
    seen = latest_event_id(ticket)
    change_ticket_status(ticket=ticket, new_status=Status.PENDING, actor=agent)

    web.post(url("ticket-reply", ticket.pk), {"body": "Fine", "seen_event": seen})

    assert ScheduledReply.objects.exists()


# --- controls ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "check"),
    [
        ("status", "pending", lambda t: t.status == "pending"),
        ("priority", "urgent", lambda t: t.priority == "urgent"),
        ("type", "incident", lambda t: t.type == "incident"),
        (
            "tags",
            "refund, vip",
            lambda t: sorted(t.tags.values_list("name", flat=True)) == ["refund", "vip"],
        ),
    ],
)
def test_each_control_changes_the_ticket_through_its_service(
    web, agent, ticket, field, value, check
):
    seen = latest_event_id(ticket)
    response = web.post(url("ticket-change", ticket.pk, field), {field: value, "seen_event": seen})

    assert response.status_code == HTTPStatus.OK
    assert 'id="ws-meta" class="muted ws-meta" hx-swap-oob="true"' in response.content.decode()
    assert int(response["X-Ticket-Version"]) == latest_event_id(ticket)
    ticket.refresh_from_db()
    assert check(ticket)
    assert TicketEvent.objects.filter(ticket=ticket, actor=agent).exists()


def test_assign_team_and_parent(web, agent, ticket, customer):
    team = TeamFactory(name="Billing")
    problem = TicketFactory(customer=customer, type="problem")

    web.post(url("ticket-change", ticket.pk, "assignee"), {"assignee": agent.pk})
    web.post(url("ticket-change", ticket.pk, "team"), {"team": team.pk})
    web.post(url("ticket-change", ticket.pk, "parent"), {"parent": problem.reference})

    ticket.refresh_from_db()
    assert (ticket.assignee, ticket.team, ticket.parent) == (agent, team, problem)


def test_a_broken_rule_shows_next_to_its_control(web, customer):
    closed = TicketFactory(customer=customer, status=Status.CLOSED)

    response = web.post(url("ticket-change", closed.pk, "status"), {"status": "open"})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    html = response.content.decode()
    assert 'id="err-status"' in html
    assert "A Closed ticket cannot become Open." in html


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("status", "nonsense", "Select a valid choice"),
        ("parent", "HD-99999", "No ticket"),
        ("tags", "no spaces allowed", "tags are letters"),
    ],
)
def test_bad_values_are_form_errors_never_500s(web, ticket, field, value, message):
    response = web.post(url("ticket-change", ticket.pk, field), {field: value})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert message in response.content.decode()


def test_an_unknown_control_is_a_404(web, ticket):
    assert web.post(url("ticket-change", ticket.pk, "subject"), {}).status_code == 404


def test_a_change_after_someone_elses_change_warns(web, other_agent, ticket):
    seen = latest_event_id(ticket)
    change_ticket_status(ticket=ticket, new_status=Status.PENDING, actor=other_agent)

    response = web.post(
        url("ticket-change", ticket.pk, "priority"), {"priority": "high", "seen_event": seen}
    )

    assert "changed the status" in response.content.decode()
    assert "Change anyway" in response.content.decode()
    ticket.refresh_from_db()
    assert ticket.priority == "normal"


# --- macros in the workspace -----------------------------------------------------------------


def test_macro_picker_and_apply(web, manager, agent, ticket):
    macro = create_macro(
        actor=manager,
        title="Parcel late",
        body="Hi {{ customer.first_name }}, {{ ticket.reference }} is on its way.",
        set_status="pending",
        set_priority="high",
        add_tags=["late"],
    )

    listing = web.get(url("ticket-macros", ticket.pk), {"q": "late"})
    applied = web.post(url("ticket-use-macro", ticket.pk, macro.pk))

    assert "Parcel late" in listing.content.decode()
    assert applied.json() == {
        "text": f"Hi Carol, {ticket.reference} is on its way.",
        "status_after": "pending",
    }
    ticket.refresh_from_db()
    assert ticket.priority == "high"
    assert list(ticket.tags.values_list("name", flat=True)) == ["late"]
    assert ticket.status == Status.OPEN  # the status rides on the reply, not before it


# --- the customer history fragment ---------------------------------------------------------


def test_customer_history_fragment(web, customer, ticket):
    other = TicketFactory(customer=customer, subject="Older order", status=Status.SOLVED)
    TicketFactory(customer=CustomerFactory(), subject="Someone else's")

    html = web.get(url("customer-history", customer.pk)).content.decode()

    assert ticket.reference in html
    assert other.reference in html
    assert "Someone else" not in html


def test_events_name_the_customer_by_their_record_and_agents_by_name(web, agent, customer):
    from tickets.services import open_ticket

    customer.user.first_name, customer.user.last_name = "Login", "Name"
    customer.user.save()
    ticket = open_ticket(customer=customer, subject="Hi", body="Help", actor=customer.user)
    change_ticket_status(ticket=ticket, new_status=Status.OPEN, actor=agent)

    html = web.get(url("ticket", ticket.pk)).content.decode()

    assert "<strong>Carol Customer</strong> opened the ticket" in html
    assert f"<strong>{agent.display_name}</strong> changed status from New to Open" in html
    assert "Login Name" not in html


@pytest.mark.parametrize("count", [5, 50])
def test_customer_history_costs_fixed_queries(
    web, agent, customer, django_assert_num_queries, count
):
    TicketFactory.create_batch(count, customer=customer, assignee=agent, team=TeamFactory())
    path = url("customer-history", customer.pk)
    web.get(path)

    with django_assert_num_queries(4):  # session, user, profile, the tickets with their people
        response = web.get(path)
    assert response.content.decode().count("<tr>") == count + 1


def test_a_change_by_someone_else_during_my_write_stays_news(web, agent, other_agent, ticket):
    from tickets.workspace import version_after

    seen = latest_event_id(ticket)
    change_ticket_status(ticket=ticket, new_status=Status.PENDING, actor=other_agent)
    change_ticket_status(ticket=ticket, new_status=Status.OPEN, actor=agent)

    assert version_after(ticket, since=seen, viewer=agent) == seen
    assert version_after(ticket, since=latest_event_id(ticket), viewer=agent) == latest_event_id(
        ticket
    )


def test_a_macro_after_someone_elses_change_warns_and_applies_nothing(
    web, manager, other_agent, ticket
):
    macro = create_macro(actor=manager, title="Urgent", body="On it.", set_priority="urgent")
    seen = latest_event_id(ticket)
    change_ticket_status(ticket=ticket, new_status=Status.PENDING, actor=other_agent)

    warned = web.post(url("ticket-use-macro", ticket.pk, macro.pk), {"seen_event": seen})
    anyway = web.post(
        url("ticket-use-macro", ticket.pk, macro.pk),
        {"seen_event": seen, "acknowledged_event": warned.json()["acknowledged_event"]},
    )

    assert warned.status_code == HTTPStatus.CONFLICT
    assert "review before sending" in warned.json()["warning"]
    assert anyway.status_code == HTTPStatus.OK
    ticket.refresh_from_db()
    assert ticket.priority == "urgent"


def test_message_html_is_sanitized_again_on_the_page(web, ticket):
    from tests.factories import MessageFactory

    # A row that bypassed the services (an import): the page still never runs its script.
    MessageFactory(ticket=ticket, body='<p onclick="x()">Hi</p><script>alert(1)</script>')

    html = web.get(url("ticket", ticket.pk)).content.decode()

    assert "<script>alert(1)</script>" not in html
    assert "onclick" not in html


@pytest.mark.parametrize(
    ("name", "extra"),
    [
        ("ticket-draft", ()),
        ("ticket-reply", ()),
        ("ticket-change", ("status",)),
        ("ticket-undo", (1,)),
        ("ticket-deliver", (1,)),
        ("ticket-use-macro", (1,)),
    ],
)
def test_writes_refuse_get(web, ticket, name, extra):
    assert web.get(url(name, ticket.pk, *extra)).status_code == HTTPStatus.METHOD_NOT_ALLOWED
