"""Opening a ticket and changing everything that is not its status: priority, assignee, team,
tags, subject/type/parent, and several of them at once with `update_ticket`."""

import pytest

from core.errors import RuleBroken
from tests.factories import AgentFactory, TagFactory, TeamFactory, TicketFactory, UserFactory
from tickets.models import (
    EventKind,
    Message,
    Notification,
    Priority,
    SenderKind,
    Status,
    Ticket,
    TicketType,
)
from tickets.services import (
    MAX_TAGS_PER_TICKET,
    assign_ticket,
    change_ticket_details,
    change_ticket_priority,
    change_ticket_team,
    open_ticket,
    set_ticket_tags,
    update_ticket,
)

pytestmark = pytest.mark.django_db


# --- opening ----------------------------------------------------------------------------------


def test_a_customer_opens_a_ticket_with_its_first_message(customer):
    ticket = open_ticket(
        customer=customer,
        subject="  Where is   my parcel? ",
        body="<p>Order 1042</p>",
        actor=customer.user,
        tags=["Shipping"],
    )

    fresh = Ticket.objects.get(pk=ticket.pk)
    assert (fresh.subject, fresh.status, fresh.customer) == (
        "Where is my parcel?",
        Status.NEW,
        customer,
    )
    assert fresh.reference == f"HD-{ticket.pk}"
    assert fresh.search_document == "Where is my parcel?\nOrder 1042"
    message = ticket.messages.get()
    assert (message.author, message.sender, message.body) == (
        customer.user,
        SenderKind.CUSTOMER,
        "<p>Order 1042</p>",
    )
    event = ticket.events.get()
    assert (event.kind, event.actor) == (EventKind.CREATED, customer.user)
    assert event.data == {
        "status": "new",
        "priority": "normal",
        "channel": "web",
        "team": None,
        "assignee": None,
        "tags": ["shipping"],
        "message": message.pk,
    }


def test_an_opened_ticket_owes_the_customer_an_email(customer):
    ticket = open_ticket(customer=customer, subject="Hi", body="Help", actor=customer.user)

    owed = Notification.objects.get(ticket=ticket)
    assert (owed.kind, owed.recipient, owed.sent_at) == (
        Notification.Kind.TICKET_OPENED,
        "carol@shop.example",
        None,
    )


def test_a_ticket_opened_straight_to_an_agent_owes_them_an_email(customer, agent, manager):
    ticket = open_ticket(
        customer=customer, subject="Hi", body="Help", actor=manager, assignee=agent
    )

    assert set(Notification.objects.filter(ticket=ticket).values_list("kind", "recipient")) == {
        (Notification.Kind.TICKET_OPENED, "carol@shop.example"),
        (Notification.Kind.TICKET_ASSIGNED, agent.email),
    }


def test_an_agent_opening_a_ticket_for_themself_owes_no_assignment_email(customer, agent):
    ticket = open_ticket(customer=customer, subject="Hi", body="Help", actor=agent, assignee=agent)

    assert list(Notification.objects.filter(ticket=ticket).values_list("kind", flat=True)) == [
        Notification.Kind.TICKET_OPENED
    ]


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("subject", {"subject": "   "}),
        ("subject", {"subject": "x" * 201}),
        ("body", {"body": "<script>x()</script>"}),
        ("priority", {"priority": "whenever"}),
        ("type", {"type": "rant"}),
        ("channel", {"channel": "fax"}),
        ("tags", {"tags": ["no spaces"]}),
    ],
)
def test_opening_with_bad_input_writes_nothing(customer, agent, field, kwargs):
    arguments = {"customer": customer, "subject": "Hi", "body": "Help", "actor": agent, **kwargs}

    with pytest.raises(RuleBroken) as refused:
        open_ticket(**arguments)

    assert refused.value.field == field
    assert not Ticket.objects.exists()
    assert not Message.objects.exists()
    assert not Notification.objects.exists()


def test_opening_for_someone_else_is_for_agents_only(customer, other_customer):
    with pytest.raises(RuleBroken) as refused:
        open_ticket(customer=customer, subject="Hi", body="Help", actor=other_customer.user)

    assert refused.value.field == "customer"
    assert not Ticket.objects.exists()


