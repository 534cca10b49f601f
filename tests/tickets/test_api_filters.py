"""Filtering and searching the ticket list, as an agent and as a customer."""

from datetime import timedelta
from http import HTTPStatus

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.factories import (
    CustomerFactory,
    OrganizationFactory,
    TagFactory,
    TeamFactory,
    TicketFactory,
    standard_tiers,
)
from tickets.models import Ticket
from tickets.services import post_message


def listed(client, **params):
    response = client.get(reverse("api:ticket-list"), params)
    assert response.status_code == HTTPStatus.OK, response.json()
    return {row["id"] for row in response.json()["results"]}


def test_status_takes_several_values_repeated_or_comma_separated(agent_client):
    new, pending = TicketFactory(status="new"), TicketFactory(status="pending")
    TicketFactory(status="solved")

    assert listed(agent_client, status=["new", "pending"]) == {new.pk, pending.pk}
    assert listed(agent_client, status="new,pending") == {new.pk, pending.pk}
    assert listed(agent_client, status="pending") == {pending.pk}


@pytest.mark.parametrize(
    ("field", "wanted", "other"),
    [("priority", "urgent", "low"), ("type", "incident", "question"), ("channel", "chat", "web")],
)
def test_choice_filters(agent_client, field, wanted, other):
    match = TicketFactory(**{field: wanted})
    TicketFactory(**{field: other})

    assert listed(agent_client, **{field: wanted}) == {match.pk}


def test_team_filter_by_id_or_none(agent_client, team):
    orders = TicketFactory(team=team)
    billing = TicketFactory(team=TeamFactory(name="Billing"))
    nobody = TicketFactory(team=None)

    assert listed(agent_client, team=team.pk) == {orders.pk}
    assert listed(agent_client, team="none") == {nobody.pk}
    assert billing.pk not in listed(agent_client, team=team.pk)


def test_assignee_filter_and_unassigned(agent_client, agent, other_agent):
    mine = TicketFactory(assignee=agent)
    TicketFactory(assignee=other_agent)
    loose = TicketFactory(assignee=None)

    assert listed(agent_client, assignee=agent.pk) == {mine.pk}
    assert listed(agent_client, assignee="none") == {loose.pk}
    assert listed(agent_client, unassigned="true") == {loose.pk}
    assert loose.pk not in listed(agent_client, unassigned="false")


def test_customer_organization_and_tier_filters(agent_client):
    gold = standard_tiers()[2]
    acme = OrganizationFactory(name="Acme")
    buyer = CustomerFactory(organization=acme, tier=gold)
    theirs = TicketFactory(customer=buyer)
    TicketFactory()  # a standard-tier customer without an organization

    assert listed(agent_client, customer=buyer.pk) == {theirs.pk}
    assert listed(agent_client, organization=acme.pk) == {theirs.pk}
    assert listed(agent_client, tier="gold") == {theirs.pk}
    assert listed(agent_client, tier=str(gold.pk)) == {theirs.pk}


def test_tag_filter(agent_client):
    refund = TicketFactory(tags=[TagFactory(name="refund")])
    TicketFactory(tags=[TagFactory(name="late")])

    assert listed(agent_client, tag="refund") == {refund.pk}


def test_created_and_updated_ranges(agent_client):
    old, new = TicketFactory(), TicketFactory()
    week_ago = timezone.now() - timedelta(days=7)
    Ticket.objects.filter(pk=old.pk).update(created_at=week_ago, updated_at=week_ago)
    yesterday = (timezone.now() - timedelta(days=1)).isoformat()

    assert listed(agent_client, created_after=yesterday) == {new.pk}
    assert listed(agent_client, created_before=yesterday) == {old.pk}
    assert listed(agent_client, updated_after=yesterday) == {new.pk}
    assert listed(agent_client, updated_before=yesterday) == {old.pk}


