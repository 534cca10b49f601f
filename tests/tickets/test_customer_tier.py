"""Ticket.customer_tier: the customer's tier copied onto each ticket, kept true by the services
(opening, a tier change through update_customer) and filled by migration 0008."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import F
from django.test.utils import CaptureQueriesContext

from customers.services import update_customer
from tests.factories import CustomerFactory, TicketFactory, standard_tiers
from tickets.models import Ticket
from tickets.services import open_ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def tiers(db):
    return {tier.slug: tier for tier in standard_tiers()}


def tier_of(ticket):
    return Ticket.objects.values_list("customer_tier__slug", flat=True).get(pk=ticket.pk)


def test_an_opened_ticket_carries_its_customers_tier(tiers, agent):
    buyer = CustomerFactory(tier=tiers["gold"])

    ticket = open_ticket(customer=buyer, subject="Parcel lost", body="Where is it?", actor=agent)

    assert tier_of(ticket) == "gold"


def test_a_tier_change_moves_every_ticket_of_that_customer_only(tiers, manager):
    buyer, bystander = CustomerFactory(tier=tiers["silver"]), CustomerFactory(tier=tiers["silver"])
    theirs = [TicketFactory(customer=buyer, status=status) for status in ("open", "closed")]
    other = TicketFactory(customer=bystander)
    touched_before = {t.pk: t.updated_at for t in Ticket.objects.all()}

    with CaptureQueriesContext(connection) as captured:
        update_customer(customer=buyer, actor=manager, changes={"tier": tiers["vip"]})

    assert [tier_of(t) for t in theirs] == ["vip", "vip"]  # closed ones too: the tier is now
    assert tier_of(other) == "silver"
    writes = [q["sql"] for q in captured if q["sql"].startswith('UPDATE "tickets_ticket"')]
    assert len(writes) == 1  # one UPDATE for all their tickets, whatever their number
    # Not a change of the ticket: the queue's "recently updated" order and the timeline stay.
    assert {t.pk: t.updated_at for t in Ticket.objects.all()} == touched_before
    assert not Ticket.objects.filter(pk__in=[t.pk for t in theirs], events__isnull=False).exists()


def test_a_change_that_is_not_the_tier_leaves_the_tickets_alone(tiers, manager):
    buyer = CustomerFactory(tier=tiers["gold"])
    ticket = TicketFactory(customer=buyer)

    with CaptureQueriesContext(connection) as captured:
        update_customer(customer=buyer, actor=manager, changes={"name": "Ada Lovelace"})

    assert tier_of(ticket) == "gold"
    assert not [q for q in captured if q["sql"].startswith('UPDATE "tickets_ticket"')]


@pytest.mark.parametrize("drop_indexes", [False, True])  # COPY on PostgreSQL; and the bulk load
def test_seeded_tickets_carry_their_customers_tier(drop_indexes):
    call_command("seed_demo", tickets=40, customers=20, stdout=StringIO(),
                 drop_indexes=drop_indexes)  # fmt: skip

    assert Ticket.objects.count() == 40
    assert not Ticket.objects.exclude(customer_tier=F("customer__tier")).exists()


@pytest.mark.django_db(transaction=True)
def test_migration_fills_the_tier_of_existing_tickets():
    tiers = {tier.slug: tier for tier in standard_tiers()}
    tickets = [
        TicketFactory(customer=CustomerFactory(tier=tiers[slug])) for slug in ("vip", "standard")
    ]
    executor = MigrationExecutor(connection)
    executor.migrate([("tickets", "0007_sla_summary_and_escalation")])  # the column is gone

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert [tier_of(t) for t in tickets] == ["vip", "standard"]
