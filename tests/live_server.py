"""A real uvicorn process serving `helpdesk.asgi:application` on 127.0.0.1, pointed at the test
database, for tests that go over real sockets (HTTP and websockets).

The server reads committed rows only, so tests that use it need
`@pytest.mark.django_db(transaction=True)`. `live_server` runs one process: on the in-memory
channel layer an event reaches only sockets in the process that published it, which is this
one. `live_servers` runs several on the same database, for what must cross processes (through
Redis, so only when REDIS_URL is set).
"""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from django.conf import settings
from django.db import connection


@dataclass(frozen=True)
class LiveServer:
    url: str  # http://127.0.0.1:<port>
    ws_url: str  # ws://127.0.0.1:<port>
    log: Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url_of_this_run() -> str:
    """DATABASE_URL for the database this test run created (not the developer's)."""
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{Path(db['NAME']).resolve()}"
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}"
    return f"postgres://{credentials}@{host}/{db['NAME']}"


def wait_until_listening(port: int, process: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"uvicorn exited with {process.returncode}:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"uvicorn did not listen on {port} within {timeout}s:\n{log.read_text()}")


@contextmanager
def live_server(workdir: Path, timeout: float = 20.0) -> Iterator[LiveServer]:
    """Start the server, yield its address, and stop it again."""
    with live_servers(workdir, 1, timeout) as (server,):
        yield server


@contextmanager
def live_servers(workdir: Path, count: int, timeout: float = 20.0) -> Iterator[list[LiveServer]]:
    """Start `count` server processes on one database (and, with REDIS_URL, one channel layer
    and cache), as a deployment behind a load balancer would run them; stop them all after."""
    processes: list[subprocess.Popen] = []
    servers: list[LiveServer] = []
    try:
        for index in range(count):
            port = free_port()
            # Its own media and job queue folders (the first keeps the name tests rely on).
            var_dir = workdir / ("server-var" if index == 0 else f"server-var-{index}")
            var_dir.mkdir(parents=True, exist_ok=True)
            log = workdir / ("uvicorn.log" if index == 0 else f"uvicorn-{index}.log")
            env = {
                **os.environ,
                "DJANGO_SETTINGS_MODULE": "helpdesk.settings",
                "HELPDESK_VAR_DIR": str(var_dir),
                "DATABASE_URL": database_url_of_this_run(),
                "LOG_LEVEL": "WARNING",
            }
            command = [sys.executable, "-m", "uvicorn", "helpdesk.asgi:application"]
            command += ["--host", "127.0.0.1", "--port", str(port), "--lifespan", "off"]
            with log.open("w") as output:
                process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                    command, cwd=settings.BASE_DIR, env=env, stdout=output, stderr=subprocess.STDOUT
                )
            processes.append(process)
            servers.append(
                LiveServer(url=f"http://127.0.0.1:{port}", ws_url=f"ws://127.0.0.1:{port}", log=log)
            )
        for process, server in zip(processes, servers, strict=True):
            port = int(server.url.rsplit(":", 1)[1])
            wait_until_listening(port, process, server.log, timeout)
        yield servers
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
