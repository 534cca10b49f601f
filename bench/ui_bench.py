#!/usr/bin/env python3
"""Benchmark the agent UI over a real ASGI server, the way production runs it.

    .venv/bin/python bench/ui_bench.py --tickets 100000
    .venv/bin/python bench/ui_bench.py --tickets 1000000 --requests 500

Steps: (1)-(3) as bench/api_bench.py (whose helpers this reuses): create and migrate the
PostgreSQL database, seed it with `seed_demo` when --tickets differs from what it holds, start
uvicorn under production settings (DEBUG=0, PostgreSQL, Redis); (4) sign the demo agent in
through the sign-in form at `/` (a session cookie, as a browser has); (5) time GETs of the
queue page, a filtered view of 50 rows, both the full page and the htmx partial a filter change
or live refresh fetches, and print p50/p95/p99 (on 127.0.0.1 this is server time); (6) time
the live path: a second agent changes a ticket's priority through the API, and the first
agent's websocket (`ws/agent/events/`) receives the event; then the queue page refetches its
rows, as queue.js does. Prints p50/p95 of change -> frame and change -> rows redrawn;
(7) counts the SQL queries of one queue request in-process, for two filtered views;
(8) times the ticket workspace `/tickets/<id>/` for an open ticket with 20 messages (a third
of them internal notes, some audit events) and the customer panel, and counts its queries.

A measurement, not a test: it asserts nothing except that responses are 200 and frames arrive.
"""

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import api_bench  # (the API benchmark's helpers: server, database, seeding)

DEMO_PASSWORD = api_bench.DEMO_PASSWORD
LISTENER, CHANGER = "agent", "sam"  # two demo agents


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/helpdesk_bench"
        ),
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
    )
    parser.add_argument("--tickets", type=int, help="Seed exactly this many tickets first.")
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8798)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--requests", type=int, default=300, help="GETs per page scenario.")
    parser.add_argument("--changes", type=int, default=100, help="Live changes measured.")
    parser.add_argument("--max-seconds", type=float, default=60)
    parser.add_argument("--warmup", type=int, default=20)
    return parser.parse_args()


def cookies_from(response: httpx.Response, jar: dict[str, str]) -> None:
    # Production cookies are `Secure`; this client talks plain HTTP to 127.0.0.1, so it keeps
    # them by hand instead of letting a cookie jar drop them.
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        jar[name.strip()] = rest.split(";", 1)[0]


def cookie_header(jar: dict[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in jar.items())


def sign_in(base: str, username: str) -> dict[str, str]:
    """The session cookies a browser gets from the sign-in form at `/`."""
    jar: dict[str, str] = {}
    with httpx.Client(base_url=base, timeout=30, follow_redirects=False) as http:
        form = http.get("/")
        cookies_from(form, jar)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        done = http.post(
            "/",
            data={"username": username, "password": DEMO_PASSWORD, "csrfmiddlewaretoken": token},
            headers={"Cookie": cookie_header(jar), "Referer": base + "/"},
        )
        if done.status_code != 302:
            raise SystemExit(f"sign-in as {username} failed: HTTP {done.status_code}")
        cookies_from(done, jar)
    return jar


def token_for(base: str, username: str) -> str:
    response = httpx.post(
        f"{base}/api/v1/auth/token/",
        json={"username": username, "password": DEMO_PASSWORD},
        timeout=10,
    )
    response.raise_for_status()
    return response.json()["token"]


def queue_urls() -> list[str]:
    from accounts.models import Team

    team = Team.objects.get(name=api_bench.TEAM).pk
    other = Team.objects.exclude(pk=team).order_by("pk").values_list("pk", flat=True)[0]
    return [
        f"/tickets/?view=all&status=open&team={team}",
        f"/tickets/?view=all&status=pending&status=on_hold&team={other}&sort=priority",
    ]


async def measure_page(
    base: str, url: str, cookies: str, args: argparse.Namespace, partial: bool
) -> tuple[list[float], int]:
    headers = {"Cookie": cookies}
    if partial:
        headers["HX-Request"] = "true"
    limits = httpx.Limits(max_connections=args.concurrency)
    async with httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30) as http:
        first = await http.get(url)
        if first.status_code != 200:
            raise SystemExit(f"{url}: HTTP {first.status_code}")
        rows = first.text.count("data-ticket-id=")
        for _ in range(args.warmup):
            await http.get(url)
        latencies: list[float] = []
        remaining = args.requests
        deadline = time.monotonic() + args.max_seconds

        async def client() -> None:
            nonlocal remaining
            while remaining > 0 and time.monotonic() < deadline:
                remaining -= 1
                started = time.perf_counter()
                response = await http.get(url)
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"{url}: HTTP {response.status_code}")

        await asyncio.gather(*(client() for _ in range(args.concurrency)))
        return latencies, rows


def open_ticket_priorities() -> dict[int, str]:
    """Twenty open tickets and their priorities (a change must really change something)."""
    from tickets.models import Status, Ticket

    open_tickets = Ticket.objects.filter(status=Status.OPEN).order_by("-pk")
    return dict(open_tickets.values_list("pk", "priority")[:20])


