#!/usr/bin/env python3
"""Live chat under load, the way production runs it: uvicorn with 2 workers, PostgreSQL, the
Redis pub/sub channel layer, DEBUG=0. A measurement that prints figures, not a test.

    .venv/bin/python bench/chat_bench.py                       # 1,000 conversations (2,000 sockets)
    .venv/bin/python bench/chat_bench.py --conversations 200 --seconds 20

In one run:
1. the floor: bench/chat_floor.py, a bare Channels consumer on the same Redis layer that only
   relays (no database, no tokens), under uvicorn --workers 2: customer and agent sockets of
   each conversation, the customer's frames timed until the agent's socket has them;
2. the product: the same load through the visitor socket (ws/chat/visitor/, signed visitor
   token, the site's allowed origin) and the agent console socket (ws/chat/agent/, session
   cookie), where every message is stored (a ticket message and a numbered chat line) before it
   is broadcast;
3. the product again while one of the two server processes is killed (SIGKILL) in the middle:
   its clients reconnect (to the survivor or the restarted worker), resume from the last seq
   they saw and resend what was not acknowledged, with the same client_id.

For each: customer-to-agent latency p50/p95/p99, messages per second delivered, lost (sent, never
reached the agent) and duplicated (one client_id stored or delivered under two seqs; the database
is checked too), and the widget's gzipped size. The offered load is the same for floor and
product (--rate messages per second over all conversations).
"""

import argparse
import asyncio
import contextlib
import gzip
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
UVICORN = str(ROOT / ".venv" / "bin" / "uvicorn")
WIDGET = ROOT / "static" / "chat" / "widget.js"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hd_chatwidget_bench"
        ),
        help="A PostgreSQL database of its own (created if missing).",
    )
    parser.add_argument(
        "--redis-url", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
    )
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0, help="messages/s over all chats")
    parser.add_argument("--seconds", type=float, default=30.0, help="sending time per phase")
    parser.add_argument("--port", type=int, default=8793)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-floor", action="store_true")
    parser.add_argument("--skip-kill", action="store_true")
    return parser.parse_args()


# --- servers ------------------------------------------------------------------------------
def server_env(args: argparse.Namespace, var_dir: str) -> dict[str, str]:
    return {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "HELPDESK_VAR_DIR": var_dir,
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
    }


@dataclass
class Server:
    process: subprocess.Popen
    port: int

    def worker_pids(self) -> list[int]:
        out = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True, check=False
        )
        return [int(pid) for pid in out.stdout.split()]


def start_server(app: str, port: int, env: dict[str, str], workers: int) -> Server:
    command = [
        UVICORN, app, "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--lifespan", "off", "--no-access-log", "--log-level", "warning",
        "--ws-max-size", "65536", "--backlog", "4096",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    server = Server(process, port)
    deadline = time.monotonic() + 60
    import socket

    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"uvicorn {app} exited while starting")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            if len(server.worker_pids()) >= workers:
                time.sleep(1.0)  # the workers import the app after the socket is bound
                return server
        time.sleep(0.2)
    raise SystemExit(f"uvicorn {app} did not start within 60 s")


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=10)