def test_opening_with_a_customer_as_assignee_is_refused(customer):
    with pytest.raises(RuleBroken) as refused:
        open_ticket(customer=customer, subject="Hi", body="Hi", actor=None, assignee=customer.user)

    assert refused.value.field == "assignee"


def test_opening_under_a_closed_parent_is_refused(customer):
    problem = TicketFactory(type=TicketType.PROBLEM, status=Status.CLOSED)

    with pytest.raises(RuleBroken) as refused:
        open_ticket(customer=customer, subject="Hi", body="Hi", actor=None, parent=problem)

    assert refused.value.field == "parent"


# --- priority, assignee, team -----------------------------------------------------------------


def test_priority_change_is_recorded(agent):
    ticket = TicketFactory()

    change_ticket_priority(ticket=ticket, priority=Priority.URGENT, actor=agent)

    assert Ticket.objects.get(pk=ticket.pk).priority == Priority.URGENT
    event = ticket.events.get()
    assert (event.kind, event.data) == (
        EventKind.PRIORITY_CHANGED,
        {"from": "normal", "to": "urgent"},
    )


def test_an_unknown_priority_is_refused(agent):
    ticket = TicketFactory()

    with pytest.raises(RuleBroken, match="'asap' is not a priority"):
        change_ticket_priority(ticket=ticket, priority="asap", actor=agent)


def test_assigning_an_agent_owes_them_an_email(agent, manager):
    ticket = TicketFactory()

    assign_ticket(ticket=ticket, assignee=agent, actor=manager)

    assert Ticket.objects.get(pk=ticket.pk).assignee == agent
    event = ticket.events.get()
    assert (event.kind, event.actor, event.data) == (
        EventKind.ASSIGNEE_CHANGED,
        manager,
        {"from": None, "to": agent.pk},
    )
    owed = Notification.objects.get(ticket=ticket)
    assert (owed.kind, owed.recipient) == (Notification.Kind.TICKET_ASSIGNED, agent.email)


def test_taking_a_ticket_yourself_owes_no_email(agent):
    ticket = TicketFactory()

    assign_ticket(ticket=ticket, assignee=agent, actor=agent)

    assert not Notification.objects.exists()


def test_unassigning_returns_the_ticket_to_the_queue(agent, manager):
    ticket = TicketFactory(assignee=agent)

    assign_ticket(ticket=ticket, assignee=None, actor=manager)

    assert Ticket.objects.get(pk=ticket.pk).assignee is None
    assert ticket.events.get().data == {"from": agent.pk, "to": None}
    assert not Notification.objects.exists()


@pytest.mark.parametrize(
    "who",
    [
        lambda customer: customer.user,
        lambda _: AgentFactory(is_active=False),
        lambda _: UserFactory(is_staff=True),  # a login without an agent profile
    ],
    ids=["customer", "inactive-agent", "no-profile"],
)
def test_only_an_active_agent_can_be_the_assignee(manager, customer, who):
    ticket = TicketFactory()

    with pytest.raises(RuleBroken) as refused:
        assign_ticket(ticket=ticket, assignee=who(customer), actor=manager)

    assert (refused.value.field, refused.value.message) == (
        "assignee",
        "Only an active agent can be given this ticket.",
    )
    assert Ticket.objects.get(pk=ticket.pk).assignee is None
    assert not Notification.objects.exists()


def test_keeping_an_assignee_who_has_left_is_not_a_change(manager):
    former = AgentFactory(is_active=False)
    ticket = TicketFactory(assignee=former)

    assign_ticket(ticket=ticket, assignee=former, actor=manager)

    assert not ticket.events.exists()


def test_moving_a_ticket_to_another_team_and_back_to_none(agent, team):
    billing = TeamFactory(name="Billing")
    ticket = TicketFactory(team=team)

    change_ticket_team(ticket=ticket, team=billing, actor=agent)
    change_ticket_team(ticket=ticket, team=None, actor=agent)

    assert Ticket.objects.get(pk=ticket.pk).team is None
    assert [(e.kind, e.data) for e in ticket.events.all()] == [
        (EventKind.TEAM_CHANGED, {"from": team.pk, "to": billing.pk}),
        (EventKind.TEAM_CHANGED, {"from": billing.pk, "to": None}),
    ]


# --- tags -------------------------------------------------------------------------------------


