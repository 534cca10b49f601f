"""Customer pages: the directory with search, one customer with editable notes; agents only."""

from http import HTTPStatus

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import CustomerFactory, TagFactory

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def web(agent) -> Client:
    return signed_in(agent)


def test_directory_lists_and_searches(web, customer, other_customer):
    everyone = web.get(reverse("customers:directory")).content.decode()
    found = web.get(reverse("customers:directory"), {"q": "carol"}).content.decode()

    assert "Carol Customer" in everyone
    assert "Oscar Other" in everyone
    assert "Carol Customer" in found
    assert "Oscar Other" not in found


def test_search_text_is_escaped_and_an_empty_result_says_so(web):
    html = web.get(reverse("customers:directory"), {"q": "<script>x</script>"}).content.decode()
    assert "<script>x</script>" not in html
    assert "No customer matches" in html


def test_directory_pages_by_keyset(web):
    CustomerFactory.create_batch(55)
    first = web.get(reverse("customers:directory"))
    link = first.content.decode().split('class="btn" href="')[1].split('"')[0].replace("&amp;", "&")

    second = web.get(reverse("customers:directory") + link)

    assert second.status_code == HTTPStatus.OK
    assert len(first.context["customers"]) == 50
    assert len(second.context["customers"]) == 5
    assert not {c.pk for c in first.context["customers"]} & {
        c.pk for c in second.context["customers"]
    }


def test_a_forged_page_link_is_a_message_not_a_500(web, customer):
    response = web.get(reverse("customers:directory"), {"after_name": "x", "after_id": "nope"})
    assert response.status_code == HTTPStatus.OK
    assert "That page link is broken" in response.content.decode()


@pytest.mark.parametrize("rows", [10, 60])
def test_directory_costs_fixed_queries(web, django_assert_num_queries, rows):
    for customer in CustomerFactory.create_batch(rows):
        customer.tags.add(TagFactory())
    web.get(reverse("customers:directory"))
    with django_assert_num_queries(7):
        web.get(reverse("customers:directory"))


def test_customer_page_and_notes(web, customer):
    page = web.get(reverse("customers:customer", args=[customer.pk]))
    saved = web.post(reverse("customers:notes", args=[customer.pk]), {"notes": "Prefers email."})

    assert page.status_code == saved.status_code == HTTPStatus.OK
    assert f"/customers/{customer.pk}/tickets/" in page.content.decode()
    assert "Saved." in saved.content.decode()
    customer.refresh_from_db()
    assert customer.notes == "Prefers email."


def test_too_long_notes_are_a_form_error(web, customer):
    response = web.post(reverse("customers:notes", args=[customer.pk]), {"notes": "x" * 10_001})
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert 'id="notes-error"' in response.content.decode()


@pytest.mark.parametrize("count", [2, 30])
def test_customer_page_costs_fixed_queries(web, customer, django_assert_num_queries, count):
    for _ in range(count):
        customer.tags.add(TagFactory())
    url = reverse("customers:customer", args=[customer.pk])
    web.get(url)
    with django_assert_num_queries(7):
        web.get(url)


def test_a_missing_customer_is_a_404(web):
    assert web.get(reverse("customers:customer", args=[999])).status_code == HTTPStatus.NOT_FOUND


@pytest.mark.parametrize(
    ("name", "method", "args"),
    [
        ("customers:directory", "get", []),
        ("customers:customer", "get", ["pk"]),
        ("customers:notes", "post", ["pk"]),
    ],
)
def test_customers_get_403_and_strangers_sign_in(customer, name, method, args):
    path = reverse(name, args=[customer.pk] if args else [])
    as_customer = getattr(signed_in(customer.user), method)(path)
    as_stranger = getattr(Client(), method)(path)

    assert as_customer.status_code == HTTPStatus.FORBIDDEN
    assert as_stranger.status_code == HTTPStatus.FOUND
    customer.refresh_from_db()
    assert customer.notes == ""


def test_notes_refuse_get(web, customer):
    response = web.get(reverse("customers:notes", args=[customer.pk]))
    assert response.status_code == HTTPStatus.METHOD_NOT_ALLOWED
