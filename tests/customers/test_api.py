"""The customer directory through its real URLs: who may see it, filters, writes, query counts."""

from decimal import Decimal
from http import HTTPStatus

import pytest
from django.urls import reverse

from customers.models import Customer, Organization, Tag
from tests import test_schema
from tests.factories import (
    CustomerFactory,
    OrganizationFactory,
    TagFactory,
    TicketFactory,
    standard_tiers,
)
from tickets.models import Status

LIST = reverse("api:customer-list")


def detail(customer) -> str:
    return reverse("api:customer-detail", args=[customer.pk])


def names(response) -> list[str]:
    return [row["name"] for row in response.json()["results"]]


# --- who may see customers --------------------------------------------------------------------


def test_agent_lists_customers_in_name_order(agent_client):
    CustomerFactory(name="Zed Zimmer")
    CustomerFactory(name="Ann Archer")

    response = agent_client.get(LIST)

    assert response.status_code == HTTPStatus.OK
    assert names(response) == ["Ann Archer", "Zed Zimmer"]
    assert response.json()["count"] == 2


def test_manager_lists_customers(manager_client, customer):
    response = manager_client.get(LIST)
    assert response.status_code == HTTPStatus.OK
    assert names(response) == ["Carol Customer"]


def test_customer_cannot_list_customers(customer_client):
    response = customer_client.get(LIST)
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert "detail" in response.json()


def test_anonymous_cannot_list_customers(anonymous_client, customer):
    response = anonymous_client.get(LIST)
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert "detail" in response.json()


def test_customer_gets_404_for_someone_elses_record_and_their_own(
    customer_client, customer, other_customer
):
    # Their own record is at /me/; here every record, and a made-up one, looks the same.
    assert customer_client.get(detail(other_customer)).status_code == HTTPStatus.NOT_FOUND
    assert customer_client.get(detail(customer)).status_code == HTTPStatus.NOT_FOUND
    missing = reverse("api:customer-detail", args=[999_999])
    assert customer_client.get(missing).status_code == HTTPStatus.NOT_FOUND


def test_customer_cannot_create_or_change_customers(customer_client, customer, other_customer):
    created = customer_client.post(LIST, {"name": "Eve", "email": "eve@example.com"})
    changed = customer_client.patch(detail(other_customer), {"name": "Hacked"})

    assert created.status_code == HTTPStatus.FORBIDDEN
    assert changed.status_code == HTTPStatus.NOT_FOUND
    other_customer.refresh_from_db()
    assert other_customer.name == "Oscar Other"
    assert not Customer.objects.filter(email="eve@example.com").exists()


def test_anonymous_cannot_read_a_customer(anonymous_client, customer):
    assert anonymous_client.get(detail(customer)).status_code == HTTPStatus.UNAUTHORIZED


# --- the detail: counts and recent tickets ----------------------------------------------------


def test_agent_reads_a_customer_with_ticket_counts_and_five_recent_tickets(agent_client):
    gold = standard_tiers()[2]
    acme = OrganizationFactory(name="Acme")
    customer = CustomerFactory(
        name="Dana", tier=gold, organization=acme, lifetime_value=Decimal("1234.50"), notes="Nice"
    )
    customer.tags.set([TagFactory(name="wholesale")])
    tickets = [TicketFactory(customer=customer, status=Status.OPEN) for _ in range(4)]
    tickets += [TicketFactory(customer=customer, status=Status.PENDING)]
    tickets += [TicketFactory(customer=customer, status=Status.SOLVED) for _ in range(2)]
    tickets += [TicketFactory(customer=customer, status=Status.CLOSED)]
    TicketFactory(status=Status.OPEN)  # someone else's

    body = agent_client.get(detail(customer)).json()

    assert body["tier"]["slug"] == "gold"
    assert body["organization"] == {"id": acme.pk, "name": "Acme"}
    assert body["tags"] == ["wholesale"]
    assert body["lifetime_value"] == "1234.50"
    assert body["notes"] == "Nice"
    assert (body["open_ticket_count"], body["solved_ticket_count"]) == (5, 3)
    newest_first = [t.pk for t in reversed(tickets)][:5]
    assert [t["id"] for t in body["recent_tickets"]] == newest_first
    assert body["recent_tickets"][0]["reference"] == f"HD-{tickets[-1].pk}"