def test_tags_are_trimmed_lower_cased_deduplicated_and_sorted(agent):
    ticket = TicketFactory(tags=[TagFactory(name="old")])

    set_ticket_tags(ticket=ticket, tags=[" Refund ", "REFUND", "late", "", "  "], actor=agent)

    assert sorted(ticket.tags.values_list("name", flat=True)) == ["late", "refund"]
    event = ticket.events.get()
    assert (event.kind, event.data) == (
        EventKind.TAGS_CHANGED,
        {"from": ["old"], "to": ["late", "refund"]},
    )


def test_a_comma_separated_string_of_tags_is_a_list_not_letters(agent):
    ticket = TicketFactory()

    set_ticket_tags(ticket=ticket, tags="refund, late", actor=agent)

    assert sorted(ticket.tags.values_list("name", flat=True)) == ["late", "refund"]


def test_an_empty_tag_list_removes_every_tag(agent):
    ticket = TicketFactory(tags=[TagFactory(name="late")])

    set_ticket_tags(ticket=ticket, tags=[], actor=agent)

    assert not ticket.tags.exists()
    assert ticket.events.get().data == {"from": ["late"], "to": []}


@pytest.mark.parametrize(
    "names",
    [
        ["two words"],
        ["semi;colon"],
        ["x" * 51],
        [f"tag-{n}" for n in range(MAX_TAGS_PER_TICKET + 1)],
    ],
    ids=["space", "punctuation", "too-long", "too-many"],
)
def test_bad_tags_are_refused_and_create_nothing(agent, names):
    ticket = TicketFactory()

    with pytest.raises(RuleBroken) as refused:
        set_ticket_tags(ticket=ticket, tags=names, actor=agent)

    assert refused.value.field == "tags"
    assert not ticket.tags.exists()
    assert not ticket.events.exists()


def test_the_same_tags_in_another_order_are_not_a_change(agent):
    ticket = TicketFactory(tags=[TagFactory(name="late"), TagFactory(name="refund")])

    set_ticket_tags(ticket=ticket, tags=["Refund", "late"], actor=agent)

    assert not ticket.events.exists()


# --- subject, type, parent --------------------------------------------------------------------


def test_details_change_in_one_event(agent):
    problem = TicketFactory(type=TicketType.PROBLEM)
    ticket = TicketFactory(subject="Kettle", type=TicketType.QUESTION)

    change_ticket_details(
        ticket=ticket, subject="Kettle leaks", type=TicketType.INCIDENT, parent=problem, actor=agent
    )

    fresh = Ticket.objects.get(pk=ticket.pk)
    assert (fresh.subject, fresh.type, fresh.parent) == ("Kettle leaks", "incident", problem)
    assert fresh.search_document.startswith("Kettle leaks")
    event = ticket.events.get()
    assert (event.kind, event.data) == (
        EventKind.DETAILS_CHANGED,
        {
            "subject": {"from": "Kettle", "to": "Kettle leaks"},
            "type": {"from": "question", "to": "incident"},
            "parent": {"from": None, "to": problem.pk},
        },
    )


def test_a_parent_link_can_be_removed(agent):
    problem = TicketFactory(type=TicketType.PROBLEM)
    ticket = TicketFactory(parent=problem)

    change_ticket_details(ticket=ticket, parent=None, actor=agent)

    assert Ticket.objects.get(pk=ticket.pk).parent is None
    assert ticket.events.get().data == {"parent": {"from": problem.pk, "to": None}}


def test_leaving_parent_out_leaves_it_alone(agent):
    problem = TicketFactory(type=TicketType.PROBLEM)
    ticket = TicketFactory(parent=problem)

    change_ticket_details(ticket=ticket, subject="Renamed", actor=agent)

    assert Ticket.objects.get(pk=ticket.pk).parent == problem


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("subject", {"subject": ""}),
        ("subject", {"subject": "y" * 201}),
        ("type", {"type": "complaint"}),
    ],
)
def test_bad_details_are_refused(agent, field, kwargs):
    ticket = TicketFactory(subject="Kettle")

    with pytest.raises(RuleBroken) as refused:
        change_ticket_details(ticket=ticket, actor=agent, **kwargs)

    assert refused.value.field == field
    assert Ticket.objects.get(pk=ticket.pk).subject == "Kettle"


