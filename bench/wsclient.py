"""What the websocket benchmarks share (bench/chat_bench.py, bench/stream_bench.py): production
settings for the server processes, a PostgreSQL database of their own, uvicorn started and
stopped as a process group with its log in a file, and the client side: a socket opened the way
a browser opens it (Origin, session cookie) and a crowd of them opened a bounded number at a
time, as real traffic arrives. Not part of the product."""

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlparse

from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
UVICORN = str(ROOT / ".venv" / "bin" / "uvicorn")

# uvicorn pings every socket every 20 s and closes it with 1011 when the pong is not back
# within --ws-ping-timeout (its defaults: 20 and 20). On this 2-core box, where the client, both
# server workers, PostgreSQL and Redis share the cores, a burst can hold a pong past 20 s; a
# browser tab is not that slow. The bench keeps the interval and gives the pong longer, so a
# close it counts is a server's fault, not the shared CPU's.
WS_PING_INTERVAL = 20
WS_PING_TIMEOUT = 60
OPEN_CONCURRENCY = 50  # handshakes in flight at once


def server_env(database_url: str, redis_url: str, var_dir: str) -> dict[str, str]:
    """Production settings (DEBUG=0, PostgreSQL, Redis), as the README's deploy section."""
    return {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "HELPDESK_VAR_DIR": var_dir,
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
    }


def ensure_database(url: str) -> None:
    """Create the bench's own database if it is missing."""
    import psycopg

    parts = urlparse(url)
    name = parts.path.lstrip("/")
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def prepare_database(env: dict[str, str]) -> None:
    """Create, migrate and collect static files (DEBUG=0 pages need them; the sockets do not);
    then set Django up in this process, for seeding and for asking the database afterwards."""
    ensure_database(env["DATABASE_URL"])
    manage = [PYTHON, "manage.py"]
    subprocess.run([*manage, "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    collected = subprocess.run(
        [*manage, "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=False,
        capture_output=True,
        text=True,
    )
    if collected.returncode != 0:  # sockets serve no page: say so and go on
        reason = (collected.stderr.strip().splitlines() or ["?"])[-1]
        print(f"collectstatic failed ({reason[:160]}); pages may fail, sockets do not care")
    os.environ.update(env)
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    import django

    django.setup()


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def worker_pids(self) -> list[int]:
        """uvicorn's worker processes (multiprocessing's spawn children; not its resource
        tracker). Empty with one worker: then the process itself serves."""
        out = subprocess.run(
            ["pgrep", "-P", str(self.process.pid), "-f", "spawn_main"],
            capture_output=True,
            text=True,
            check=False,
        )
        return [int(pid) for pid in out.stdout.split()]

    def log_lines(self, *needles: str) -> list[str]:
        """Lines of the server's log holding any of `needles`."""
        with contextlib.suppress(OSError):
            text = self.log.read_text(errors="replace")
            return [line for line in text.splitlines() if any(n in line for n in needles)]
        return []


def start_server(
    app: str,
    port: int,
    env: dict[str, str],
    *,
    workers: int = 1,
    log: Path,
    log_level: str = "warning",
) -> Server:
    """uvicorn as production runs it (README: --ws-max-size, --lifespan off), in a process group
    of its own, its output in `log`. Returns once every worker can take a connection."""
    command = [
        UVICORN, app, "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--lifespan", "off", "--no-access-log", "--log-level", log_level,
        "--ws-max-size", "65536", "--backlog", "4096",
        "--ws-ping-interval", str(WS_PING_INTERVAL), "--ws-ping-timeout", str(WS_PING_TIMEOUT),
    ]  # fmt: skip
    output = log.open("ab")
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, start_new_session=True, stdout=output, stderr=output
    )
    server = Server(process, port, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"uvicorn {app} exited while starting; see {log}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            if workers == 1:
                return server  # one process imports the app before it binds the port
            if len(server.worker_pids()) >= workers:
                time.sleep(1.0)  # spawned workers import the app after the port is bound
                return server
        time.sleep(0.2)
    stop_server(server)
    raise SystemExit(f"uvicorn {app} did not start within 60 s; see {log}")


def stop_server(server: Server) -> None:
    if server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait(timeout=10)


def open_socket(
    url: str, *, origin: str | None = None, cookie: str | None = None, open_timeout: float = 60
) -> connect:
    """A socket as a browser page opens it: `await` it, or `async with` it. The client sends no
    pings of its own (a browser does not) and answers the server's; frames wait unbounded until
    read."""
    return connect(
        url,
        origin=origin,
        additional_headers={"Cookie": cookie} if cookie else None,
        open_timeout=open_timeout,
        max_queue=None,
        ping_interval=None,
    )


T = TypeVar("T")


async def open_many(
    factories: Iterable[Callable[[], Awaitable[T]]], concurrency: int = OPEN_CONCURRENCY
) -> list[T]:
    """Run the openers with at most `concurrency` in flight: a crowd arrives over time, not in
    one tick, and an unbounded storm only measures the listen backlog."""
    gate = asyncio.Semaphore(concurrency)

    async def one(factory: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await factory()

    return await asyncio.gather(*(one(f) for f in factories))


def percentiles(values: Iterable[float]) -> str:
    """p50 / p95 / p99 / max of `values` in ms, as one line."""
    ordered = sorted(values)
    if not ordered:
        return "no samples"

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))]

    return (
        f"p50 {pct(0.5):.0f} ms  p95 {pct(0.95):.0f} ms  p99 {pct(0.99):.0f} ms  "
        f"max {ordered[-1]:.0f} ms  (n={len(ordered)})"
    )


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} cores)"