# --- measuring ----------------------------------------------------------------------------
@dataclass
class Tally:
    name: str
    sent: dict[str, float] = field(default_factory=dict)  # client_id -> send time
    latency_ms: list[float] = field(default_factory=list)
    delivered: dict[str, int | None] = field(default_factory=dict)  # client_id -> seq
    duplicated: int = 0
    reconnects: int = 0
    first_send: float = 0.0
    last_delivery: float = 0.0

    def delivered_once(self, client_id: str, seq: int | None) -> None:
        sent_at = self.sent.get(client_id)
        if sent_at is None:
            return
        if client_id in self.delivered:
            # A replay of the same line (same seq) is fine and ignored, like a client does;
            # the same message under another seq was stored twice.
            if seq is None or self.delivered[client_id] != seq:
                self.duplicated += 1
            return
        now = time.monotonic()
        self.delivered[client_id] = seq
        self.latency_ms.append((now - sent_at) * 1000)
        self.last_delivery = now

    def report(self, extra: str = "") -> dict:
        values = sorted(self.latency_ms)

        def pct(p: float) -> float:
            return values[min(len(values) - 1, int(len(values) * p))] if values else float("nan")

        lost = len(self.sent) - len(self.delivered)
        span = max(self.last_delivery - self.first_send, 0.001)
        rate = len(self.delivered) / span
        print(
            f"{self.name:<34} p50 {pct(0.5):7.1f} ms  p95 {pct(0.95):7.1f} ms  "
            f"p99 {pct(0.99):7.1f} ms  {rate:7.1f} msg/s  sent {len(self.sent)}  "
            f"lost {lost}  duplicated {self.duplicated}  reconnects {self.reconnects}{extra}"
        )
        return {"p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99), "lost": lost}


def schedule(conversations: int, rate: float, seconds: float) -> list[tuple[float, int]]:
    """(offset in seconds, conversation index): an even load, conversations in random order."""
    total = int(rate * seconds)
    rng = random.Random(7)
    return sorted((n / rate, rng.randrange(conversations)) for n in range(total))


async def drive(
    tally: Tally, senders: list, schedule_: list[tuple[float, int]], settle: float
) -> None:
    started = time.monotonic()
    tally.first_send = started
    for offset, index in schedule_:
        delay = started + offset - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        client_id = str(uuid.uuid4())
        tally.sent[client_id] = time.monotonic()
        await senders[index](client_id)
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline and len(tally.delivered) < len(tally.sent):
        await asyncio.sleep(0.1)


async def open_many(factories: list, concurrency: int = 50) -> list:
    """Open sockets with bounded concurrency (a real crowd does not arrive in one tick)."""
    gate = asyncio.Semaphore(concurrency)

    async def one(factory):
        async with gate:
            return await factory()

    return await asyncio.gather(*(one(f) for f in factories))


# --- the floor ----------------------------------------------------------------------------
async def floor_phase(args: argparse.Namespace) -> Tally:
    tally = Tally("floor (bare relay, no storage)")
    url = f"ws://127.0.0.1:{args.port + 1}/ws/floor/?conversation="
    customers, agents = [], []

    def opener(n: int):
        return lambda: connect(url + str(n), open_timeout=60, max_queue=None)

    sockets = await open_many([opener(n) for n in range(args.conversations)] * 2)
    customers, agents = sockets[: args.conversations], sockets[args.conversations :]
    await asyncio.sleep(1.0)  # group_add is done before accept(); give Redis a moment anyway

    async def listen(socket) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for raw in socket:
                frame = json.loads(raw)
                tally.delivered_once(frame["client_id"], None)

    async def drain(socket) -> None:  # the customer's own echo, read and dropped
        with contextlib.suppress(ConnectionClosed):
            async for _ in socket:
                pass

    readers = [asyncio.create_task(listen(s)) for s in agents]
    readers += [asyncio.create_task(drain(s)) for s in customers]

    def sender(socket):
        async def send(client_id: str) -> None:
            frame = {"type": "message.send", "client_id": client_id, "body": "Where is my order?"}
            await socket.send(json.dumps(frame))

        return send

    plan = schedule(args.conversations, args.rate, args.seconds)
    await drive(tally, [sender(s) for s in customers], plan, settle=15)
    for socket in sockets:
        await socket.close()
    await asyncio.gather(*readers)
    return tally


# --- main ---------------------------------------------------------------------------------
def ensure_database(url: str) -> None:
    import psycopg

    parts = urlparse(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def widget_size() -> None:
    raw = WIDGET.read_bytes()
    print(
        f"widget.js: {len(raw):,} bytes, {len(gzip.compress(raw, 9)):,} bytes gzipped "
        f"(limit 40,960)"
    )


def main() -> None:
    args = parse_args()
    widget_size()
    print(
        f"{args.conversations} conversations ({2 * args.conversations} sockets), "
        f"{args.rate:g} msg/s for {args.seconds:g} s, uvicorn --workers {args.workers}, "
        f"{args.redis_url}, {args.database_url.rsplit('/', 1)[-1]}"
    )
    with tempfile.TemporaryDirectory() as var_dir:
        env = server_env(args, var_dir)
        results = {}
        if not args.skip_floor:
            floor = start_server("bench.chat_floor:application", args.port + 1, env, args.workers)
            try:
                results["floor"] = asyncio.run(floor_phase(args)).report()
            finally:
                stop_server(floor)
        product_phases(args, env, results)


def product_phases(args: argparse.Namespace, env: dict[str, str], results: dict) -> None:
    try:
        import bench.chat_product as product
    except ImportError as missing:
        print(f"product: not run ({missing})")
        return
    product.run(args, env, results, start_server, stop_server)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