def test_a_ticket_cannot_be_its_own_parent(agent):
    ticket = TicketFactory()

    with pytest.raises(RuleBroken, match="its own parent"):
        change_ticket_details(ticket=ticket, parent=ticket, actor=agent)


def test_a_parent_cycle_is_refused_however_long(agent):
    top = TicketFactory(type=TicketType.PROBLEM)
    middle = TicketFactory(parent=top)
    bottom = TicketFactory(parent=middle)

    with pytest.raises(RuleBroken) as refused:
        change_ticket_details(ticket=top, parent=bottom, actor=agent)

    assert refused.value.field == "parent"
    assert Ticket.objects.get(pk=top.pk).parent is None
    assert not top.events.exists()


def test_a_closed_ticket_cannot_become_a_parent(agent):
    closed = TicketFactory(type=TicketType.PROBLEM, status=Status.CLOSED)
    ticket = TicketFactory()

    with pytest.raises(RuleBroken, match="A closed ticket cannot be a parent"):
        change_ticket_details(ticket=ticket, parent=closed, actor=agent)


# --- several at once --------------------------------------------------------------------------


def test_update_ticket_applies_every_change_and_records_each(agent, other_agent, team):
    ticket = TicketFactory(status=Status.OPEN)

    update_ticket(
        ticket=ticket,
        actor=agent,
        changes={
            "status": Status.PENDING,
            "priority": Priority.HIGH,
            "assignee": other_agent,
            "team": team,
            "tags": ["vip"],
            "subject": "Renamed",
        },
    )

    fresh = Ticket.objects.get(pk=ticket.pk)
    assert (fresh.status, fresh.priority, fresh.assignee, fresh.team, fresh.subject) == (
        Status.PENDING,
        Priority.HIGH,
        other_agent,
        team,
        "Renamed",
    )
    assert list(fresh.tags.values_list("name", flat=True)) == ["vip"]
    assert sorted(ticket.events.values_list("kind", flat=True)) == sorted(
        [
            EventKind.STATUS_CHANGED,
            EventKind.PRIORITY_CHANGED,
            EventKind.ASSIGNEE_CHANGED,
            EventKind.TEAM_CHANGED,
            EventKind.TAGS_CHANGED,
            EventKind.DETAILS_CHANGED,
        ]
    )
    assert set(ticket.events.values_list("actor", flat=True)) == {agent.pk}


def test_update_ticket_with_one_bad_change_keeps_none_of_them(agent, other_agent, team):
    ticket = TicketFactory(status=Status.NEW)

    with pytest.raises(RuleBroken) as refused:
        update_ticket(
            ticket=ticket,
            actor=agent,
            changes={
                "priority": Priority.URGENT,
                "assignee": other_agent,
                "team": team,
                "tags": ["vip"],
                "subject": "Renamed",
                "status": Status.CLOSED,  # new -> closed is not allowed
            },
        )

    assert refused.value.field == "status"
    fresh = Ticket.objects.get(pk=ticket.pk)
    assert (fresh.status, fresh.priority, fresh.assignee, fresh.team, fresh.subject) == (
        Status.NEW,
        Priority.NORMAL,
        None,
        None,
        ticket.subject,
    )
    assert not fresh.tags.exists()
    assert not ticket.events.exists()
    assert not Notification.objects.exists()  # the assignment's email is not owed either


def test_update_ticket_can_reprioritise_and_close_in_one_go(agent):
    ticket = TicketFactory(status=Status.SOLVED)

    update_ticket(
        ticket=ticket, actor=agent, changes={"status": Status.CLOSED, "priority": Priority.LOW}
    )

    fresh = Ticket.objects.get(pk=ticket.pk)
    assert (fresh.status, fresh.priority) == (Status.CLOSED, Priority.LOW)


def test_update_ticket_with_nothing_new_records_nothing(agent, team):
    ticket = TicketFactory(status=Status.OPEN, team=team, subject="Same")

    update_ticket(
        ticket=ticket,
        actor=agent,
        changes={"status": Status.OPEN, "team": team, "subject": "Same", "tags": []},
    )

    assert not ticket.events.exists()


def test_update_ticket_refuses_a_field_it_does_not_know(agent):
    ticket = TicketFactory()

    with pytest.raises(ValueError, match="customer"):
        update_ticket(ticket=ticket, actor=agent, changes={"customer": None})
