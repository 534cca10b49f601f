"""The ticket lifecycle as `tickets.services` enforces it: every allowed and refused transition,
the timestamps that go with them, reopening on a customer reply and the first-reply time."""

from itertools import product

import pytest

from core.errors import RuleBroken
from tests.factories import AgentFactory, TicketFactory
from tickets.models import EventKind, SenderKind, Status, Ticket
from tickets.services import (
    NEXT_STATUSES,
    assign_ticket,
    change_ticket_details,
    change_ticket_priority,
    change_ticket_status,
    change_ticket_team,
    open_ticket,
    post_message,
    set_ticket_tags,
)

pytestmark = pytest.mark.django_db

ALL_MOVES = [(old, new) for old, new in product(Status.values, repeat=2) if old != new]
ALLOWED = [(old, new) for old, new in ALL_MOVES if new in NEXT_STATUSES[old]]
REFUSED = [(old, new) for old, new in ALL_MOVES if new not in NEXT_STATUSES[old]]


def test_the_transition_table_is_the_one_the_desk_agreed_on():
    # Spelled out once here, so a change to the lifecycle is a visible change to this test.
    assert set(ALLOWED) == {
        ("new", "open"), ("new", "pending"), ("new", "on_hold"), ("new", "solved"),
        ("open", "pending"), ("open", "on_hold"), ("open", "solved"),
        ("pending", "open"), ("pending", "on_hold"), ("pending", "solved"),
        ("on_hold", "open"), ("on_hold", "pending"), ("on_hold", "solved"),
        ("solved", "open"), ("solved", "closed"),
    }  # fmt: skip
    assert NEXT_STATUSES[Status.CLOSED] == set()


@pytest.mark.parametrize(("old", "new"), ALLOWED)
def test_allowed_transition_moves_the_ticket_and_records_who(agent, old, new):
    ticket = TicketFactory(status=old)

    returned = change_ticket_status(ticket=ticket, new_status=new, actor=agent)

    assert returned.status == new
    assert Ticket.objects.get(pk=ticket.pk).status == new
    event = ticket.events.get()
    assert (event.kind, event.actor, event.data) == (
        EventKind.STATUS_CHANGED,
        agent,
        {"from": old, "to": new},
    )


@pytest.mark.parametrize(("old", "new"), REFUSED)
def test_refused_transition_changes_nothing(agent, old, new):
    ticket = TicketFactory(status=old)

    with pytest.raises(RuleBroken) as refused:
        change_ticket_status(ticket=ticket, new_status=new, actor=agent)

    assert refused.value.field == "status"
    old_label, new_label = Status(old).label, Status(new).label
    article = "An" if old in {"open", "on_hold"} else "A"
    assert refused.value.message == f"{article} {old_label} ticket cannot become {new_label}."
    assert Ticket.objects.get(pk=ticket.pk).status == old
    assert not ticket.events.exists()


def test_setting_the_same_status_is_not_a_change(agent):
    ticket = TicketFactory(status=Status.PENDING)

    change_ticket_status(ticket=ticket, new_status=Status.PENDING, actor=agent)

    assert not ticket.events.exists()


def test_an_unknown_status_is_refused(agent):
    ticket = TicketFactory(status=Status.OPEN)

    with pytest.raises(RuleBroken, match="'reopened' is not a status"):
        change_ticket_status(ticket=ticket, new_status="reopened", actor=agent)


def test_status_change_works_from_a_stale_copy_of_the_ticket(agent, other_agent):
    """Two agents loaded the same ticket; the second one's change is checked against the row
    as the first left it, not against what their page showed."""
    ticket = TicketFactory(status=Status.SOLVED)
    stale = Ticket.objects.get(pk=ticket.pk)
    change_ticket_status(ticket=ticket, new_status=Status.CLOSED, actor=agent)

    with pytest.raises(RuleBroken, match="A Closed ticket cannot become Open"):
        change_ticket_status(ticket=stale, new_status=Status.OPEN, actor=other_agent)


# --- closed is final --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("priority", lambda t, a, _: change_ticket_priority(ticket=t, priority="urgent", actor=a)),
        ("assignee", lambda t, a, _: assign_ticket(ticket=t, assignee=a, actor=a)),
        ("team", lambda t, a, team: change_ticket_team(ticket=t, team=team, actor=a)),
        ("tags", lambda t, a, _: set_ticket_tags(ticket=t, tags=["late"], actor=a)),
        ("subject", lambda t, a, _: change_ticket_details(ticket=t, subject="New", actor=a)),
        ("type", lambda t, a, _: change_ticket_details(ticket=t, type="incident", actor=a)),
        ("body", lambda t, a, _: post_message(ticket=t, author=a, body="Anyone there?")),
    ],
)
def test_a_closed_ticket_takes_no_more_changes(agent, team, field, change):
    ticket = TicketFactory(status=Status.CLOSED)

    with pytest.raises(RuleBroken) as refused:
        change(ticket, agent, team)

    assert refused.value.field == field
    assert not ticket.events.exists()
    assert not ticket.messages.exists()
    fresh = Ticket.objects.get(pk=ticket.pk)
    assert (fresh.priority, fresh.assignee, fresh.team, fresh.subject) == (
        ticket.priority,
        None,
        None,
        ticket.subject,
    )


def test_a_closed_ticket_accepts_a_change_that_changes_nothing(agent):
    ticket = TicketFactory(status=Status.CLOSED, subject="Broken kettle")

    change_ticket_details(ticket=ticket, subject="Broken  kettle ", actor=agent)
    change_ticket_priority(ticket=ticket, priority=ticket.priority, actor=agent)

    assert not ticket.events.exists()


# --- timestamps -------------------------------------------------------------------------------