def test_reference_filter(agent_client):
    wanted = TicketFactory()
    TicketFactory()

    assert listed(agent_client, reference=f"HD-{wanted.pk}") == {wanted.pk}
    assert listed(agent_client, reference=f"hd-{wanted.pk}") == {wanted.pk}


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("status", "lost"),
        ("priority", "asap"),
        ("type", "rant"),
        ("channel", "fax"),
        ("team", "orders"),
        ("assignee", "-3"),
        ("unassigned", "maybe"),
        ("customer", "abc"),
        ("customer", str(2**64)),
        ("organization", "1.5"),
        ("tier", "x" * 51),
        ("created_after", "yesterday"),
        ("updated_before", "2024-13-01"),
        ("reference", "TK-12"),
        ("search", "x" * 201),
        ("search", "nul\x00byte"),
        ("ordering", "subject"),
    ],
)
def test_bad_filter_value_is_a_400_naming_the_parameter(agent_client, param, value):
    response = agent_client.get(reverse("api:ticket-list"), {param: value})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert list(response.json()) == [param]


def test_filters_combine(agent_client, team, agent):
    match = TicketFactory(status="open", team=team, assignee=agent, priority="high")
    TicketFactory(status="open", team=team, assignee=None, priority="high")
    TicketFactory(status="new", team=team, assignee=agent, priority="high")

    assert listed(agent_client, status="open", team=team.pk, assignee=agent.pk) == {match.pk}


# --- customers filter only within their own tickets --------------------------------------------


def test_customer_filters_stay_within_their_own_tickets(customer_client, customer, team):
    mine = TicketFactory(customer=customer, status="open", team=team)
    TicketFactory(status="open", team=team)  # another customer's, same status and team

    assert listed(customer_client, status="open") == {mine.pk}
    # Agent-only filters are ignored for customers: they learn nothing from them.
    assert listed(customer_client, team=team.pk) == {mine.pk}
    assert listed(customer_client, team="none") == {mine.pk}
    assert listed(customer_client, customer=CustomerFactory().pk) == {mine.pk}
    assert listed(customer_client, unassigned="false") == {mine.pk}


def test_customer_cannot_reach_another_customers_ticket_by_reference(
    customer_client, other_customer
):
    theirs = TicketFactory(customer=other_customer)

    assert listed(customer_client, reference=f"HD-{theirs.pk}") == set()


# --- search -----------------------------------------------------------------------------------


def test_agent_searches_subjects_and_message_text(agent_client, agent):
    by_subject = TicketFactory(subject="Refund for broken kettle")
    by_message = TicketFactory(subject="Question")
    post_message(ticket=by_message, author=agent, body="The kettle refund went out today.")
    parcel = TicketFactory(subject="Where is my parcel")

    assert listed(agent_client, search="kettle") == {by_subject.pk, by_message.pk}
    assert listed(agent_client, search="refund kettle") == {by_subject.pk, by_message.pk}
    assert listed(agent_client, search="parcel") == {parcel.pk}


def test_agent_search_finds_internal_notes(agent_client, agent):
    ticket = TicketFactory(subject="Question")
    post_message(ticket=ticket, author=agent, body="Suspected fraudster", is_internal=True)

    assert listed(agent_client, search="fraudster") == {ticket.pk}


def test_agent_search_by_reference(agent_client):
    wanted = TicketFactory()

    assert listed(agent_client, search=f"HD-{wanted.pk}") == {wanted.pk}


def test_search_never_reveals_an_internal_note_to_the_customer(customer_client, customer, agent):
    ticket = TicketFactory(customer=customer, subject="Question")
    post_message(ticket=ticket, author=agent, body="Suspected fraudster", is_internal=True)
    post_message(ticket=ticket, author=agent, body="Your blender ships Monday")

    assert listed(customer_client, search="fraudster") == set()
    assert listed(customer_client, search="blender") == {ticket.pk}


def test_customer_search_covers_only_their_tickets(customer_client, customer):
    mine = TicketFactory(customer=customer, subject="Broken toaster")
    TicketFactory(subject="Broken toaster too")

    assert listed(customer_client, search="toaster") == {mine.pk}


def test_search_with_odd_characters_is_not_an_error(agent_client):
    TicketFactory(subject="Hello")

    for text in ['"unclosed', "a & b | !c", "(:*)", "-", "'; drop table", "日本語"]:
        assert listed(agent_client, search=text) == set(), text


def test_search_pages_with_the_cursor(agent_client):
    TicketFactory.create_batch(52, subject="Lamp flickers")

    first = agent_client.get(reverse("api:ticket-list"), {"search": "lamp"}).json()
    second = agent_client.get(first["next"]).json()

    assert len(first["results"]) + len(second["results"]) == 52