async def measure_live(
    base: str,
    port: int,
    cookies: str,
    token: str,
    queue_url: str,
    priorities: dict[int, str],
    args: argparse.Namespace,
) -> tuple[list[float], list[float]]:
    """(change -> frame, change -> frame -> rows refetched) in ms, one change at a time."""
    from websockets.asyncio.client import connect

    to_frame: list[float] = []
    to_rows: list[float] = []
    ws_url = f"ws://127.0.0.1:{port}/ws/agent/events/"
    async with (
        connect(ws_url, additional_headers={"Cookie": cookies}, origin=base) as socket,
        httpx.AsyncClient(
            base_url=base, headers={"Authorization": f"Token {token}"}, timeout=30
        ) as changer,
        httpx.AsyncClient(
            base_url=base, headers={"Cookie": cookies, "HX-Request": "true"}, timeout=30
        ) as page,
    ):
        ids = list(priorities)
        for i in range(args.changes):
            ticket = ids[i % len(ids)]
            priority = "low" if priorities[ticket] != "low" else "high"
            priorities[ticket] = priority
            started = time.perf_counter()
            response = await changer.post(
                f"/api/v1/tickets/{ticket}/priority/", json={"priority": priority}
            )
            if response.status_code != 200:
                raise SystemExit(f"change failed: HTTP {response.status_code} {response.text}")
            while True:
                frame = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))
                if (
                    frame.get("type") == "ticket.priority_changed"
                    and frame["ticket"]["id"] == ticket
                ):
                    break
            to_frame.append((time.perf_counter() - started) * 1000)
            rows = await page.get(queue_url)
            if rows.status_code != 200:
                raise SystemExit(f"queue refresh: HTTP {rows.status_code}")
            to_rows.append((time.perf_counter() - started) * 1000)
    return to_frame, to_rows


def ticket_page_url(messages: int = 20) -> str:
    """An open ticket with `messages` messages (topped up through post_message if the seed
    gave it fewer) and a customer with past tickets: the workspace as agents see it all day."""
    from django.db.models import Count

    from accounts.models import User
    from tickets.models import Status, Ticket
    from tickets.services import post_message

    ticket = (
        Ticket.objects.filter(status=Status.OPEN)
        .annotate(n=Count("messages"))
        .order_by("-n", "-pk")
        .first()
    )
    agent = User.objects.get(username=LISTENER)
    for index in range(ticket.messages.count(), messages):
        author = agent if index % 2 else ticket.customer.user
        internal = index % 6 == 1
        if author is None:  # a customer without a login: the agent writes a note instead
            author, internal = agent, True
        post_message(
            ticket=ticket, author=author, body=f"<p>Message {index} on the bench.</p>",
            is_internal=internal,
        )  # fmt: skip
    return f"/tickets/{ticket.pk}/"


def query_counts(urls: list[str]) -> list[int]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User

    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(User.objects.get(username=LISTENER))
    counts = []
    for url in urls:
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url)
        if response.status_code != 200:
            raise SystemExit(f"{url}: HTTP {response.status_code}")
        counts.append(len(captured.captured_queries))
    return counts


def line(name: str, latencies: list[float], extra: str = "") -> str:
    p = api_bench.percentile
    return (
        f"{name:<34}{len(latencies):>6}{statistics.median(latencies):>9.1f}"
        f"{p(latencies, 95):>9.1f}{p(latencies, 99):>9.1f}{max(latencies):>9.1f}  {extra}"
    )


def main() -> None:
    args = parse_args()
    var_dir = tempfile.mkdtemp(prefix="helpdesk-ui-bench-")
    Path(var_dir, "static").mkdir()
    env = api_bench.server_env(args, var_dir)
    api_bench.ensure_database(args.database_url)
    api_bench.manage(env, "migrate", "--noinput", "-v0")
    api_bench.manage(env, "collectstatic", "--noinput", "-v0")  # the manifest DEBUG=0 needs
    api_bench.setup_django(env)
    if args.tickets is not None and (args.reseed or api_bench.ticket_count() != args.tickets):
        print(f"Seeding {args.tickets:,} tickets into {urlparse(args.database_url).path[1:]}...")
        started = time.monotonic()
        api_bench.manage(env, "seed_demo", "--reset", "--tickets", str(args.tickets))
        print(f"Seeded in {time.monotonic() - started:.0f} s.\n")
    tickets = api_bench.ticket_count()
    urls = queue_urls()
    workspace_url = ticket_page_url()

    server = api_bench.start_server(args, env)
    base = f"http://127.0.0.1:{args.port}"
    try:
        cookies = cookie_header(sign_in(base, LISTENER))
        token = token_for(base, CHANGER)
        full, rows = asyncio.run(measure_page(base, urls[0], cookies, args, partial=False))
        partial, _ = asyncio.run(measure_page(base, urls[0], cookies, args, partial=True))
        workspace, _ = asyncio.run(measure_page(base, workspace_url, cookies, args, False))
        priorities = open_ticket_priorities()
        live = measure_live(base, args.port, cookies, token, urls[0], priorities, args)
        to_frame, to_rows = asyncio.run(live)
    finally:
        api_bench.stop_server(server)
    counts = query_counts(urls)
    [workspace_queries] = query_counts([workspace_url])

    print(
        f"\n{tickets:,} tickets; uvicorn --workers {args.workers}; {args.concurrency} client(s); "
        f"queue view has {rows} rows; {os.cpu_count()} CPUs\n"
    )
    header = f"{'scenario':<34}{'n':>6}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'max ms':>9}"
    print(header)
    print("-" * len(header))
    q = " / ".join(str(n) for n in counts)
    print(line("queue page (full)", full, f"queries/request {q}"))
    print(line("queue rows (htmx partial)", partial))
    print(line("ticket page (20 msgs + customer)", workspace, f"queries {workspace_queries}"))
    print(line("live: change -> agent's websocket", to_frame))
    print(line("live: change -> queue rows redrawn", to_rows))
    print("\nTimed URL: " + urls[0] + "   (queries also counted for " + urls[1] + ")")


if __name__ == "__main__":
    main()
