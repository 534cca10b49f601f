"""Drafts and the undo window: nothing is posted until the window ends, undo puts the text
back, a real worker posts what is due, and nothing is ever posted twice."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from core.errors import RuleBroken
from tests.factories import TicketFactory
from tests.tickets.test_tasks import celery_worker, wait_for  # noqa: F401 - a fixture
from tickets.models import Message, ReplyDraft, ScheduledReply, Status
from tickets.replies import (
    cancel_scheduled_reply,
    deliver_scheduled_reply,
    draft_for,
    save_draft,
    schedule_reply,
)
from tickets.services import change_ticket_status
from tickets.tasks import deliver_due_replies


@pytest.fixture
def ticket(db, customer):
    return TicketFactory(customer=customer, status=Status.OPEN)


def later(seconds: int = 60):
    return timezone.now() + timedelta(seconds=seconds)


# --- drafts -------------------------------------------------------------------------------------


def test_a_draft_is_kept_per_agent_and_ticket(ticket, agent, other_agent):
    save_draft(ticket=ticket, author=agent, body="Hello Carol", is_internal=False)
    save_draft(ticket=ticket, author=agent, body="Hello Carol, sorry", is_internal=True)
    save_draft(ticket=ticket, author=other_agent, body="Bob's words", is_internal=False)

    mine = draft_for(ticket=ticket, author=agent)
    assert (mine.body, mine.is_internal) == ("Hello Carol, sorry", True)
    assert draft_for(ticket=ticket, author=other_agent).body == "Bob's words"
    assert ReplyDraft.objects.count() == 2


def test_an_empty_box_deletes_the_draft(ticket, agent):
    save_draft(ticket=ticket, author=agent, body="Hello", is_internal=False)
    save_draft(ticket=ticket, author=agent, body="  ", is_internal=False)
    assert draft_for(ticket=ticket, author=agent) is None


def test_customers_keep_no_drafts(ticket, customer):
    with pytest.raises(RuleBroken):
        save_draft(ticket=ticket, author=customer.user, body="x", is_internal=False)


# --- the undo window ----------------------------------------------------------------------------


def test_a_scheduled_reply_is_invisible_until_due_and_then_posted_once(ticket, agent):
    save_draft(ticket=ticket, author=agent, body="**Sorry** for the wait", is_internal=False)
    reply = schedule_reply(ticket=ticket, author=agent, body="**Sorry** for the wait")

    assert not Message.objects.filter(ticket=ticket).exists()
    assert draft_for(ticket=ticket, author=agent) is None  # the text lives in the reply now
    assert deliver_scheduled_reply(reply.pk) is None  # not due yet

    message = deliver_scheduled_reply(reply.pk, now=later())
    again = deliver_scheduled_reply(reply.pk, now=later())

    assert message.body == "<p><strong>Sorry</strong> for the wait</p>"
    assert again is None
    assert Message.objects.filter(ticket=ticket).count() == 1
    reply.refresh_from_db()
    assert (reply.state, reply.message) == (ScheduledReply.State.SENT, message)


def test_send_and_mark_solved_changes_status_with_the_reply(ticket, agent):
    reply = schedule_reply(ticket=ticket, author=agent, body="Done", status_after=Status.SOLVED)
    deliver_scheduled_reply(reply.pk, now=later())

    ticket.refresh_from_db()
    assert ticket.status == Status.SOLVED
    assert ticket.messages.get().body == "<p>Done</p>"


def test_undo_cancels_and_puts_the_text_back(ticket, agent):
    reply = schedule_reply(ticket=ticket, author=agent, body="Oops", is_internal=True)

    cancel_scheduled_reply(reply=reply, actor=agent)

    assert deliver_scheduled_reply(reply.pk, now=later()) is None
    assert not Message.objects.exists()
    draft = draft_for(ticket=ticket, author=agent)
    assert (draft.body, draft.is_internal) == ("Oops", True)


def test_undo_after_sending_is_refused(ticket, agent):
    reply = schedule_reply(ticket=ticket, author=agent, body="Sent")
    deliver_scheduled_reply(reply.pk, now=later())

    with pytest.raises(RuleBroken) as broken:
        cancel_scheduled_reply(reply=reply, actor=agent)
    assert "Too late" in broken.value.message


def test_only_the_author_can_undo(ticket, agent, other_agent):
    reply = schedule_reply(ticket=ticket, author=agent, body="Mine")
    with pytest.raises(RuleBroken):
        cancel_scheduled_reply(reply=reply, actor=other_agent)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"body": "   "}, "body"),
        ({"body": "\n \n\t"}, "body"),
        ({"body": "x", "status_after": "nope"}, "status"),
        ({"body": "x", "status_after": Status.NEW}, "status"),
    ],
)
def test_a_bad_reply_is_refused_at_send_while_the_text_is_in_the_box(ticket, agent, kwargs, field):
    with pytest.raises(RuleBroken) as broken:
        schedule_reply(ticket=ticket, author=agent, **kwargs)
    assert broken.value.field == field
    assert not ScheduledReply.objects.exists()


def test_a_status_the_ticket_cannot_reach_is_named_in_words(ticket, agent):
    with pytest.raises(RuleBroken) as broken:
        schedule_reply(ticket=ticket, author=agent, body="x", status_after=Status.NEW)
    assert broken.value.message == "An Open ticket cannot become New."


def test_a_closed_ticket_takes_no_reply(agent, customer):
    ticket = TicketFactory(customer=customer, status=Status.CLOSED)
    with pytest.raises(RuleBroken):
        schedule_reply(ticket=ticket, author=agent, body="Hi")


def test_a_reply_that_breaks_a_rule_when_due_fails_and_returns_to_the_draft(ticket, agent):
    reply = schedule_reply(ticket=ticket, author=agent, body="Too late now")
    change_ticket_status(ticket=ticket, new_status=Status.SOLVED, actor=agent)
    change_ticket_status(ticket=ticket, new_status=Status.CLOSED, actor=agent)

    assert deliver_scheduled_reply(reply.pk, now=later()) is None

    reply.refresh_from_db()
    assert reply.state == ScheduledReply.State.FAILED
    assert "closed" in reply.error
    assert draft_for(ticket=ticket, author=agent).body == "Too late now"


def test_attachments_wait_with_the_reply_and_land_on_the_message(ticket, agent):
    upload = SimpleUploadedFile("label.pdf", b"%PDF-1.4 x", "application/pdf")
    reply = schedule_reply(ticket=ticket, author=agent, body="Label attached", attachments=[upload])

    message = deliver_scheduled_reply(reply.pk, now=later())

    attachment = message.attachments.get()
    assert (attachment.filename, attachment.size) == ("label.pdf", 10)
    assert not reply.files.exists()


def test_the_sweep_posts_what_is_due(ticket, agent, settings):
    settings.UNDO_SEND_SECONDS = 0
    schedule_reply(ticket=ticket, author=agent, body="One")
    schedule_reply(ticket=ticket, author=agent, body="Two")

    assert deliver_due_replies() == 2
    assert deliver_due_replies() == 0
    assert ticket.messages.count() == 2


# --- a real worker ------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_posts_the_reply_when_its_window_ends(
    celery_worker,  # noqa: F811 - the fixture
    customer,
    agent,
    settings,
):
    settings.UNDO_SEND_SECONDS = 1
    ticket = TicketFactory(customer=customer, status=Status.OPEN)

    reply = schedule_reply(ticket=ticket, author=agent, body="From the worker")

    assert not Message.objects.filter(ticket=ticket).exists()
    message = wait_for(lambda: Message.objects.filter(ticket=ticket).first())
    assert message.body == "<p>From the worker</p>"
    reply.refresh_from_db()
    assert reply.state == ScheduledReply.State.SENT
    assert deliver_scheduled_reply(reply.pk) is None  # the sweep or the page come too late


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_posts_nothing_after_undo(
    celery_worker,  # noqa: F811 - the fixture
    customer,
    agent,
    settings,
):
    settings.UNDO_SEND_SECONDS = 1
    ticket = TicketFactory(customer=customer, status=Status.OPEN)
    undone = schedule_reply(ticket=ticket, author=agent, body="Undone")
    cancel_scheduled_reply(reply=undone, actor=agent)
    marker = schedule_reply(ticket=ticket, author=agent, body="Marker")

    # The worker runs jobs in order; once the later one has posted, the first has run too.
    wait_for(lambda: Message.objects.filter(ticket=ticket).exists())
    marker.refresh_from_db()
    assert marker.state == ScheduledReply.State.SENT
    assert [m.body for m in Message.objects.filter(ticket=ticket)] == ["<p>Marker</p>"]