def test_solving_stamps_solved_at_and_reopening_clears_it(agent):
    ticket = TicketFactory(status=Status.OPEN)

    change_ticket_status(ticket=ticket, new_status=Status.SOLVED, actor=agent)
    solved = Ticket.objects.get(pk=ticket.pk)
    assert solved.solved_at is not None
    assert solved.closed_at is None

    change_ticket_status(ticket=ticket, new_status=Status.OPEN, actor=agent)
    assert Ticket.objects.get(pk=ticket.pk).solved_at is None


def test_closing_stamps_closed_at_and_keeps_when_it_was_solved(agent):
    ticket = TicketFactory(status=Status.OPEN)
    change_ticket_status(ticket=ticket, new_status=Status.SOLVED, actor=agent)
    solved_at = Ticket.objects.get(pk=ticket.pk).solved_at

    change_ticket_status(ticket=ticket, new_status=Status.CLOSED, actor=agent)

    closed = Ticket.objects.get(pk=ticket.pk)
    assert closed.solved_at == solved_at
    assert closed.closed_at is not None
    assert closed.closed_at >= solved_at


# --- replies move the ticket ------------------------------------------------------------------


@pytest.mark.parametrize("waiting", [Status.SOLVED, Status.PENDING])
def test_a_customer_reply_reopens_a_solved_or_pending_ticket(customer, waiting):
    ticket = TicketFactory(customer=customer, status=waiting)

    post_message(ticket=ticket, author=customer.user, body="It still does not work.")

    fresh = Ticket.objects.get(pk=ticket.pk)
    assert fresh.status == Status.OPEN
    assert fresh.solved_at is None
    status_event = ticket.events.get(kind=EventKind.STATUS_CHANGED)
    assert (status_event.actor, status_event.data) == (
        customer.user,
        {"from": waiting, "to": "open"},
    )


@pytest.mark.parametrize("status", [Status.NEW, Status.OPEN, Status.ON_HOLD])
def test_a_customer_reply_leaves_other_statuses_alone(customer, status):
    ticket = TicketFactory(customer=customer, status=status)

    post_message(ticket=ticket, author=customer.user, body="Any news?")

    assert Ticket.objects.get(pk=ticket.pk).status == status
    assert not ticket.events.filter(kind=EventKind.STATUS_CHANGED).exists()


def test_an_agents_public_reply_opens_a_new_ticket(agent):
    ticket = TicketFactory(status=Status.NEW)

    post_message(ticket=ticket, author=agent, body="Looking into it.")

    assert Ticket.objects.get(pk=ticket.pk).status == Status.OPEN
    event = ticket.events.get(kind=EventKind.STATUS_CHANGED)
    assert (event.actor, event.data) == (agent, {"from": "new", "to": "open"})


def test_an_internal_note_leaves_a_new_ticket_new(agent):
    ticket = TicketFactory(status=Status.NEW)

    post_message(ticket=ticket, author=agent, body="Check the courier.", is_internal=True)

    assert Ticket.objects.get(pk=ticket.pk).status == Status.NEW


def test_an_agents_reply_on_a_pending_ticket_keeps_it_pending(agent):
    ticket = TicketFactory(status=Status.PENDING)

    post_message(ticket=ticket, author=agent, body="Reminder: we need your order number.")

    assert Ticket.objects.get(pk=ticket.pk).status == Status.PENDING


# --- first agent reply ------------------------------------------------------------------------


def test_the_first_public_agent_reply_sets_the_first_reply_time(agent, customer):
    ticket = TicketFactory(customer=customer)
    post_message(ticket=ticket, author=customer.user, body="Hello?")
    assert Ticket.objects.get(pk=ticket.pk).first_agent_reply_at is None

    reply = post_message(ticket=ticket, author=agent, body="Hello! Looking now.")

    assert Ticket.objects.get(pk=ticket.pk).first_agent_reply_at == reply.created_at


def test_an_internal_note_is_not_a_first_reply(agent):
    ticket = TicketFactory()

    post_message(ticket=ticket, author=agent, body="Customer is VIP.", is_internal=True)

    assert Ticket.objects.get(pk=ticket.pk).first_agent_reply_at is None


def test_the_description_an_agent_types_in_for_a_caller_is_not_a_first_reply(agent, customer):
    ticket = open_ticket(
        customer=customer, subject="Phoned in", body="Kettle leaks.", actor=agent, channel="phone"
    )

    fresh = Ticket.objects.get(pk=ticket.pk)
    assert fresh.first_agent_reply_at is None
    assert fresh.status == Status.NEW


def test_later_replies_do_not_move_the_first_reply_time(agent, other_agent):
    ticket = TicketFactory()
    first = post_message(ticket=ticket, author=agent, body="On it.")

    post_message(ticket=ticket, author=other_agent, body="Taking over.")
    post_message(ticket=ticket, author=agent, body="Done.")

    assert Ticket.objects.get(pk=ticket.pk).first_agent_reply_at == first.created_at


def test_a_customer_reply_is_never_a_first_agent_reply(customer):
    ticket = TicketFactory(customer=customer)

    message = post_message(ticket=ticket, author=customer.user, body="Me again.")

    assert message.sender == SenderKind.CUSTOMER
    assert Ticket.objects.get(pk=ticket.pk).first_agent_reply_at is None


def test_an_inactive_agent_account_cannot_reply_as_an_agent(customer):
    former = AgentFactory(is_active=False)
    ticket = TicketFactory(customer=customer)

    with pytest.raises(RuleBroken) as refused:
        post_message(ticket=ticket, author=former, body="Still here!")

    assert refused.value.field == "author"
    assert Ticket.objects.get(pk=ticket.pk).first_agent_reply_at is None
