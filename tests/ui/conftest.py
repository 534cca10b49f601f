"""Browser-like clients (Django's test client with a session) for the page views."""

import pytest
from django.test import Client


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def page_anonymous() -> Client:
    return Client()


@pytest.fixture
def page_agent(agent) -> Client:
    return _signed_in(agent)


@pytest.fixture
def page_manager(manager) -> Client:
    return _signed_in(manager)


@pytest.fixture
def page_customer(customer) -> Client:
    return _signed_in(customer.user)
