#!/usr/bin/env python3
"""Benchmark the tickets API over a real ASGI server, the way production runs it.

    .venv/bin/python bench/api_bench.py --tickets 100000
    .venv/bin/python bench/api_bench.py --tickets 1000000 --requests 2000 --explain

Steps: (1) create the PostgreSQL database named by --database-url if it is missing, migrate
it and, when --tickets is given and the database holds a different number of tickets, seed
exactly that many with `seed_demo --reset` (timed); (2) give one open ticket a 20-message
conversation through `tickets.services.post_message`; (3) start uvicorn with --workers on
127.0.0.1 under production settings (DEBUG=0, SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL,
REDIS_URL, the user throttle raised); (4) sign in through POST /api/v1/auth/token/; (5) run
each scenario with concurrent keep-alive clients and print p50/p95/p99 latency and requests
per second; (6) print the SQL queries each request costs, counted in-process with Django's
test client against the same database, for several inputs per scenario (they must not grow
with the data). --explain also prints EXPLAIN ANALYZE of each scenario's slowest query.

This is a measurement, not a test: it asserts nothing except that responses are 200.
"""

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
UVICORN = str(ROOT / ".venv" / "bin" / "uvicorn")
DEMO_USER, DEMO_PASSWORD = "agent", "helpdesk-demo"
SEARCH_WORDS = ["refund", "damaged", "tracking number", "discount code", "declined"]
TEAM = "Orders & Shipping"
LONG_CONVERSATION = 20


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/helpdesk_bench"
        ),
        help="A PostgreSQL database of its own: it is created if missing and may be reset.",
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    )
    parser.add_argument("--tickets", type=int, help="Seed exactly this many tickets first.")
    parser.add_argument("--reseed", action="store_true", help="Seed even if the count matches.")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes.")
    parser.add_argument("--port", type=int, default=8799)
    parser.add_argument(
        "--concurrency",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[1, 4],
        help="Concurrent clients; a comma-separated list runs each scenario at each (1,4).",
    )
    parser.add_argument("--requests", type=int, default=1000, help="Requests per scenario.")
    parser.add_argument("--max-seconds", type=float, default=60, help="Time cap per scenario.")
    parser.add_argument("--warmup", type=int, default=50, help="Unmeasured requests first.")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the queries.")
    return parser.parse_args()


def server_env(args: argparse.Namespace, var_dir: str) -> dict[str, str]:
    """Production-style settings: only the environment differs from a developer's machine."""
    return {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "API_THROTTLE_USER": "1000000/minute",
        "HELPDESK_VAR_DIR": var_dir,
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "helpdesk.settings"),
    }


def ensure_database(url: str) -> None:
    import psycopg

    parts = urlparse(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"Created database {name}.")


def manage(env: dict[str, str], *arguments: str) -> None:
    subprocess.run([PYTHON, "manage.py", *arguments], cwd=ROOT, env=env, check=True)


def setup_django(env: dict[str, str]) -> None:
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def ticket_count() -> int:
    from tickets.models import Ticket

    return Ticket.objects.count()


def long_conversation_ticket() -> int:
    """A ticket with exactly 20 messages, written through the services like any reply."""
    from django.db.models import Count

    from accounts.models import User
    from tickets.models import Status, Ticket
    from tickets.services import post_message

    tickets = Ticket.objects.annotate(n=Count("messages"))
    ready = tickets.filter(n=LONG_CONVERSATION).values_list("pk", flat=True).first()
    if ready is not None:
        return ready
    ticket = Ticket.objects.filter(status=Status.OPEN, customer__user__isnull=False).first()
    agent = User.objects.get(username=DEMO_USER)
    customer = ticket.customer.user
    have = ticket.messages.count()
    for i in range(have, LONG_CONVERSATION):
        author = agent if i % 2 else customer
        post_message(
            ticket=ticket,
            author=author,
            body=f"Message {i + 1} of a long conversation about order #{ticket.pk}: "
            "the parcel, the refund, the replacement, and what happens next.",
        )
    return ticket.pk


def scenario_urls() -> dict[str, list[str]]:
    from accounts.models import Team
    from tickets.models import Ticket

    team = Team.objects.get(name=TEAM).pk
    other_team = Team.objects.exclude(pk=team).order_by("pk").values_list("pk", flat=True)[0]
    long_ticket = long_conversation_ticket()
    short_ticket = Ticket.objects.exclude(pk=long_ticket).order_by("-pk").values("pk")[0]["pk"]
    base = "/api/v1/tickets/"
    return {
        # The first URL of each list is the one timed; the rest only show query counts.
        "list status+team": [
            f"{base}?status=open&team={team}",
            f"{base}?status=pending&team={other_team}",
        ],
        "search": [f"{base}?search={word.replace(' ', '+')}" for word in SEARCH_WORDS],
        f"detail ({LONG_CONVERSATION} messages)": [
            f"{base}{long_ticket}/",
            f"{base}{short_ticket}/",
        ],
    }