def test_customer_without_tickets_has_zero_counts(agent_client, customer):
    body = agent_client.get(detail(customer)).json()
    assert (body["open_ticket_count"], body["solved_ticket_count"]) == (0, 0)
    assert body["recent_tickets"] == []
    assert body["has_login"] is True


# --- filters ----------------------------------------------------------------------------------


@pytest.fixture
def directory(db):
    """Three customers to filter: two gold, one at Acme, one tagged."""
    _standard, _silver, gold, _vip = standard_tiers()
    acme = OrganizationFactory(name="Acme")
    ann = CustomerFactory(name="Ann", email="Ann.Archer@Mail.example", tier=gold, external_id="S-1")
    bo = CustomerFactory(name="Bo", email="bo@mail.example", tier=gold, organization=acme)
    cy = CustomerFactory(name="Cy", email="cy@other.example", external_id="shop-77")
    cy.tags.set([TagFactory(name="refund-risk")])
    return {"gold": gold, "acme": acme, "ann": ann, "bo": bo, "cy": cy}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"tier": "gold"}, ["Ann", "Bo"]),
        ({"organization": "acme"}, None),  # replaced below: needs the id
        ({"tag": "refund-risk"}, ["Cy"]),
        ({"tag": "REFUND-RISK"}, ["Cy"]),
        ({"search": "mail.example"}, ["Ann", "Bo"]),
        ({"search": "shop-77"}, ["Cy"]),
        ({"search": "ann mail"}, ["Ann"]),
        ({"email": "ann.archer@mail.EXAMPLE"}, ["Ann"]),
        ({"email": "ann"}, []),
        ({"tier": "gold", "search": "bo"}, ["Bo"]),
        ({"ordering": "-name"}, ["Cy", "Bo", "Ann"]),
    ],
)
def test_agent_filters_customers(agent_client, directory, query, expected):
    if "organization" in query:
        query, expected = {"organization": directory["acme"].pk}, ["Bo"]
    response = agent_client.get(LIST, query)
    assert response.status_code == HTTPStatus.OK
    assert names(response) == expected


def test_tier_filter_takes_an_id_too(agent_client, directory):
    response = agent_client.get(LIST, {"tier": directory["gold"].pk})
    assert names(response) == ["Ann", "Bo"]


@pytest.mark.parametrize("value", ["acme", "1.5", "-1", "99999999999999999999999"])
def test_bad_organization_filter_is_a_400_naming_it(agent_client, directory, value):
    response = agent_client.get(LIST, {"organization": value})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert list(response.json()) == ["organization"]


def test_huge_customer_id_is_a_404(agent_client):
    response = agent_client.get(reverse("api:customer-detail", args=["9" * 30]))
    assert response.status_code == HTTPStatus.NOT_FOUND


def test_huge_tier_id_matches_nobody(agent_client, directory):
    response = agent_client.get(LIST, {"tier": "9" * 30})
    assert response.status_code == HTTPStatus.OK
    assert names(response) == []


# --- create -----------------------------------------------------------------------------------


def test_agent_creates_a_customer_with_new_and_existing_tags(agent_client):
    _standard, silver, _gold, _vip = standard_tiers()
    acme = OrganizationFactory(name="Acme")
    TagFactory(name="wholesale")

    response = agent_client.post(
        LIST,
        {
            "name": "  Fay   Fields ",
            "email": "fay@shop.example",
            "phone": "+33 1 23 45 67 89",
            "external_id": "shop-900",
            "organization": acme.pk,
            "tier": "silver",
            "lifetime_value": "99.90",
            "tags": ["Wholesale", "new-in-2025"],
            "notes": "Prefers email.",
        },
    )

    assert response.status_code == HTTPStatus.CREATED, response.json()
    body = response.json()
    customer = Customer.objects.get(pk=body["id"])
    assert (customer.name, customer.tier, customer.organization) == ("Fay Fields", silver, acme)
    assert customer.lifetime_value == Decimal("99.90")
    assert sorted(customer.tags.values_list("name", flat=True)) == ["new-in-2025", "wholesale"]
    assert body["tags"] == ["new-in-2025", "wholesale"]
    assert body["tier"]["slug"] == "silver"
    assert body["open_ticket_count"] == 0


def test_new_customer_without_a_tier_starts_on_the_base_tier(agent_client):
    standard_tiers()
    response = agent_client.post(LIST, {"name": "Gus", "email": "gus@shop.example"})
    assert response.status_code == HTTPStatus.CREATED
    assert response.json()["tier"]["slug"] == "standard"
    assert Customer.objects.get(email="gus@shop.example").external_id is None


