"""The per-process cache of active policies and escalation rules (slas.services.settings_cache):
a ticket change reads no policy or rule while they are unchanged, and never uses one older than
the last save, whether this process or another one made it."""

import uuid
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from slas.models import PolicyTarget, RuleFiring, SettingsStamp, SlaPolicy, TicketClock
from slas.services import save_calendar, save_policy, save_rule
from tests.slas import rules_world
from tests.slas.sla_helpers import MONDAY_9, OFFICE_HOURS, targets
from tickets.services import open_ticket, post_message

pytestmark = pytest.mark.django_db

SETTINGS_TABLES = ("slas_slapolicy", "slas_policytarget", "slas_escalationrule")


def at(minutes: float):
    return time_machine.travel(MONDAY_9 + timedelta(minutes=minutes), tick=False)


def settings_reads(queries) -> list[str]:
    return [
        query["sql"]
        for query in queries.captured_queries
        if query["sql"].startswith("SELECT")
        and any(f'FROM "{table}"' in query["sql"] for table in SETTINGS_TABLES)
    ]


def first_reply_minutes(customer) -> int:
    ticket = open_ticket(customer=customer, subject="Help", body="Please", actor=None)
    return TicketClock.objects.get(ticket=ticket, target="first_reply").target_minutes


def test_unchanged_settings_are_read_once_per_process(default_policy, customer, agent):
    first_reply_minutes(customer)  # loads the cache
    with CaptureQueriesContext(connection) as opening:
        ticket = open_ticket(customer=customer, subject="Help", body="Please", actor=None)
    with CaptureQueriesContext(connection) as message:
        post_message(ticket=ticket, author=customer.user, body="More detail")
    assert settings_reads(opening) == []
    assert settings_reads(message) == []


def test_a_saved_policy_applies_to_the_next_clock(manager, default_policy, customer):
    assert first_reply_minutes(customer) == 60
    save_policy(actor=manager, policy=default_policy, data={"targets": targets(first=5)})
    assert first_reply_minutes(customer) == 5


def test_a_policy_changed_by_another_process_applies_once_its_stamp_is_seen(
    default_policy, customer
):
    assert first_reply_minutes(customer) == 60
    # Another process's save: its rows, and the stamp its transaction moved. This process's
    # cache was not told anything.
    PolicyTarget.objects.filter(policy=default_policy).update(first_reply_minutes=7)
    SettingsStamp.objects.filter(pk=1).update(stamp=uuid.uuid4())
    assert first_reply_minutes(customer) == 7


def test_a_new_policy_and_an_archived_one_apply_at_once(manager, default_policy, gold_customer):
    assert first_reply_minutes(gold_customer) == 60
    gold = save_policy(
        actor=manager,
        policy=None,
        data={
            "name": "Gold",
            "position": 1,
            "conditions": {"tiers": ["gold"]},
            "calendar": default_policy.calendar,
            "targets": targets(first=15),
        },
    )
    assert first_reply_minutes(gold_customer) == 15
    save_policy(actor=manager, policy=gold, data={"is_active": False})
    assert first_reply_minutes(gold_customer) == 60
    assert SlaPolicy.objects.filter(is_active=True).count() == 1


def test_a_saved_calendar_counts_the_next_clock_in_its_new_version(manager, customer):
    office = save_calendar(
        actor=manager,
        calendar=None,
        data={"name": "Office", "timezone": "UTC", "hours": OFFICE_HOURS},
    )
    save_policy(
        actor=manager,
        policy=None,
        data={"name": "Standard", "is_default": True, "calendar": office, "targets": targets()},
    )
    with at(0):
        before = open_ticket(customer=customer, subject="One", body="Hi", actor=None)
    evenings = {day: [["09:00", "20:00"]] for day in OFFICE_HOURS}
    save_calendar(actor=manager, calendar=office, data={"hours": evenings})
    with at(0):
        after = open_ticket(customer=customer, subject="Two", body="Hi", actor=None)

    versions = [
        TicketClock.objects.get(ticket=ticket, target="resolution").calendar_version
        for ticket in (before, after)
    ]
    assert versions == [1, 2]


def test_a_new_rule_fires_on_the_next_change_and_an_archived_one_stops(
    manager, default_policy, customer
):
    ticket = open_ticket(customer=customer, subject="Help", body="Please", actor=None)
    post_message(ticket=ticket, author=customer.user, body="Hello?")  # rules cached: none
    rule = rules_world.rule(manager, name="Note every change")

    post_message(ticket=ticket, author=customer.user, body="Anyone?")
    assert RuleFiring.objects.filter(rule=rule).count() == 1

    save_rule(actor=manager, rule=rule, data={"is_active": False})
    post_message(ticket=ticket, author=customer.user, body="Still here")
    assert RuleFiring.objects.filter(rule=rule).count() == 1