def query_counts(urls: dict[str, list[str]], token: str, explain: bool) -> dict[str, str]:
    """SQL queries per request, counted in-process against the same database."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_HOST="127.0.0.1")
    counts = {}
    for name, group in urls.items():
        per_url = []
        for url in group:
            with CaptureQueriesContext(connection) as captured:
                response = client.get(url, HTTP_ACCEPT="application/json")
            if response.status_code != 200:
                raise SystemExit(f"{url}: HTTP {response.status_code} {response.content[:300]!r}")
            per_url.append(len(captured.captured_queries))
            if explain and url == group[0]:
                explain_slowest(name, captured.captured_queries)
        counts[name] = " / ".join(str(n) for n in per_url)
    return counts


def explain_slowest(name: str, queries: list[dict[str, str]]) -> None:
    from django.db import connection

    slowest = max(queries, key=lambda q: float(q["time"]))
    print(f"\n--- {name}: slowest query ({float(slowest['time']) * 1000:.1f} ms in-process)")
    print(slowest["sql"][:1500])
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + slowest["sql"])
        for (line,) in cursor.fetchall():
            print("   ", line)


def start_server(args: argparse.Namespace, env: dict[str, str]) -> subprocess.Popen:
    command = [
        UVICORN, "helpdesk.asgi:application", "--host", "127.0.0.1", "--port", str(args.port),
        "--workers", str(args.workers), "--lifespan", "off", "--no-access-log",
        "--log-level", "warning",
    ]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{args.port}/api/v1/", timeout=1)
            return server
        except httpx.TransportError:
            if server.poll() is not None:
                raise SystemExit("uvicorn exited while starting") from None
            time.sleep(0.2)
    stop_server(server)
    raise SystemExit("uvicorn did not answer within 30 s")


def stop_server(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)


def obtain_token(port: int) -> str:
    response = httpx.post(
        f"http://127.0.0.1:{port}/api/v1/auth/token/",
        json={"username": DEMO_USER, "password": DEMO_PASSWORD},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()["token"]


async def measure(
    base: str, url: str, token: str, args: argparse.Namespace, concurrency: int
) -> tuple[list[float], int, float]:
    """(latencies in ms, errors, wall seconds) for `args.requests` GETs of `url`."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Token {token}", "Accept": "application/json"}
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as http:
        for _ in range(args.warmup):
            await http.get(url)
        latencies: list[float] = []
        errors = 0
        remaining = args.requests
        deadline = time.monotonic() + args.max_seconds

        async def client() -> None:
            nonlocal remaining, errors
            while remaining > 0 and time.monotonic() < deadline:
                remaining -= 1
                started = time.perf_counter()
                response = await http.get(url)
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    errors += 1

        started = time.monotonic()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return latencies, errors, time.monotonic() - started


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    args = parse_args()
    var_dir = tempfile.mkdtemp(prefix="helpdesk-bench-")
    Path(var_dir, "static").mkdir()  # whitenoise warns about a missing STATIC_ROOT
    env = server_env(args, var_dir)
    ensure_database(args.database_url)
    manage(env, "migrate", "--noinput", "-v0")
    setup_django(env)

    if args.tickets is not None and (args.reseed or ticket_count() != args.tickets):
        print(f"Seeding {args.tickets:,} tickets into {urlparse(args.database_url).path[1:]}...")
        started = time.monotonic()
        manage(env, "seed_demo", "--reset", "--tickets", str(args.tickets))
        print(f"Seeded in {time.monotonic() - started:.0f} s.\n")
    tickets = ticket_count()
    urls = scenario_urls()

    server = start_server(args, env)
    try:
        token = obtain_token(args.port)
        base = f"http://127.0.0.1:{args.port}"
        first = httpx.get(base + urls["list status+team"][0], timeout=30,
                          headers={"Authorization": f"Token {token}"}).json()  # fmt: skip
        rows = len(first.get("results", first))
        results = []
        for name, group in urls.items():
            for concurrency in args.concurrency:
                latencies, errors, seconds = asyncio.run(
                    measure(base, group[0], token, args, concurrency)
                )
                results.append((name, concurrency, latencies, errors, seconds))
    finally:
        stop_server(server)

    counts = query_counts(urls, token, args.explain)
    print(
        f"\n{tickets:,} tickets; uvicorn --workers {args.workers}; keep-alive clients; "
        f"list page has {rows} rows; {os.cpu_count()} CPUs\n"
    )
    header = f"{'scenario':<22}{'clients':>8}{'requests':>9}{'errors':>7}{'req/s':>8}"
    header += f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}  queries/request"
    print(header)
    print("-" * len(header))
    for name, concurrency, latencies, errors, seconds in results:
        print(
            f"{name:<22}{concurrency:>8}{len(latencies):>9}{errors:>7}"
            f"{len(latencies) / seconds:>8.0f}"
            f"{statistics.median(latencies):>9.1f}{percentile(latencies, 95):>9.1f}"
            f"{percentile(latencies, 99):>9.1f}{max(latencies):>9.1f}  {counts[name]}"
        )
    print("\nTimed URLs (queries/request lists every URL tried, the timed one first):")
    for name, group in urls.items():
        print(f"  {name:<22} {'  '.join(group)}")


if __name__ == "__main__":
    main()
