#!/usr/bin/env python3
"""Benchmark the escalation rules' time sweep and firing latency on PostgreSQL.

    .venv/bin/python bench/escalation_bench.py                  # both parts, 1,000,000 tickets
    .venv/bin/python bench/escalation_bench.py --part sweep --tickets 1000000 --due 1000
    .venv/bin/python bench/escalation_bench.py --part latency --latency-tickets 60

Part "sweep": a database (--database-url, created and migrated if missing) holding --tickets
open tickets, each with a running first-reply clock and an alarm of the time rule "75 % of the
first reply used" (raise the escalation level); --due of them are past their threshold, the
rest are hours to days away. Seeded in SQL (INSERT ... SELECT generate_series), once: a rerun
with the same counts reuses the rows and only re-arms the due alarms. Then one
`slas.rules.engine.sweep_time_rules()` in-process, timed: the candidate selection (the indexed
due_at query, with its EXPLAIN ANALYZE) and the whole sweep that fires them.

Part "latency": the production shape: `celery -A helpdesk worker --pool=solo` plus `celery -A
helpdesk beat`, Redis as broker (--redis-url), on the same database. Creates --latency-tickets
tickets whose 75 % threshold passes at known instants spread over --spread seconds (their alarms
set as a ticket change sets them), waits until every one fired, and prints the delay between
each threshold and its firing (RuleFiring.fired_at): p50, p95, max.

A measurement, not a test: it prints figures and asserts nothing but that every alarm fired.
"""

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
CELERY = str(ROOT / ".venv" / "bin" / "celery")
RULE_NAME = "Bench: 75 % of the first reply used"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hd_rules_bench"
        ),
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3")
    )
    parser.add_argument("--part", choices=["sweep", "latency", "both"], default="both")
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument("--latency-tickets", type=int, default=60)
    parser.add_argument("--spread", type=int, default=180, help="seconds the thresholds span")
    return parser.parse_args()


def ensure_database(url: str) -> None:
    import psycopg

    parts = urlparse(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        cwd=ROOT,
        check=True,
        env={**os.environ, "DATABASE_URL": url},
    )


