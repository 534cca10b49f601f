"""What storing one chat line costs in SQL (issue 10), under a default SLA policy whose clocks
run: the statement counts are pinned, and what the cheaper path writes is the same as before
(the line, its number, the clocks and their ledger, the frame announced)."""

from datetime import timedelta

import pytest
import time_machine
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from chat import events
from chat.models import ChatLine, Conversation
from chat.services import end_conversation, post_line, start_conversation
from core.errors import RuleBroken
from slas.models import ClockSegment, TicketClock
from slas.services import save_calendar, save_policy
from tests.chat.visitors import make_site, new_visitor, put_online
from tests.slas.sla_helpers import MONDAY_9, targets

pytestmark = pytest.mark.django_db

# Statements a transaction's own bracket adds (the test's savepoint stands for production's
# BEGIN/COMMIT): not round trips of the work itself.
TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT", "BEGIN", "COMMIT")


def at(minutes: float):
    return time_machine.travel(MONDAY_9 + timedelta(minutes=minutes), tick=False)


@pytest.fixture
def chat(team, agent, manager):
    calendar = save_calendar(
        actor=manager, calendar=None, data={"name": "24/7", "always_open": True}
    )
    save_policy(
        actor=manager,
        policy=None,
        data={"name": "Standard", "is_default": True, "calendar": calendar, "targets": targets()},
    )
    site = make_site(team)
    put_online(agent)
    visitor, _ = new_visitor(site)
    with at(0):
        return start_conversation(site=site, visitor=visitor, prechat={}, body="Hi")


def post(chat, sender, body, client_id):
    """post_line, and the statements it sent (without the transaction's bracket)."""
    with CaptureQueriesContext(connection) as queries:
        line = post_line(
            conversation=chat, sender_user_or_None=sender, body=body, client_id=client_id
        )
    sql = [query["sql"] for query in queries.captured_queries]
    work = [text for text in sql if not text.startswith(TRANSACTION_CONTROL)]
    savepoints = [text for text in sql if text.startswith("SAVEPOINT")]
    # post_line's own atomic block is the only one: post_message adds no savepoint.
    assert len(savepoints) == 1, sql
    return line, work


def listing(statements):
    return "\n".join(f"{n}. {text[:160]}" for n, text in enumerate(statements, 1))


def ledger(ticket):
    return list(
        ClockSegment.objects.filter(clock__ticket=ticket)
        .order_by("id")
        .values_list("id", "clock__target", "starts_at", "ends_at", "business_minutes")
    )


def clocks(ticket):
    return list(TicketClock.objects.filter(ticket=ticket).order_by("id").values())


def test_a_customer_message_while_the_first_reply_clock_runs_costs_7_statements(chat):
    # Ticket lock, conversation lock and number, message, ticket, event, clocks, line.
    with at(1):
        line, work = post(chat, None, "Are you there?", "c1")
    assert len(work) == 7, listing(work)
    assert (line.seq, line.sender, line.client_id) == (2, "customer", "c1")


def test_a_second_customer_message_costs_7_statements_and_moves_no_clock(chat, agent):
    with at(1):
        post(chat, agent, "Hello! Looking.", "a1")
    with at(2):
        post(chat, None, "My order is late", "c1")
    clocks_before, ledger_before = clocks(chat.ticket), ledger(chat.ticket)

    with at(3):
        line, work = post(chat, None, "Order 1234", "c2")

    assert len(work) == 7, listing(work)
    assert (clocks(chat.ticket), ledger(chat.ticket)) == (clocks_before, ledger_before)
    chat.ticket.refresh_from_db()
    assert chat.ticket.last_customer_message_at == MONDAY_9 + timedelta(minutes=3)
    assert line.seq == 4


def test_an_agent_reply_costs_10_statements_and_ends_the_open_segment_in_place(chat, agent):
    with at(1):
        post(chat, agent, "Hello!", "a1")
    with at(2):
        post(chat, None, "My order is late", "c1")
    waiting = TicketClock.objects.get(ticket=chat.ticket, target="next_reply")
    open_segment = ClockSegment.objects.get(clock=waiting)

    with at(7):
        line, work = post(chat, agent, "It ships today.", "a2")

    # Ticket lock, conversation lock and number, message, ticket, event, clocks (with their
    # open segments and the settings stamp), clock stopped, segment ended, summary, line.
    assert len(work) == 10, listing(work)
    waiting.refresh_from_db()
    assert (waiting.state, waiting.stopped_at, waiting.business_minutes) == (
        "met",
        MONDAY_9 + timedelta(minutes=7),
        5,
    )
    closed = ClockSegment.objects.get(clock=waiting)
    assert (closed.pk, closed.kind, closed.starts_at) == (
        open_segment.pk,
        "running",
        open_segment.starts_at,
    )
    assert (closed.ends_at, closed.business_minutes) == (MONDAY_9 + timedelta(minutes=7), 5)
    chat.ticket.refresh_from_db()
    assert (chat.ticket.reply_due_at, chat.ticket.sla_target) == (None, "resolution")
    assert line.seq == 4


def test_the_announced_line_is_the_stored_line(chat, agent, django_capture_on_commit_callbacks):
    upload = SimpleUploadedFile("receipt.pdf", b"%PDF-1.4 receipt", content_type="application/pdf")
    with at(1):
        line = post_line(
            conversation=chat,
            sender_user_or_None=agent,
            body="<b>Here</b>\nyou go",
            client_id="a1",
            attachments=[upload],
        )
    stored = (
        ChatLine.objects.select_related("message__author")
        .prefetch_related("message__attachments")
        .get(pk=line.pk)
    )
    assert events.line_payload(line) == events.line_payload(stored)
    assert events.line_payload(line)["attachments"][0]["filename"] == "receipt.pdf"


def test_a_resend_takes_no_number_and_the_next_line_follows_on(chat):
    one, _ = post(chat, None, "x", "k")
    again, _ = post(chat, None, "x", "k")
    two, _ = post(chat, None, "y", "k2")
    assert one == again
    assert (one.seq, two.seq) == (2, 3)
    assert Conversation.objects.get(pk=chat.pk).last_seq == 3


def test_an_ended_chat_keeps_its_last_number(chat):
    end_conversation(conversation=chat, actor=None)
    last_seq = Conversation.objects.get(pk=chat.pk).last_seq
    with pytest.raises(RuleBroken, match="This chat has ended"):
        post_line(conversation=chat, sender_user_or_None=None, body="Hello?", client_id="z")
    assert Conversation.objects.get(pk=chat.pk).last_seq == last_seq
