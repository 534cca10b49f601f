"""Calendars, policies and a customer in a tier, built through the real services, for the SLA
tests (imported by each test module; fixtures named like the conftest's personas)."""

from datetime import UTC, datetime

import pytest

from customers.models import Tier
from slas.services import save_calendar, save_policy
from tests.factories import CustomerFactory, standard_tiers

# A Monday morning, 09:00 UTC.
MONDAY_9 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

OFFICE_HOURS = {
    day: [["09:00", "12:00"], ["13:00", "17:00"]] for day in ("mon", "tue", "wed", "thu", "fri")
}


def targets(first: int | None = 60, nxt: int | None = 120, resolution: int | None = 480):
    row = {
        "first_reply_minutes": first,
        "next_reply_minutes": nxt,
        "resolution_minutes": resolution,
    }
    return {priority: dict(row) for priority in ("low", "normal", "high", "urgent")}


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
