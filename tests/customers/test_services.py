"""The rules every door (API, admin, shop sync) gets from customers.services."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from core.errors import RuleBroken
from customers.models import Customer, Organization, Tag
from customers.services import (
    _save_customer,
    create_customer,
    create_organization,
    tags_named,
    update_customer,
    update_organization,
)
from tests.factories import OrganizationFactory, TagFactory, standard_tiers

pytestmark = pytest.mark.django_db


def test_new_customer_starts_on_the_lowest_ranked_tier(agent):
    standard, *_ = standard_tiers()
    customer = create_customer(name="Ann", email="ann@x.example", actor=agent)
    assert customer.tier == standard


def test_new_customer_is_tidied(agent):
    standard_tiers()
    customer = create_customer(
        name="  Ann \n Archer ", email=" ann@x.example ", external_id="  ", phone=" 5 ", actor=agent
    )
    customer.refresh_from_db()
    assert (customer.name, customer.email, customer.external_id, customer.phone) == (
        "Ann Archer",
        "ann@x.example",
        None,
        "5",
    )


def test_email_is_unique_in_any_case(agent, customer):
    with pytest.raises(RuleBroken) as refused:
        create_customer(name="X", email="CAROL@shop.EXAMPLE", actor=agent)
    assert refused.value.field == "email"


def test_shop_id_is_unique(agent, customer):
    with pytest.raises(RuleBroken) as refused:
        create_customer(
            name="X", email="x@x.example", external_id=customer.external_id, actor=agent
        )
    assert refused.value.field == "external_id"


def test_a_clash_that_slips_past_the_checks_is_still_a_rule_not_a_crash(customer):
    # What a concurrent insert of the same email looks like by the time we save.
    twin = Customer(name="Twin", email="Carol@Shop.Example", tier=customer.tier)
    with pytest.raises(RuleBroken) as refused:
        _save_customer(twin)
    assert refused.value.field == "email"
    assert Customer.objects.count() == 1


def test_refused_customer_leaves_no_new_tags(agent, customer):
    with pytest.raises(RuleBroken):
        create_customer(name="X", email="carol@shop.example", tags=["fresh"], actor=agent)
    assert not Tag.objects.filter(name="fresh").exists()


def test_format_errors_come_out_per_field(agent):
    standard_tiers()
    with pytest.raises(ValidationError) as refused:
        create_customer(name="X", email="not-an-email", actor=agent)
    assert "email" in refused.value.message_dict


def test_tags_are_lower_cased_deduplicated_and_reused(agent):
    existing = TagFactory(name="vip")
    tags = tags_named(["VIP", "vip ", "Big-Spender", ""])
    assert [tag.name for tag in tags] == ["big-spender", "vip"]
    assert tags[1] == existing
    assert Tag.objects.count() == 2


TOO_MANY_TAGS = [f"t{i}" for i in range(21)]


@pytest.mark.parametrize("names", [["two words"], ["semi;colon"], ["x" * 51], TOO_MANY_TAGS])
def test_bad_tag_names_are_refused(names):
    with pytest.raises(RuleBroken) as refused:
        tags_named(names)
    assert refused.value.field == "tags"


def test_update_changes_only_what_it_is_given(agent, customer):
    gold = standard_tiers()[2]
    update_customer(
        customer=customer,
        actor=agent,
        changes={"tier": gold, "lifetime_value": Decimal("10.00"), "tags": ["loyal"]},
    )
    customer.refresh_from_db()
    assert (customer.tier, customer.lifetime_value, customer.name) == (
        gold,
        Decimal("10.00"),
        "Carol Customer",
    )
    assert list(customer.tags.values_list("name", flat=True)) == ["loyal"]


def test_update_may_change_the_case_of_ones_own_email(agent, customer):
    update_customer(customer=customer, actor=agent, changes={"email": "CAROL@shop.example"})
    customer.refresh_from_db()
    assert customer.email == "CAROL@shop.example"


def test_update_refuses_another_customers_email_and_writes_nothing(agent, customer, other_customer):
    with pytest.raises(RuleBroken) as refused:
        update_customer(
            customer=customer,
            actor=agent,
            changes={"name": "Renamed", "email": "Oscar@Shop.Example", "tags": ["new"]},
        )
    assert refused.value.field == "email"
    customer.refresh_from_db()
    assert customer.name == "Carol Customer"
    assert not Tag.objects.filter(name="new").exists()


def test_every_customer_keeps_a_tier(agent, customer):
    with pytest.raises(RuleBroken) as refused:
        update_customer(customer=customer, actor=agent, changes={"tier": None})
    assert refused.value.field == "tier"


def test_update_refuses_unknown_fields(agent, customer):
    with pytest.raises(ValueError, match="user"):
        update_customer(customer=customer, actor=agent, changes={"user": None})


def test_organization_names_are_unique_in_any_case(agent):
    OrganizationFactory(name="Acme")
    with pytest.raises(RuleBroken) as refused:
        create_organization(name="ACME", actor=agent)
    assert refused.value.field == "name"


def test_organization_rename_and_domain_tidying(agent):
    acme = create_organization(name="Acme", domain=" Acme.Example ", actor=agent)
    assert acme.domain == "acme.example"
    update_organization(organization=acme, actor=agent, changes={"name": "Acme Corp"})
    assert Organization.objects.get(pk=acme.pk).name == "Acme Corp"
