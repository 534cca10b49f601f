"""The client's address: the socket's, unless the deployment declares its proxies. DRF's
throttles and the sign-in lockout read it the same way (core.net.client_address)."""

from http import HTTPStatus

import pytest
from axes.models import AccessAttempt
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from accounts.factories import DEFAULT_PASSWORD
from core.net import client_address

pytestmark = pytest.mark.django_db

TOKEN = "/api/v1/auth/token/"
MADE_UP = [f"203.0.113.{n}" for n in range(1, 31)]  # 30 addresses a client wrote itself


def guess_token(forwarded_for: str, username: str) -> int:
    response = APIClient().post(
        TOKEN,
        {"username": username, "password": "wrong"},
        format="json",
        REMOTE_ADDR="198.51.100.7",
        HTTP_X_FORWARDED_FOR=forwarded_for,
    )
    return response.status_code


def page_sign_in(forwarded_for: str, username: str, password: str) -> bool:
    response = Client().post(
        "/api-auth/login/",
        {"username": username, "password": password},
        REMOTE_ADDR="198.51.100.7",
        HTTP_X_FORWARDED_FOR=forwarded_for,
    )
    return response.status_code == HTTPStatus.FOUND


def test_made_up_forwarded_addresses_are_one_client_without_declared_proxies(settings, agent):
    settings.NUM_PROXIES = 0

    answers = [guess_token(made_up, f"guess{n}") for n, made_up in enumerate(MADE_UP)]

    assert answers == [HTTPStatus.BAD_REQUEST] * 10 + [HTTPStatus.TOO_MANY_REQUESTS] * 20
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"198.51.100.7"}
    # ...and the lockout counted them against the one socket address, whatever it was told.
    assert not page_sign_in("192.0.2.99", "alice", DEFAULT_PASSWORD)


def test_behind_one_declared_proxy_the_forwarded_address_is_the_client(settings, agent):
    settings.NUM_PROXIES = 1

    answers = [guess_token(made_up, f"guess{n}") for n, made_up in enumerate(MADE_UP)]

    assert answers == [HTTPStatus.BAD_REQUEST] * 30  # 30 clients, one guess each
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == set(MADE_UP)
    assert page_sign_in("192.0.2.99", "alice", DEFAULT_PASSWORD)


@pytest.mark.parametrize(
    ("proxies", "forwarded_for", "expected"),
    [
        (0, None, "198.51.100.7"),
        (0, "203.0.113.1", "198.51.100.7"),
        (1, None, "198.51.100.7"),
        (1, "203.0.113.1", "203.0.113.1"),
        (1, "6.6.6.6, 203.0.113.1", "203.0.113.1"),  # the client wrote the left one
        (2, "6.6.6.6, 203.0.113.1, 10.0.0.5", "203.0.113.1"),
        (2, "203.0.113.1", "203.0.113.1"),  # fewer hops than proxies: the leftmost
        (1, "not-an-address", "198.51.100.7"),
        (1, "2001:db8::1", "2001:db8::1"),
    ],
)
def test_client_address(settings, proxies, forwarded_for, expected):
    settings.NUM_PROXIES = proxies
    headers = {"REMOTE_ADDR": "198.51.100.7"}
    if forwarded_for is not None:
        headers["HTTP_X_FORWARDED_FOR"] = forwarded_for
    assert client_address(RequestFactory().get("/", **headers)) == expected