def test_two_customers_without_shop_ids_are_fine(agent_client):
    standard_tiers()
    first = agent_client.post(LIST, {"name": "A", "email": "a@x.example", "external_id": ""})
    second = agent_client.post(LIST, {"name": "B", "email": "b@x.example", "external_id": None})
    assert (first.status_code, second.status_code) == (HTTPStatus.CREATED, HTTPStatus.CREATED)


@pytest.mark.parametrize(
    "email", ["carol@shop.example", "CAROL@Shop.Example", " carol@SHOP.example"]
)
def test_duplicate_email_in_any_case_is_a_400_on_email(agent_client, customer, email):
    response = agent_client.post(
        LIST, {"name": "Impostor", "email": email, "tags": ["brand-new-tag"]}
    )

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert response.json() == {"email": ["A customer with this email already exists."]}
    # Nothing half-written: no second customer, and the new tag was never made.
    assert Customer.objects.count() == 1
    assert not Tag.objects.filter(name="brand-new-tag").exists()


def test_duplicate_shop_id_is_a_400_on_external_id(agent_client, customer):
    response = agent_client.post(
        LIST, {"name": "Twin", "email": "twin@shop.example", "external_id": customer.external_id}
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert list(response.json()) == ["external_id"]
    assert not Customer.objects.filter(email="twin@shop.example").exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "nameless@x.example"}, "name"),
        ({"name": "   ", "email": "blank@x.example"}, "name"),
        ({"name": "No Email"}, "email"),
        ({"name": "Bad", "email": "not-an-email"}, "email"),
        ({"name": "Bad", "email": "b@x.example", "tier": "platinum"}, "tier"),
        ({"name": "Bad", "email": "b@x.example", "organization": 999_999}, "organization"),
        ({"name": "Bad", "email": "b@x.example", "organization": "acme"}, "organization"),
        ({"name": "Bad", "email": "b@x.example", "organization": 10**30}, "organization"),
        ({"name": "Bad", "email": "b@x.example", "lifetime_value": "-1"}, "lifetime_value"),
        ({"name": "Bad", "email": "b@x.example", "lifetime_value": "1e20"}, "lifetime_value"),
        ({"name": "Bad", "email": "b@x.example", "tags": ["no spaces"]}, "tags"),
        ({"name": "Bad", "email": "b@x.example", "tags": ["x" * 51]}, "tags"),
        ({"name": "Bad", "email": "b@x.example", "tags": "vip"}, "tags"),
        ({"name": "Bad", "email": "b@x.example", "tags": [f"t{i}" for i in range(21)]}, "tags"),
        ({"name": "Bad", "email": "b@x.example", "phone": "1" * 41}, "phone"),
        ({"name": "x" * 201, "email": "b@x.example"}, "name"),
    ],
)
def test_bad_customer_input_is_a_400_naming_the_field(agent_client, payload, field):
    standard_tiers()
    response = agent_client.post(LIST, payload)

    assert response.status_code == HTTPStatus.BAD_REQUEST
    body = response.json()
    assert field in body
    assert all(isinstance(message, str) for message in body[field])
    assert not Customer.objects.exists()
    assert not Tag.objects.exists()


