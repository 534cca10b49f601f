#!/usr/bin/env python3
"""Measure how fast the agent stream follows a sign-out, and how fast presence crosses server
processes, the way production runs it: two uvicorn processes on PostgreSQL and Redis, DEBUG=0.

    .venv/bin/python bench/stream_bench.py
    .venv/bin/python bench/stream_bench.py --idle-sockets 1000 --rounds 50

Steps: (1) create and migrate the database named by --database-url if needed, and create the
bench agents and one ticket; (2) start two server processes A and B (separate ports, one Redis
channel layer and cache); (3) open --idle-sockets agent sockets spread over both (each runs its
own periodic re-check and waits for events, like agents with the UI open); (4) per round: an
agent's socket on B, sign-out through POST /api-auth/logout/ on A, time until the socket
closes with 4401 (and the logout request's own time); (5) per round: agent X views a ticket on
A, time until agent Y's socket on B hears presence.changed naming X, then X leaves, time until
Y hears the empty list; and, for comparison, a ticket change through the service until Y hears
its event (the same fan-out to every agent socket). Prints p50/p95/max. A measurement, not a test.
"""

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from websockets.exceptions import ConnectionClosed
from wsclient import (
    Server,
    load_average,
    open_socket,
    prepare_database,
    server_env,
    start_server,
    stop_server,
)

PATH = "/ws/agent/events/"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/helpdesk_stream_bench"
        ),
        help="A PostgreSQL database of its own (created if missing).",
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    )
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--idle-sockets", type=int, default=200)
    parser.add_argument("--port", type=int, default=8791, help="A's port; B's is the next.")
    parser.add_argument(
        "--server-log", type=Path, default=Path(tempfile.gettempdir()) / "stream_bench_server.log"
    )
    return parser.parse_args()


def agents_and_ticket(count: int) -> tuple[list, int]:
    from accounts.factories import AgentFactory
    from accounts.models import User
    from customers.factories import CustomerFactory
    from tickets.factories import TicketFactory
    from tickets.models import Ticket

    users = list(User.objects.filter(username__startswith="stream-bench-").order_by("pk"))
    for n in range(len(users), count):
        users.append(AgentFactory(username=f"stream-bench-{n}", first_name=f"Bench{n}"))
    ticket = Ticket.objects.filter(subject="stream bench").first()
    if ticket is None:
        ticket = TicketFactory(subject="stream bench", customer=CustomerFactory())
    return users[:count], ticket.pk


def session_cookie(user) -> str:
    """A fresh signed-in session, as the sign-in page would leave it."""
    from django.conf import settings
    from django.test import Client

    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


def socket_to(port: int, cookie: str):
    return open_socket(
        f"ws://127.0.0.1:{port}{PATH}",
        origin=f"http://127.0.0.1:{port}",
        cookie=cookie,
        open_timeout=20,
    )


