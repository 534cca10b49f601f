"""Customers and organizations: every service records who changed what, from what, to what."""

from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType

from accounts.models import AuditAction, AuditEntry
from core.errors import RuleBroken
from customers.services import (
    create_customer,
    create_organization,
    update_customer,
    update_organization,
)
from tests.factories import CustomerFactory, OrganizationFactory, TagFactory, standard_tiers

pytestmark = pytest.mark.django_db


def entries_for(target) -> list[AuditEntry]:
    return list(
        AuditEntry.objects.filter(
            target_type=ContentType.objects.get_for_model(target), target_id=target.pk
        ).order_by("id")
    )


def test_creating_a_customer_records_what_it_was_made_with(agent):
    standard, *_ = standard_tiers()

    customer = create_customer(
        name="Ann", email="ann@x.example", actor=agent, tags=["vip"], phone=""
    )

    [entry] = entries_for(customer)
    assert (entry.actor, entry.action, entry.target_label) == (
        agent,
        AuditAction.CREATED,
        "Ann <ann@x.example>",
    )
    assert entry.changes == {
        "name": {"from": None, "to": "Ann"},
        "email": {"from": None, "to": "ann@x.example"},
        "tier": {"from": None, "to": standard.pk},
        "lifetime_value": {"from": None, "to": "0"},
        "tags": {"from": None, "to": ["vip"]},
    }


def test_changing_a_customer_records_each_field_from_and_to(agent):
    _standard, silver, *_ = standard_tiers()
    customer = CustomerFactory(name="Ann", lifetime_value=Decimal("10.00"))
    customer.tags.add(TagFactory(name="late"))
    organization = OrganizationFactory()
    old_tier = customer.tier_id

    update_customer(
        customer=customer,
        actor=agent,
        changes={
            "name": "Ann Archer",
            "tier": silver,
            "organization": organization,
            "lifetime_value": Decimal("10"),  # the same amount: no change
            "tags": ["vip", "late"],
        },
    )

    [entry] = entries_for(customer)
    assert (entry.actor, entry.action, entry.target_label) == (
        agent,
        AuditAction.CHANGED,
        f"Ann Archer <{customer.email}>",
    )
    assert entry.changes == {
        "name": {"from": "Ann", "to": "Ann Archer"},
        "tier": {"from": old_tier, "to": silver.pk},
        "organization": {"from": None, "to": organization.pk},
        "tags": {"from": ["late"], "to": ["late", "vip"]},
    }


def test_a_customer_change_to_the_same_values_records_nothing(agent):
    customer = CustomerFactory(name="Ann")
    customer.tags.add(TagFactory(name="late"))

    update_customer(customer=customer, actor=agent, changes={"name": "Ann", "tags": ["Late"]})

    assert entries_for(customer) == []


def test_a_refused_customer_change_records_nothing(agent):
    CustomerFactory(email="taken@x.example")
    customer = CustomerFactory()

    with pytest.raises(RuleBroken):
        update_customer(customer=customer, actor=agent, changes={"email": "TAKEN@x.example"})

    assert not AuditEntry.objects.exists()


def test_organizations_record_creation_and_changes(agent, manager):
    organization = create_organization(name="Globex", domain="Globex.example", actor=agent)
    update_organization(
        organization=organization, actor=manager, changes={"notes": "Key account", "name": "Globex"}
    )

    created, changed = entries_for(organization)
    assert (created.actor, created.action, created.changes) == (
        agent,
        AuditAction.CREATED,
        {"name": {"from": None, "to": "Globex"}, "domain": {"from": None, "to": "globex.example"}},
    )
    assert (changed.actor, changed.action, changed.changes) == (
        manager,
        AuditAction.CHANGED,
        {"notes": {"from": "", "to": "Key account"}},
    )