def test_body_that_is_not_json_is_a_400_in_the_usual_shape(agent_client):
    response = agent_client.generic("POST", LIST, "{not json", content_type="application/json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert list(response.json()) == ["non_field_errors"]


def test_customer_without_any_tier_in_the_desk_is_a_400_on_tier(agent_client):
    response = agent_client.post(LIST, {"name": "Early", "email": "early@x.example"})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert list(response.json()) == ["tier"]


# --- change -----------------------------------------------------------------------------------


def test_agent_changes_a_customer(agent_client, customer):
    vip = standard_tiers()[3]
    customer.tags.set([TagFactory(name="old")])

    response = agent_client.patch(
        detail(customer), {"tier": "vip", "tags": ["loyal"], "phone": "555", "organization": None}
    )

    assert response.status_code == HTTPStatus.OK, response.json()
    customer.refresh_from_db()
    assert (customer.tier, customer.phone, customer.name) == (vip, "555", "Carol Customer")
    assert list(customer.tags.values_list("name", flat=True)) == ["loyal"]
    assert response.json()["tags"] == ["loyal"]


def test_changing_only_the_case_of_ones_own_email_is_fine(agent_client, customer):
    response = agent_client.patch(detail(customer), {"email": "Carol@Shop.Example"})
    assert response.status_code == HTTPStatus.OK
    customer.refresh_from_db()
    assert customer.email == "Carol@Shop.Example"


def test_taking_another_customers_email_in_other_case_is_a_400(
    agent_client, customer, other_customer
):
    response = agent_client.patch(detail(customer), {"email": "OSCAR@shop.example", "name": "X"})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert list(response.json()) == ["email"]
    customer.refresh_from_db()
    assert (customer.email, customer.name) == ("carol@shop.example", "Carol Customer")


def test_taking_another_customers_shop_id_is_a_400(agent_client, customer, other_customer):
    response = agent_client.patch(detail(customer), {"external_id": other_customer.external_id})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert list(response.json()) == ["external_id"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"tier": None}, "tier"),
        ({"tier": "platinum"}, "tier"),
        ({"email": "nope"}, "email"),
        ({"name": ""}, "name"),
        ({"lifetime_value": "abc"}, "lifetime_value"),
        ({"tags": [""]}, "tags"),
        ({"organization": 999_999}, "organization"),
    ],
)
def test_bad_change_is_a_400_and_changes_nothing(agent_client, customer, payload, field):
    before = Customer.objects.values().get(pk=customer.pk)
    response = agent_client.patch(detail(customer), {**payload, "notes": "should not stick"})

    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert field in response.json()
    assert Customer.objects.values().get(pk=customer.pk) == before


def test_customers_are_never_replaced_or_deleted_through_the_api(agent_client, customer):
    full = {"name": "X", "email": "x@x.example"}
    assert agent_client.put(detail(customer), full).status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert agent_client.delete(detail(customer)).status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert Customer.objects.filter(pk=customer.pk).exists()


# --- organizations and tiers ------------------------------------------------------------------


def test_agent_lists_organizations_with_customer_counts(agent_client):
    acme = OrganizationFactory(name="Acme")
    CustomerFactory.create_batch(2, organization=acme)
    OrganizationFactory(name="Globex")

    response = agent_client.get(reverse("api:organization-list"), {"search": "ac"})

    assert response.status_code == HTTPStatus.OK
    rows = response.json()["results"]
    assert [(row["name"], row["customer_count"]) for row in rows] == [("Acme", 2)]


def test_agent_creates_and_renames_an_organization(agent_client):
    created = agent_client.post(
        reverse("api:organization-list"), {"name": "Initech", "domain": "Initech.Example"}
    )
    assert created.status_code == HTTPStatus.CREATED
    organization = Organization.objects.get(pk=created.json()["id"])
    assert organization.domain == "initech.example"

    renamed = agent_client.patch(
        reverse("api:organization-detail", args=[organization.pk]), {"name": "Initrode"}
    )
    assert renamed.status_code == HTTPStatus.OK
    organization.refresh_from_db()
    assert organization.name == "Initrode"


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"name": "ACME"}, "name"), ({"name": ""}, "name"), ({"domain": "x"}, "name")],
)
def test_bad_organization_input_is_a_400(agent_client, payload, field):
    OrganizationFactory(name="Acme")
    response = agent_client.post(reverse("api:organization-list"), payload)
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert field in response.json()
    assert Organization.objects.count() == 1


def test_renaming_an_organization_onto_another_is_a_400(agent_client):
    OrganizationFactory(name="Acme")
    globex = OrganizationFactory(name="Globex")
    response = agent_client.patch(
        reverse("api:organization-detail", args=[globex.pk]), {"name": "acme"}
    )
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert list(response.json()) == ["name"]
    globex.refresh_from_db()
    assert globex.name == "Globex"


def test_customers_and_anonymous_cannot_use_organizations(
    customer_client, anonymous_client, customer
):
    acme = OrganizationFactory(name="Acme")
    url = reverse("api:organization-detail", args=[acme.pk])
    assert customer_client.get(url).status_code == HTTPStatus.FORBIDDEN
    assert customer_client.patch(url, {"name": "Mine"}).status_code == HTTPStatus.FORBIDDEN
    assert anonymous_client.get(url).status_code == HTTPStatus.UNAUTHORIZED
    acme.refresh_from_db()
    assert acme.name == "Acme"


