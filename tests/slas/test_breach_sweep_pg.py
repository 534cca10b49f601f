"""Two sweeps at once on PostgreSQL (each in its own thread and connection): every due clock
is marked once, with exactly one timeline event, whoever gets there first."""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection

from slas.models import ClockState, TicketClock
from slas.services import breach_due_clocks, save_calendar, save_policy
from tests.factories import CustomerFactory
from tests.slas.sla_helpers import MONDAY_9, targets
from tickets.models import EventKind, TicketEvent
from tickets.services import open_ticket

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

TICKETS = 40


def test_two_concurrent_sweeps_mark_each_breach_once(manager, agent):
    calendar = save_calendar(
        actor=manager, calendar=None, data={"name": "24/7", "always_open": True}
    )
    save_policy(
        actor=manager,
        policy=None,
        data={"name": "Std", "is_default": True, "calendar": calendar, "targets": targets()},
    )
    with time_machine.travel(MONDAY_9, tick=False):
        for _ in range(TICKETS):
            open_ticket(customer=CustomerFactory(), subject="s", body="b", actor=agent)
    later = MONDAY_9 + timedelta(minutes=61)  # every first reply (60 min) is overdue
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            start.wait()
            breach_due_clocks(now=later)
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    breach_due_clocks(now=later)  # whatever a sweep skipped (locked) is caught by the next

    assert errors == []
    breached = TicketClock.objects.filter(target="first_reply", state=ClockState.BREACHED)
    assert breached.count() == TICKETS
    events = TicketEvent.objects.filter(kind=EventKind.SLA_BREACHED)
    assert events.count() == TICKETS
    assert events.values("ticket").distinct().count() == TICKETS
