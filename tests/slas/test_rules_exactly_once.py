"""Exactly once, on PostgreSQL, with real processes: two sweepers racing over the same due
alarms fire every one exactly once, and a sweeper killed mid-sweep (SIGKILL) loses nothing:
the next sweep fires what is left, and nothing twice."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from slas.models import RuleAlarm, RuleFiring
from slas.services import save_rule
from tests.factories import TicketFactory
from tests.slas import rules_world
from tickets.models import EventKind, Message, TicketEvent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

TICKETS = 60
ROOT = Path(settings.BASE_DIR)


def sweeper(*args: str) -> subprocess.Popen:
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(  # noqa: S603 - our own module, our own interpreter
        [sys.executable, "-m", "tests.slas.sweeper", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture
def due_world(manager):
    """TICKETS open tickets whose 75 % first-reply warning is already due."""
    started = timezone.now() - timedelta(minutes=50)
    tickets = [TicketFactory(status="open") for _ in range(TICKETS)]
    for ticket in tickets:
        rules_world.clock(ticket, minutes=60, started_at=started)
    rule = save_rule(
        actor=manager,
        rule=None,
        data={
            "name": "Warn at 75 %",
            "trigger": "time",
            "conditions": [{"field": "sla.percent_elapsed", "op": "gte", "value": 75}],
            "actions": [{"type": "add_note", "body": "75 % used"}],
        },
    )
    assert RuleAlarm.objects.filter(due_at__lte=timezone.now()).count() == TICKETS
    return rule, tickets


def fired_in(output: str) -> int:
    """How many firings a sweeper's lines report ("swept SweepResult(due=3, fired=2, ...)")."""
    return sum(
        int(line.split("fired=")[1].split(",")[0])
        for line in output.splitlines()
        if "fired=" in line
    )


def assert_each_fired_once(rule, tickets) -> None:
    firings = Counter(RuleFiring.objects.filter(rule=rule).values_list("ticket_id", flat=True))
    assert firings == Counter({ticket.pk: 1 for ticket in tickets})
    events = Counter(
        TicketEvent.objects.filter(kind=EventKind.RULE_FIRED).values_list("ticket_id", flat=True)
    )
    assert events == firings
    notes = Counter(Message.objects.filter(is_internal=True).values_list("ticket_id", flat=True))
    assert notes == firings
    assert not RuleAlarm.objects.exists()


def test_two_sweeping_processes_never_double_fire(due_world):
    rule, tickets = due_world
    start_at = time.time() + 3  # both start sweeping at the same instant
    first = sweeper("--slow", "0.01", "--start-at", str(start_at))
    second = sweeper("--slow", "0.01", "--start-at", str(start_at))
    outputs = [process.communicate(timeout=120) for process in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outputs
    # Both really swept (each found due alarms), and between them fired each ticket once.
    fired_by = [fired_in(out) for out, _ in outputs]
    assert sum(fired_by) == TICKETS
    assert all(count > 0 for count in fired_by), outputs
    assert_each_fired_once(rule, tickets)


def test_a_sweeper_killed_mid_sweep_loses_nothing(due_world):
    rule, tickets = due_world
    doomed = sweeper("--slow", "0.1")
    deadline = time.time() + 60
    while RuleFiring.objects.count() < 5 and time.time() < deadline:
        time.sleep(0.05)
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.communicate(timeout=30)
    fired = RuleFiring.objects.count()
    assert 5 <= fired < TICKETS
    # Nothing lost: every ticket has either its firing or its alarm, never both.
    with_firing = set(RuleFiring.objects.values_list("ticket_id", flat=True))
    with_alarm = set(RuleAlarm.objects.values_list("ticket_id", flat=True))
    assert with_firing | with_alarm == {ticket.pk for ticket in tickets}
    assert not with_firing & with_alarm
    # The killed transaction left nothing half-done: as many notes as firings.
    assert Message.objects.filter(is_internal=True).count() == fired
    survivor = sweeper()
    _, err = survivor.communicate(timeout=120)
    assert survivor.returncode == 0, err
    assert_each_fired_once(rule, tickets)
