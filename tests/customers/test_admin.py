"""Customers, organizations, tiers and tags in the Django admin, through the real admin URLs."""

import html
import re
from http import HTTPStatus

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AuditAction, AuditEntry, Role
from customers.models import Customer, Organization, Tag, Tier
from customers.services import create_customer, update_customer
from tests.factories import (
    AgentFactory,
    CustomerFactory,
    OrganizationFactory,
    TagFactory,
    TierFactory,
    standard_tiers,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def web(db) -> Client:
    client = Client()
    client.force_login(AgentFactory(profile__role=Role.ADMIN))
    return client


def queries_for(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == HTTPStatus.OK
    return len(queries)


def many_customers(n: int) -> None:
    organization, vip = OrganizationFactory(), TagFactory(name="vip")
    for customer in CustomerFactory.create_batch(n, organization=organization, with_login=True):
        customer.tags.add(vip)


def many_organizations(n: int) -> None:
    OrganizationFactory.create_batch(n)


def many_tiers(n: int) -> None:
    start = Tier.objects.count()
    for rank in range(start, start + n):
        TierFactory(name=f"Tier {rank}", slug=f"tier-{rank}", rank=rank)


def many_tags(n: int) -> None:
    TagFactory.create_batch(n)


@pytest.mark.parametrize(
    ("model", "make"),
    [
        ("customer", many_customers),
        ("organization", many_organizations),
        ("tier", many_tiers),
        ("tag", many_tags),
    ],
)
def test_changelist_costs_the_same_queries_for_10_and_50_rows(web, model, make):
    url = reverse(f"admin:customers_{model}_changelist")
    make(10)
    with_10 = queries_for(web, url)

    make(40)
    with_50 = queries_for(web, url)

    assert with_50 == with_10
    assert web.get(url).context["cl"].result_count == 50


def customer_form(**overrides) -> dict:
    data = {
        "name": "Dana Doe",
        "email": "dana@shop.example",
        "phone": "",
        "external_id": "",
        "organization": "",
        "tier": standard_tiers()[1].pk,
        "lifetime_value": "120.50",
        "tags": [],
        "notes": "",
    }
    data.update(overrides)
    return data


def test_adding_a_customer(web):
    vip = TagFactory(name="vip")

    response = web.post(
        reverse("admin:customers_customer_add"), customer_form(tags=[vip.pk], external_id=" 77 ")
    )

    assert response.status_code == HTTPStatus.FOUND
    customer = Customer.objects.get()
    assert (customer.name, customer.email, customer.tier.slug, customer.external_id) == (
        "Dana Doe",
        "dana@shop.example",
        "silver",
        "77",
    )
    assert list(customer.tags.values_list("name", flat=True)) == ["vip"]


def test_a_duplicate_email_in_another_case_is_a_form_error_on_email(web):
    CustomerFactory(email="dana@shop.example")

    response = web.post(
        reverse("admin:customers_customer_add"), customer_form(email="DANA@Shop.Example")
    )

    assert response.status_code == HTTPStatus.OK
    form = response.context["adminform"].form
    assert form.errors == {"email": ["A customer with this email already exists."]}
    assert Customer.objects.count() == 1


def test_changing_an_email_to_someone_elses_is_a_form_error(web):
    CustomerFactory(email="taken@shop.example")
    customer = CustomerFactory(email="mine@shop.example")

    response = web.post(
        reverse("admin:customers_customer_change", args=[customer.pk]),
        customer_form(email="Taken@shop.example", tier=customer.tier_id),
    )

    assert response.status_code == HTTPStatus.OK
    assert response.context["adminform"].form.errors["email"] == [
        "A customer with this email already exists."
    ]
    assert Customer.objects.get(pk=customer.pk).email == "mine@shop.example"


def test_changing_a_customer_writes_only_what_changed(web):
    customer = CustomerFactory(name="Old Name", tier=standard_tiers()[0])
    gold = Tier.objects.get(slug="gold")

    response = web.post(
        reverse("admin:customers_customer_change", args=[customer.pk]),
        customer_form(
            name="  New   Name ",
            email=customer.email,
            phone=customer.phone,
            external_id=customer.external_id,
            lifetime_value=str(customer.lifetime_value),
            tier=gold.pk,
        ),
    )

    assert response.status_code == HTTPStatus.FOUND
    fresh = Customer.objects.get(pk=customer.pk)
    assert (fresh.name, fresh.tier) == ("New Name", gold)


def test_a_duplicate_organization_name_in_another_case_is_a_form_error(web):
    OrganizationFactory(name="Acme Ltd")

    response = web.post(
        reverse("admin:customers_organization_add"),
        {"name": "ACME LTD", "domain": "", "notes": ""},
    )

    assert response.status_code == HTTPStatus.OK
    assert response.context["adminform"].form.errors["name"] == [
        "An organization with this name already exists."
    ]
    assert Organization.objects.count() == 1


def test_adding_an_organization_cleans_its_domain(web):
    response = web.post(
        reverse("admin:customers_organization_add"),
        {"name": "Globex", "domain": " Globex.Example ", "notes": ""},
    )

    assert response.status_code == HTTPStatus.FOUND
    assert Organization.objects.get().domain == "globex.example"


def test_tags_are_listed_but_not_added_or_renamed_here(web):
    tag = TagFactory(name="refund")

    added = web.get(reverse("admin:customers_tag_add"))
    renamed = web.post(reverse("admin:customers_tag_change", args=[tag.pk]), {"name": "x"})

    assert (added.status_code, renamed.status_code) == (HTTPStatus.FORBIDDEN, HTTPStatus.FORBIDDEN)
    assert Tag.objects.get(pk=tag.pk).name == "refund"


@pytest.mark.parametrize("model", ["customer", "organization", "tag"])
def test_nothing_here_is_deleted(web, model):
    organization = OrganizationFactory()
    customer = CustomerFactory(organization=organization)
    tag = TagFactory(name="refund")
    customer.tags.add(tag)
    obj = {"customer": customer, "organization": organization, "tag": tag}[model]
    changelist = reverse(f"admin:customers_{model}_changelist")

    page = web.post(reverse(f"admin:customers_{model}_delete", args=[obj.pk]), {"post": "yes"})
    web.post(changelist, {"action": "delete_selected", "_selected_action": [obj.pk], "post": "yes"})
    action_form = web.get(changelist).context["action_form"]
    offered = [name for name, _ in action_form.fields["action"].choices] if action_form else []

    assert page.status_code == HTTPStatus.FORBIDDEN
    assert "delete_selected" not in offered
    customer = Customer.objects.get(pk=customer.pk)  # still there, as it was
    assert (customer.organization, list(customer.tags.all())) == (organization, [tag])


def test_a_customer_changed_in_the_admin_is_in_the_audit_trail(web):
    standard_tiers()
    customer = CustomerFactory(name="Ann")

    web.post(
        reverse("admin:customers_customer_change", args=[customer.pk]),
        {
            "name": "Ann Archer",
            "email": customer.email,
            "phone": customer.phone,
            "external_id": customer.external_id or "",
            "organization": "",
            "tier": customer.tier_id,
            "lifetime_value": str(customer.lifetime_value),
            "notes": customer.notes,
        },
    )

    entry = AuditEntry.objects.get()
    assert entry.changes == {"name": {"from": "Ann", "to": "Ann Archer"}}
    assert entry.actor.agent_profile.role == Role.ADMIN


def test_a_customers_page_links_to_its_history_in_the_audit_trail(web, agent):
    standard_tiers()
    customer = create_customer(name="Ann", email="ann@x.example", actor=agent)
    other = create_customer(name="Bob", email="bob@x.example", actor=agent)
    update_customer(customer=customer, actor=agent, changes={"name": "Ann Archer"})

    page = web.get(reverse("admin:customers_customer_change", args=[customer.pk]))
    [link] = re.findall(r'href="([^"]*auditentry[^"]*target_id[^"]*)"', page.text)
    history = web.get(html.unescape(link))

    assert history.status_code == HTTPStatus.OK
    entries = list(history.context["cl"].result_list)
    assert [(e.action, e.target_id) for e in entries] == [
        (AuditAction.CHANGED, customer.pk),
        (AuditAction.CREATED, customer.pk),
    ]
    assert other.pk not in {e.target_id for e in entries}