def test_tiers_are_listed_lowest_rank_first(agent_client):
    standard_tiers()
    response = agent_client.get(reverse("api:tier-list"))
    assert response.status_code == HTTPStatus.OK
    assert [tier["slug"] for tier in response.json()] == ["standard", "silver", "gold", "vip"]


def test_tiers_are_read_only_and_agents_only(agent_client, customer_client):
    standard_tiers()
    url = reverse("api:tier-list")
    assert agent_client.post(url, {"name": "X"}).status_code == HTTPStatus.METHOD_NOT_ALLOWED
    assert customer_client.get(url).status_code == HTTPStatus.FORBIDDEN


# --- query counts -----------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [10, 100])
def test_customer_list_costs_fixed_queries(agent_client, django_assert_num_queries, rows):
    acme = OrganizationFactory(name="Acme")
    tags = [TagFactory(name="a"), TagFactory(name="b")]
    for customer in CustomerFactory.create_batch(rows, organization=acme):
        customer.tags.set(tags)

    # Count, page (with tier and organization), tags. (The persona's profile is already
    # loaded; a token request adds its token lookup and the profile, just as constant.)
    with django_assert_num_queries(3):
        response = agent_client.get(LIST)
    assert response.json()["count"] == rows


@pytest.mark.parametrize("tickets", [10, 100])
def test_customer_detail_costs_fixed_queries(
    agent_client, customer, django_assert_num_queries, tickets
):
    TicketFactory.create_batch(tickets, customer=customer)
    customer.tags.set([TagFactory(name="a")])

    # The customer with its counts, tags, recent tickets.
    with django_assert_num_queries(3):
        response = agent_client.get(detail(customer))
    assert response.json()["open_ticket_count"] == tickets


def test_list_filters_do_not_apply_to_a_single_record(agent_client, customer):
    response = agent_client.get(detail(customer), {"organization": "not-a-number", "tier": "vip"})
    assert response.status_code == HTTPStatus.OK
    assert response.json()["id"] == customer.pk


def test_a_page_past_the_end_is_a_404(agent_client, customer):
    response = agent_client.get(LIST, {"page": 2})
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert "detail" in response.json()


# --- responses match the published schema -----------------------------------------------------


@pytest.fixture(scope="module")
def openapi(django_db_blocker):
    with django_db_blocker.unblock():
        from django.test import Client

        return Client().get("/api/schema/", {"format": "json"}).json()


def test_customer_responses_match_the_schema(
    openapi, agent_client, customer_client, anonymous_client, customer
):
    acme = OrganizationFactory(name="Acme")
    customer.organization = acme
    customer.save()
    customer.tags.set([TagFactory(name="vip")])
    TicketFactory(customer=customer)
    standard_tiers()
    one = "/api/v1/customers/{id}/"
    org = "/api/v1/organizations/{id}/"
    org_url = reverse("api:organization-detail", args=[acme.pk])
    cases = [
        ("get", "/api/v1/customers/", agent_client.get(LIST), 200),
        ("get", "/api/v1/customers/", agent_client.get(LIST, {"organization": "x"}), 400),
        ("get", "/api/v1/customers/", agent_client.get(LIST, {"page": 9}), 404),
        ("get", "/api/v1/customers/", customer_client.get(LIST), 403),
        ("get", "/api/v1/customers/", anonymous_client.get(LIST), 401),
        ("get", one, agent_client.get(detail(customer)), 200),
        ("get", one, customer_client.get(detail(customer)), 404),
        (
            "post",
            "/api/v1/customers/",
            agent_client.post(LIST, {"name": "N", "email": "n@x.io"}),
            201,
        ),
        ("post", "/api/v1/customers/", agent_client.post(LIST, {"tags": [["x"]]}), 400),
        ("patch", one, agent_client.patch(detail(customer), {"organization": None}), 200),
        ("patch", one, agent_client.patch(detail(customer), {"email": "n@X.io"}), 400),
        ("get", "/api/v1/organizations/", agent_client.get(reverse("api:organization-list")), 200),
        (
            "post",
            "/api/v1/organizations/",
            agent_client.post(reverse("api:organization-list"), {"name": "B"}),
            201,
        ),
        ("patch", org, agent_client.patch(org_url, {"name": "B"}), 400),
        ("get", org, customer_client.get(org_url), 403),
        ("get", "/api/v1/tiers/", agent_client.get(reverse("api:tier-list")), 200),
    ]
    for method, path, response, code in cases:
        assert response.status_code == code, (method, path, response.content)
        test_schema.assert_matches(openapi, path, method, response)
