"""Calendars, policies and a customer in a tier for the SLA tests, built through the real
services."""

import pytest

from customers.models import Tier
from slas.services import save_calendar, save_policy
from tests.factories import CustomerFactory, standard_tiers
from tests.slas.sla_helpers import OFFICE_HOURS, targets


@pytest.fixture
def tiers(db) -> dict[str, Tier]:
    return {tier.slug: tier for tier in standard_tiers()}


@pytest.fixture
def always_open(manager):
    return save_calendar(actor=manager, calendar=None, data={"name": "24/7", "always_open": True})


@pytest.fixture
def office(manager):
    return save_calendar(
        actor=manager,
        calendar=None,
        data={"name": "Office", "timezone": "UTC", "hours": OFFICE_HOURS},
    )


@pytest.fixture
def default_policy(manager, always_open):
    return save_policy(
        actor=manager,
        policy=None,
        data={
            "name": "Standard support",
            "is_default": True,
            "calendar": always_open,
            "targets": targets(),
        },
    )


@pytest.fixture
def gold_policy(manager, always_open, default_policy, tiers):
    return save_policy(
        actor=manager,
        policy=None,
        data={
            "name": "Gold",
            "position": 1,
            "conditions": {"tiers": ["gold"]},
            "calendar": always_open,
            "targets": targets(first=15, nxt=30, resolution=240),
        },
    )


@pytest.fixture
def gold_customer(tiers):
    return CustomerFactory(with_login=True, tier=tiers["gold"], email="goldie@shop.example")
