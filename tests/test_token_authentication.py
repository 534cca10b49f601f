"""Token sign-in loads who the user is (agent profile, customer record) in its one query."""

from http import HTTPStatus

import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories import TicketFactory


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


@pytest.mark.parametrize("persona", ["agent", "customer"])
def test_the_token_query_is_the_only_query_about_who_is_asking(
    request, django_assert_num_queries, persona, customer
):
    person = request.getfixturevalue(persona)
    user = person if persona == "agent" else person.user
    TicketFactory.create_batch(3, customer=customer)
    client = token_client(user)

    # One for the token (with user, agent profile and customer), then the page (and, for an
    # agent, its tags). Before, "agent or customer?" cost one more query per request.
    with django_assert_num_queries(3 if persona == "agent" else 2):
        response = client.get(reverse("api:ticket-list"))

    assert response.status_code == HTTPStatus.OK
    assert len(response.json()["results"]) == 3


def test_a_deactivated_users_token_is_refused(agent):
    client = token_client(agent)
    agent.is_active = False
    agent.save(update_fields=["is_active"])

    response = client.get(reverse("api:ticket-list"))

    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response.json() == {"detail": "User inactive or deleted."}