def setup_django(url: str, redis_url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ["REDIS_URL"] = redis_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def the_rule():
    """The bench's time rule, written directly (save_rule would recompute a million alarms:
    the bench writes them in SQL instead)."""
    from slas.models import EscalationRule
    from slas.rules.validation import clean_rule_data
    from slas.services.rules import DEFAULTS

    data = clean_rule_data(
        {
            "name": RULE_NAME,
            "trigger": "time",
            "conditions": [
                {"field": "sla.percent_elapsed", "op": "gte", "value": 75, "target": "first_reply"}
            ],
            "actions": [{"type": "set_escalation_level", "level": 1}],
        },
        current=dict(DEFAULTS),
    )
    rule, _ = EscalationRule.objects.update_or_create(name=RULE_NAME, defaults=data)
    return rule


def seed(tickets: int, due: int) -> None:
    from django.db import connection
    from django.utils import timezone

    from customers.models import Customer, Tier
    from slas.models import BusinessCalendar, CalendarVersion, SlaPolicy, TicketClock
    from tickets.models import Ticket

    rule = the_rule()
    have = Ticket.objects.filter(subject__startswith="Bench ").count()
    # A seed that stopped halfway (its statements autocommit one by one) is not reused.
    if (
        have == tickets
        and TicketClock.objects.filter(ticket__subject__startswith="Bench ").count() == tickets
    ):
        print(f"Reusing {have:,} bench tickets.")
        return
    print(f"Seeding {tickets:,} open tickets with clocks and alarms (SQL)...", flush=True)
    started = time.perf_counter()
    spec = {"timezone": "UTC", "hours": {}, "holidays": [], "always_open": True}
    calendar, _ = BusinessCalendar.objects.get_or_create(
        name="Bench 24/7", defaults={"always_open": True}
    )
    CalendarVersion.objects.get_or_create(calendar=calendar, version=1, defaults={"spec": spec})
    policy, _ = SlaPolicy.objects.get_or_create(name="Bench", defaults={"calendar": calendar})
    tier, _ = Tier.objects.get_or_create(slug="standard", defaults={"name": "Standard", "rank": 0})
    customer, _ = Customer.objects.get_or_create(
        email="bench@shop.example", defaults={"name": "Bench", "tier": tier}
    )
    now = timezone.now()
    with connection.cursor() as cursor:
        # The bench database is the bench's own: wipe its tickets (and all that hangs off them:
        # clocks, alarms, firings, events) the way seed_demo --reset does.
        cursor.execute("TRUNCATE tickets_ticket CASCADE")
        cursor.execute(
            """
            INSERT INTO tickets_ticket (subject, customer_id, customer_tier_id, status,
                priority, type, channel, created_at, updated_at, escalation_level, sla_target,
                sla_state, reply_promise, search_document)
            SELECT 'Bench ' || n, %s, %s, 'open', 'normal', 'question', 'web', %s, %s, 0, '',
                '', '', 'Bench ' || n
            FROM generate_series(1, %s) AS n
            """,
            [customer.pk, customer.tier_id, now, now, tickets],
        )
        # The first `due` tickets started 50 minutes ago (75 % of 60 was at 45): due now.
        # The others started now with targets of 8 h to 5 days: their 75 % is far ahead.
        cursor.execute(
            """
            WITH bench AS (
                SELECT id, row_number() OVER (ORDER BY id) AS n FROM tickets_ticket
                WHERE subject LIKE 'Bench %%'
            )
            INSERT INTO slas_ticketclock (ticket_id, target, sequence, policy_id, policy_version,
                calendar_id, calendar_version, priority, target_minutes, started_at, due_at,
                state, business_minutes, paused_business_minutes, pauses, created_at, updated_at)
            SELECT id, 'first_reply', 1, %(policy)s, 1, %(calendar)s, 1, 'normal',
                CASE WHEN n <= %(due)s THEN 60 ELSE 480 + (n %% 6720) END,
                CASE WHEN n <= %(due)s THEN %(now)s - interval '50 minutes' ELSE %(now)s END,
                CASE WHEN n <= %(due)s THEN %(now)s + interval '10 minutes'
                     ELSE %(now)s + (480 + (n %% 6720)) * interval '1 minute' END,
                'running', 0, 0, '[]', %(now)s, %(now)s
            FROM bench
            """,
            {"policy": policy.pk, "calendar": calendar.pk, "due": due, "now": now},
        )
        cursor.execute(
            """
            INSERT INTO slas_rulealarm (rule_id, ticket_id, occasion, due_at)
            SELECT %(rule)s, c.ticket_id, 'clock:' || c.id,
                c.started_at + ceil(0.75 * c.target_minutes) * interval '1 minute'
            FROM slas_ticketclock c
            """,
            {"rule": rule.pk},
        )
        cursor.execute("ANALYZE tickets_ticket; ANALYZE slas_ticketclock; ANALYZE slas_rulealarm")
    print(f"Seeded in {time.perf_counter() - started:.1f} s.", flush=True)


def rearm(due: int) -> None:
    """Put the due alarms back (a previous run fired them) so every run sweeps `due` alarms."""
    from django.db import connection

    from tickets.models import Ticket

    rule = the_rule()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM slas_rulefiring WHERE rule_id = %s", [rule.pk])
        cursor.execute("DELETE FROM slas_rulealarm WHERE due_at <= now()")
        cursor.execute(
            """
            INSERT INTO slas_rulealarm (rule_id, ticket_id, occasion, due_at)
            SELECT %s, c.ticket_id, 'clock:' || c.id,
                c.started_at + ceil(0.75 * c.target_minutes) * interval '1 minute'
            FROM slas_ticketclock c
            WHERE c.started_at + ceil(0.75 * c.target_minutes) * interval '1 minute' <= now()
            ON CONFLICT DO NOTHING
            """,
            [rule.pk],
        )
    Ticket.objects.filter(subject__startswith="Bench ", escalation_level__gt=0).update(
        escalation_level=0
    )


def sweep_part(args: argparse.Namespace) -> None:
    from django.db import connection
    from django.utils import timezone

    from slas.models import RuleAlarm, RuleFiring
    from slas.rules.engine import SWEEP_BATCH, sweep_time_rules
    from tickets.models import Ticket

    seed(args.tickets, args.due)
    rearm(args.due)
    open_tickets = Ticket.objects.filter(status="open").count()
    alarms = RuleAlarm.objects.count()
    now = timezone.now()
    candidates = (
        RuleAlarm.objects.filter(due_at__lte=now)
        .order_by("due_at")
        .values_list("pk", "ticket_id")[:SWEEP_BATCH]
    )
    sql, params = candidates.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        plan = "\n".join("    " + row[0] for row in cursor.fetchall())
    started = time.perf_counter()
    due = len(list(candidates))
    select_ms = (time.perf_counter() - started) * 1000
    statements: list[float] = []  # seconds each SQL statement took, waiting included

    def count(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        began = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            statements.append(time.perf_counter() - began)

    from tickets import events

    sending: list[float] = []  # seconds each after-commit publication of the live events took
    send_all = events._send_all

    def timed_send_all(messages):  # type: ignore[no-untyped-def]
        began = time.perf_counter()
        try:
            send_all(messages)
        finally:
            sending.append(time.perf_counter() - began)

    events._send_all = timed_send_all
    started, cpu_started = time.perf_counter(), time.process_time()
    with connection.execute_wrapper(count):
        result = sweep_time_rules()
    events._send_all = send_all
    sweep_s = time.perf_counter() - started
    sweep_cpu = time.process_time() - cpu_started
    fired = RuleFiring.objects.filter(outcome="fired").count()
    print()
    print(f"open tickets: {open_tickets:,}; alarms: {alarms:,}; due now: {due:,}")
    print(f"candidate selection (indexed due_at, {SWEEP_BATCH} at most): {select_ms:.1f} ms")
    print(plan)
    print(
        f"one sweep: {sweep_s:.2f} s for {result.due:,} due alarms "
        f"({result.fired:,} fired, {result.failed} failed, {result.skipped} skipped); "
        f"{sweep_s / max(result.due, 1) * 1000:.2f} ms per firing"
    )
    print(
        f"  {len(statements)} SQL statements taking {sum(statements):.2f} s; live events to "
        f"Redis {sum(sending):.2f} s; this process's CPU {sweep_cpu:.2f} s; load average "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
    )
    if fired != args.due:
        sys.exit(f"fired {fired}, expected {args.due}")


def latency_part(args: argparse.Namespace) -> None:
    from django.utils import timezone

    from customers.models import Customer
    from slas import clocks
    from slas.models import BusinessCalendar, RuleFiring, SlaPolicy, TicketClock
    from slas.rules.alarms import refresh_ticket_alarms
    from slas.rules.conditions import calendar_of, pauses_of
    from tickets.models import Ticket

    rule = the_rule()
    if not Customer.objects.filter(email="bench@shop.example").exists():
        seed(0, 0)
    customer = Customer.objects.get(email="bench@shop.example")
    calendar = BusinessCalendar.objects.get(name="Bench 24/7")
    policy = SlaPolicy.objects.get(name="Bench")
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
    }
    log_dir = Path(tempfile.gettempdir())
    schedule = log_dir / "escalation-bench-beat-schedule"
    worker_log = open(log_dir / "escalation-bench-worker.log", "w")  # noqa: SIM115
    beat_log = open(log_dir / "escalation-bench-beat.log", "w")  # noqa: SIM115
    subprocess.run(
        [CELERY, "-A", "helpdesk", "purge", "-f"], cwd=ROOT, env=env, capture_output=True
    )
    worker = subprocess.Popen(
        [CELERY, "-A", "helpdesk", "worker", "--pool=solo", "--loglevel=INFO"],
        cwd=ROOT, env=env, stdout=worker_log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    beat = subprocess.Popen(
        [CELERY, "-A", "helpdesk", "beat", "--loglevel=INFO", "--schedule", str(schedule)],
        cwd=ROOT, env=env, stdout=beat_log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        time.sleep(8)  # both up and the beat's first round done
        start = timezone.now()
        thresholds = {}
        count = args.latency_tickets
        for i in range(count):
            threshold = start + timedelta(seconds=20 + args.spread * i / max(count - 1, 1))
            ticket = Ticket.objects.create(
                subject=f"Latency {i}", customer=customer, customer_tier_id=customer.tier_id,
                status="open",
            )  # fmt: skip
            clock = TicketClock.objects.create(
                ticket=ticket, target="first_reply", policy=policy, policy_version=1,
                calendar=calendar, calendar_version=1, priority="normal", target_minutes=60,
                started_at=threshold - timedelta(minutes=45),
                due_at=threshold + timedelta(minutes=15),
                state="running",
            )  # fmt: skip
            refresh_ticket_alarms(ticket=ticket, rules=[rule])
            # The threshold as the SLA arithmetic defines it (whole business minutes, counted
            # by slas.clocks), which is what "75 % used" means.
            exact = clocks.add_business_minutes(
                clock.started_at, 45, calendar_of(clock), pauses_of(clock)
            )
            thresholds[ticket.pk] = (exact, clock)
        print(
            f"\n{count} thresholds from +20 s to +{20 + args.spread} s; waiting for the firings...",
            flush=True,
        )
        deadline = time.time() + 20 + args.spread + 120
        while time.time() < deadline:
            done = RuleFiring.objects.filter(ticket_id__in=thresholds).count()
            if done == count:
                break
            time.sleep(2)
        firings = dict(
            RuleFiring.objects.filter(ticket_id__in=thresholds).values_list("ticket_id", "fired_at")
        )
    finally:
        for process in (beat, worker):
            process.send_signal(signal.SIGTERM)
        for process in (beat, worker):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
    delays = sorted(
        (firings[pk] - threshold).total_seconds()
        for pk, (threshold, _) in thresholds.items()
        if pk in firings
    )
    print(f"fired: {len(delays)} of {len(thresholds)}")
    if delays:
        p95 = delays[min(len(delays) - 1, round(0.95 * len(delays)) - 1)]
        print(
            f"threshold -> firing delay: p50 {statistics.median(delays):.1f} s, "
            f"p95 {p95:.1f} s, max {delays[-1]:.1f} s, min {delays[0]:.1f} s"
        )
    if len(delays) != len(thresholds):
        sys.exit("some alarms never fired")


def main() -> None:
    args = parse_args()
    ensure_database(args.database_url)
    setup_django(args.database_url, args.redis_url)
    if args.part in ("sweep", "both"):
        sweep_part(args)
    if args.part in ("latency", "both"):
        latency_part(args)


if __name__ == "__main__":
    main()
