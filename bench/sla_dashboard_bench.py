#!/usr/bin/env python3
"""Benchmark the manager SLA dashboard on PostgreSQL: the report selectors and the page.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/hd_dashboard_bench \\
        .venv/bin/python bench/sla_dashboard_bench.py --days 90 --requests 30

The database must hold the demo desk (`manage.py seed_demo --tickets 1000000`, whose
demo_seeded receiver writes the SLA clocks; `--seed-clocks` writes them for tickets that have
none, e.g. a desk seeded before slas.demo existed). Migrations are applied first, then the
daily rollup is refreshed for today and yesterday (as the beat does), or with --refresh for
every day of the period (timed). Then, in process (no HTTP server: this is server time):
(1) `sla_report` for the last --days whole local days (as the page asks), all teams, then
filtered by team, by agent (the busiest), by the smallest tier (VIP) and by the largest (the
base tier); (2) `breach_forecast` for 12 hours; (3) the page /slas/dashboard/ through
Django's test client as the demo manager (report + forecast + template), for each of those
filters; each repeated --requests times after warm-ups, printing p50/p95 in ms; (4) the query
count of each page; (5) EXPLAIN (ANALYZE) of the slowest query of any page, to show the
indexes it uses. Target: every page for 90 days under 500 ms.

A measurement, not a test: it asserts nothing.
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seed-clocks", action="store_true")
    parser.add_argument(
        "--refresh",
        action="store_true",
        help="refresh the daily rollup for the period's days first, and time it",
    )
    return parser.parse_args()


def timed(label: str, call, requests: int, warmup: int) -> None:
    for _ in range(warmup):
        call()
    samples, cpu = [], []
    for _ in range(requests):
        started, started_cpu = time.perf_counter(), time.process_time()
        call()
        samples.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - started_cpu) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    # CPU: this (Django) process's own time, which the machine's load does not inflate much;
    # the rest of the wall time is waiting for PostgreSQL (and for a core).
    print(f"  {label:<44} p50 {statistics.median(samples):7.1f} ms   p95 {p95:7.1f} ms"
          f"   Django CPU p50 {statistics.median(cpu):6.1f} ms   (n={requests})")  # fmt: skip


def main() -> None:
    args = parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import Team, User
    from customers.models import Tier
    from slas import reports
    from slas.models import TicketClock
    from tickets.models import Ticket

    if connection.vendor != "postgresql":
        print("Set DATABASE_URL to a PostgreSQL database.")
        sys.exit(2)
    call_command("migrate", verbosity=0)
    if args.seed_clocks:
        from slas.demo import seed_sla_demo

        seed_sla_demo(rng=random.Random("bench"), log=print)
    from slas.services.rollup import day_bounds, recent_days, refresh_sla_rollup

    # Whole local days, as the page and the API ask: the last --days days including today.
    today = recent_days(count=1)[0]
    days = [today - timedelta(days=n) for n in range(args.days - 1, -1, -1)]
    start, end = day_bounds(days[0])[0], day_bounds(today)[1]
    if args.refresh:
        started, cpu = time.perf_counter(), time.process_time()
        refresh_sla_rollup(days=days)
        print(f"Rollup refresh of {len(days)} days: {time.perf_counter() - started:.1f} s wall "
              f"({(time.perf_counter() - started) / len(days):.2f} s a day; this process's CPU "
              f"{time.process_time() - cpu:.1f} s, the rest is PostgreSQL).")  # fmt: skip
    else:
        # Today and yesterday, as the beat does every 5 minutes.
        refresh_sla_rollup(days=recent_days(count=2))
    print(f"PostgreSQL {connection.pg_version}: {Ticket.objects.count():,} tickets, "
          f"{TicketClock.objects.count():,} clocks; period {args.days} days.")  # fmt: skip
    team = Team.objects.order_by("pk").first()
    # The agent with the most tickets; the smallest tier (VIP, ~4% of tickets) and the largest
    # (the base tier, ~60%): a tier filter must be fast at both ends.
    agent = User.objects.get(
        pk=Ticket.objects.filter(assignee__isnull=False).values("assignee")
        .annotate(n=Count("id")).order_by("-n").values("assignee")[:1]
    )  # fmt: skip
    vip, base = Tier.objects.order_by("rank").last(), Tier.objects.order_by("rank").first()
    variants = [
        ("all teams", {}),
        (f"team {team.name}", {"team": team}),
        (f"agent {agent.username}", {"agent": agent}),
        (f"tier {vip.name}", {"tier": vip}),
        (f"tier {base.name}", {"tier": base}),
    ]

    print("Report selectors:")
    for label, scope in variants:
        timed(f"sla_report, {label}",
              lambda scope=scope: reports.sla_report(start=start, end=end, **scope),
              args.requests, args.warmup)  # fmt: skip
    timed("breach_forecast, 12 hours", lambda: reports.breach_forecast(hours=12),
          args.requests, args.warmup)  # fmt: skip

    print("The page /slas/dashboard/ (report + forecast + template):")
    client = Client()
    client.force_login(User.objects.get(username="manager"))
    first = days[0].isoformat()
    slowest: list[tuple[float, str, str]] = []
    for label, scope in variants:
        url = f"/slas/dashboard/?start={first}" + "".join(
            f"&{name}={row.pk}" for name, row in scope.items()
        )

        def page(url: str = url) -> None:
            response = client.get(url)
            if response.status_code != 200:
                raise SystemExit(f"{url}: {response.status_code}")

        timed(f"page, {label}", page, args.requests, args.warmup)
        with CaptureQueriesContext(connection) as captured:
            page()
        heaviest = max(captured.captured_queries, key=lambda q: float(q["time"]))
        slowest.append((float(heaviest["time"]), label, heaviest["sql"]))
        took = float(heaviest["time"]) * 1000
        print(f"    {url}: {len(captured)} queries, slowest {took:.0f} ms")

    seconds, label, sql = max(slowest)
    print(f"EXPLAIN ANALYZE of the slowest query of any page ({label}, {seconds * 1000:.0f} ms):")
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        for (line,) in cursor.fetchall():
            print("   ", line)


if __name__ == "__main__":
    main()
