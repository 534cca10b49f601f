"""Password guessing: every door that checks a password shares one lockout (django-axes), per
username and per client address, with a cool-off. Through the real URLs of each door.

A locked-out try must tell a guesser nothing: the same status and page (or JSON) as a wrong
password for an unknown user. A successful sign-in forgets that user's failures.
"""

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from http import HTTPStatus

import pytest
import time_machine
from django.contrib.auth import authenticate
from django.test import Client, RequestFactory
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.factories import DEFAULT_PASSWORD
from tests.factories import UserFactory
from tests.live_server import live_server

pytestmark = pytest.mark.django_db

LIMIT = 3
HOME, ELSEWHERE, THIRD, FOURTH = "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    signed_in: bool


@dataclass(frozen=True)
class Door:
    name: str
    url: str
    success_status: int

    def try_password(self, username: str, password: str, address: str) -> Answer:
        credentials = {"username": username, "password": password}
        if self.name == "token":
            response = APIClient().post(self.url, credentials, format="json", REMOTE_ADDR=address)
        else:
            response = Client().post(self.url, credentials, REMOTE_ADDR=address)
        body = response.content.decode()
        # What differs between any two renders of the same page: the masked CSRF token
        # (64 characters, wherever the page carries it), and the username the form echoes.
        body = re.sub(r"\b[A-Za-z0-9]{64}\b", "<csrf token>", body)
        body = body.replace(username, "<username>")
        return Answer(response.status_code, body, response.status_code == self.success_status)


DOORS = [
    Door("admin", "/admin/login/?next=/admin/", HTTPStatus.FOUND),
    Door("api-login", "/api-auth/login/", HTTPStatus.FOUND),
    Door("token", "/api/v1/auth/token/", HTTPStatus.OK),
    Door("agent-ui", "/", HTTPStatus.FOUND),
]


@pytest.fixture(params=DOORS, ids=lambda door: door.name)
def door(request, settings) -> Door:
    settings.AXES_FAILURE_LIMIT = LIMIT
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    return request.param


@pytest.fixture
def staff(db):
    # Staff, so that the admin's door would let them in too.
    return UserFactory(username="alice", is_staff=True, is_superuser=True)


def fail(door: Door, times: int, username: str = "alice", address: str = HOME) -> None:
    for _ in range(times):
        assert not door.try_password(username, "wrong", address).signed_in


def test_the_right_password_signs_in_through_every_door(door, staff):
    assert door.try_password("alice", DEFAULT_PASSWORD, HOME).signed_in


def test_a_locked_out_try_looks_like_a_wrong_password_for_an_unknown_user(door, staff):
    fail(door, LIMIT)

    locked_out = door.try_password("alice", DEFAULT_PASSWORD, HOME)
    unknown_user = door.try_password("nobody", "wrong", FOURTH)

    assert not locked_out.signed_in
    assert (locked_out.status, locked_out.body) == (unknown_user.status, unknown_user.body)
    assert locked_out.status in {HTTPStatus.OK, HTTPStatus.BAD_REQUEST}  # not a 403 or 429
    assert not Token.objects.exists()


def test_the_lockout_ends_after_the_cool_off(door, staff):
    fail(door, LIMIT)
    assert not door.try_password("alice", DEFAULT_PASSWORD, HOME).signed_in

    with time_machine.travel(timezone.now() + timedelta(minutes=14), tick=False):
        assert not door.try_password("alice", DEFAULT_PASSWORD, HOME).signed_in
    # The try at minute 14 was a failure too: the cool-off counts from the last one.
    with time_machine.travel(timezone.now() + timedelta(minutes=14 + 16), tick=False):
        assert door.try_password("alice", DEFAULT_PASSWORD, HOME).signed_in


def test_signing_in_forgets_the_users_failures(door, staff):
    fail(door, LIMIT - 1)
    assert door.try_password("alice", DEFAULT_PASSWORD, HOME).signed_in

    fail(door, LIMIT - 1)  # would make 2 * (LIMIT - 1) >= LIMIT without the reset
    assert door.try_password("alice", DEFAULT_PASSWORD, HOME).signed_in


def test_a_username_is_locked_from_every_address_and_no_other_username_is(door, staff):
    UserFactory(username="bob", is_staff=True, is_superuser=True)
    for address in (HOME, ELSEWHERE, THIRD):  # one failure from each: no address reaches it
        fail(door, 1, address=address)

    assert not door.try_password("alice", DEFAULT_PASSWORD, FOURTH).signed_in
    assert door.try_password("bob", DEFAULT_PASSWORD, HOME).signed_in


def test_an_address_is_locked_for_every_username_and_no_other_address_is(door, staff):
    for n in range(LIMIT):  # a different (unknown) username each time: no username reaches it
        fail(door, 1, username=f"guess{n}", address=HOME)

    assert not door.try_password("alice", DEFAULT_PASSWORD, HOME).signed_in
    assert door.try_password("alice", DEFAULT_PASSWORD, ELSEWHERE).signed_in


def test_signing_in_does_not_forget_other_usernames_failures_from_that_address(door, staff):
    # Otherwise one valid account would let its holder guess at everyone else's without end.
    UserFactory(username="victim", is_staff=True, is_superuser=True)
    fail(door, LIMIT - 1, username="victim")
    assert door.try_password("alice", DEFAULT_PASSWORD, HOME).signed_in

    fail(door, 1, username="victim", address=ELSEWHERE)
    assert not door.try_password("victim", DEFAULT_PASSWORD, FOURTH).signed_in


def test_any_door_that_calls_authenticate_with_its_request_shares_the_policy(settings, staff):
    # The agent UI's sign-in page (Django's LoginView at /) will be such a door: the policy
    # lives in authenticate() itself, not in the three doors above.
    settings.AXES_FAILURE_LIMIT = LIMIT
    door = RequestFactory()

    def sign_in(password: str) -> object:
        return authenticate(door.post("/", REMOTE_ADDR=HOME), username="alice", password=password)

    for _ in range(LIMIT):
        assert sign_in("wrong") is None
    assert sign_in(DEFAULT_PASSWORD) is None


def test_a_sign_in_without_a_request_is_not_a_door(staff):
    # Django's test client's login() passes no request: it still works, and counts nothing.
    assert Client().login(username="alice", password="wrong") is False
    assert Client().login(username="alice", password=DEFAULT_PASSWORD) is True


@pytest.mark.django_db(transaction=True)
def test_the_lockout_holds_over_a_real_server(tmp_path, monkeypatch, staff):
    # Under ASGI (uvicorn), where the request and the middleware chain are the async kind.
    monkeypatch.setenv("AUTH_LOCKOUT_FAILURES", str(LIMIT))
    with live_server(tmp_path) as server:

        def token(password: str) -> tuple[int, bytes]:
            request = urllib.request.Request(  # noqa: S310 - our own server
                f"{server.url}/api/v1/auth/token/",
                data=json.dumps({"username": "alice", "password": password}).encode(),
                headers={"Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                    return response.status, response.read()
            except urllib.error.HTTPError as error:
                return error.code, error.read()

        wrong = [token("wrong") for _ in range(LIMIT)]
        locked_out = token(DEFAULT_PASSWORD)

    assert locked_out == wrong[0]
    assert locked_out[0] == HTTPStatus.BAD_REQUEST
    assert not Token.objects.exists()