async def until(socket, wanted, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        raw = await asyncio.wait_for(socket.recv(), max(deadline - time.monotonic(), 0.01))
        frame = json.loads(raw)
        if wanted(frame):
            return frame


async def sign_out_round(
    http: httpx.AsyncClient, a: int, b: int, cookie: str
) -> tuple[float, float]:
    csrf = secrets.token_hex(16)  # a 32-character secret: cookie and header must match
    async with socket_to(b, cookie) as socket:
        await socket.send(json.dumps({"type": "ping"}))
        await until(socket, lambda f: f["type"] == "pong")
        started = time.monotonic()
        response = await http.post(
            f"http://127.0.0.1:{a}/api-auth/logout/",
            headers={"Cookie": f"{cookie}; csrftoken={csrf}", "X-CSRFToken": csrf},
        )
        answered = time.monotonic()
        if response.status_code not in (200, 302):
            raise SystemExit(f"logout answered {response.status_code}")
        try:
            await until(socket, lambda f: False, timeout=40)
        except ConnectionClosed as closed:
            if closed.rcvd is None or closed.rcvd.code != 4401:
                raise SystemExit(f"closed with {closed.rcvd}") from None
        return (time.monotonic() - started) * 1000, (answered - started) * 1000


async def presence_round(a: int, b: int, x_cookie: str, y_cookie: str, x_id: int, ticket: int):
    async with socket_to(a, x_cookie) as x, socket_to(b, y_cookie) as y:
        for s in (x, y):
            await s.send(json.dumps({"type": "ping"}))
            await until(s, lambda f: f["type"] == "pong")
        about = lambda f: f["type"] == "presence.changed" and f["ticket"] == ticket  # noqa: E731
        started = time.monotonic()
        await x.send(json.dumps({"type": "presence.viewing", "ticket": ticket}))
        await until(y, lambda f: about(f) and any(v["id"] == x_id for v in f["viewers"]))
        seen = (time.monotonic() - started) * 1000
        started = time.monotonic()
        await x.send(json.dumps({"type": "presence.left", "ticket": ticket}))
        await until(y, lambda f: about(f) and not f["viewers"])
        left = (time.monotonic() - started) * 1000
        # The same fan-out for a ticket event, for comparison: a change through the service.
        started = time.monotonic()
        await asyncio.to_thread(change_priority, ticket)
        event = lambda f: f["type"] == "ticket.priority_changed" and f["ticket"]["id"] == ticket  # noqa: E731
        await until(y, event)
        return seen, left, (time.monotonic() - started) * 1000


def change_priority(ticket_id: int) -> None:
    from tickets.models import Ticket
    from tickets.services import change_ticket_priority

    ticket = Ticket.objects.get(pk=ticket_id)
    new = "high" if ticket.priority != "high" else "low"
    change_ticket_priority(ticket=ticket, priority=new, actor=None)


def summary(name: str, values: list[float]) -> None:
    values = sorted(values)
    p95 = values[max(0, int(len(values) * 0.95) - 1)]
    print(
        f"{name:<44} p50 {statistics.median(values):7.1f} ms   p95 {p95:7.1f} ms"
        f"   max {values[-1]:7.1f} ms   (n={len(values)})"
    )


async def run(args: argparse.Namespace, users: list, ticket: int, cookies: dict) -> None:
    a, b = args.port, args.port + 1
    idle_cookies = cookies["idle"]
    idle = []
    for n, cookie in enumerate(idle_cookies):
        idle.append(await socket_to(a if n % 2 else b, cookie).__aenter__())
    print(f"{len(idle)} idle agent sockets open over both processes")

    async def drain(socket) -> None:  # a page reads every frame; so do the idle sockets
        with contextlib.suppress(ConnectionClosed):
            async for _ in socket:
                pass

    drains = [asyncio.create_task(drain(socket)) for socket in idle]

    sign_out, logout_request = [], []
    async with httpx.AsyncClient(timeout=20) as http:
        for _ in range(args.rounds):
            closed_ms, request_ms = await sign_out_round(http, a, b, cookies["sign_out"].pop())
            sign_out.append(closed_ms)
            logout_request.append(request_ms)
    x_cookie, y_cookie = cookies["x"], cookies["y"]
    seen, left, changed = [], [], []
    for _ in range(args.rounds):
        s, lft, c = await presence_round(a, b, x_cookie, y_cookie, users[0].pk, ticket)
        seen.append(s)
        left.append(lft)
        changed.append(c)
    for socket in idle:
        await socket.close()
    await asyncio.gather(*drains)

    summary("sign-out on A -> stream on B closed (4401)", sign_out)
    summary("  of which the logout request itself", logout_request)
    summary("viewing on A -> presence.changed on B", seen)
    summary("left on A -> presence.changed on B", left)
    summary("ticket change (service) -> event on B", changed)


def main() -> None:
    args = parse_args()
    args.server_log.write_bytes(b"")
    with tempfile.TemporaryDirectory() as var_dir:
        env = server_env(args.database_url, args.redis_url, var_dir)
        prepare_database(env)
        users, ticket = agents_and_ticket(max(4, min(args.idle_sockets, 50) + 2))
        cookies = {  # sessions are made here: the ORM does not run inside the event loop
            "idle": [
                session_cookie(users[2 + n % (len(users) - 2)]) for n in range(args.idle_sockets)
            ],
            "sign_out": [session_cookie(users[0]) for _ in range(args.rounds)],
            "x": session_cookie(users[0]),
            "y": session_cookie(users[1]),
        }
        app = "helpdesk.asgi:application"
        servers: list[Server] = []
        try:
            for port in (args.port, args.port + 1):
                servers.append(start_server(app, port, env, log=args.server_log))
            asyncio.run(run(args, users, ticket, cookies))
            print(load_average())
        finally:
            for server in servers:
                stop_server(server)


if __name__ == "__main__":
    main()
