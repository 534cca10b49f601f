"""scripts/run, the one command a new user starts: SIGTERM (a process manager, a container
stop, `kill`) and SIGINT (Ctrl-C) stop both the server and the worker, and the script too."""

import os
import signal
import socket
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

from tests.live_server import free_port
from tests.waiting import wait_for


def group_members(group: int) -> set[int]:
    members = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # gone meanwhile
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == group and fields[0] != "Z":  # pgrp; zombies are gone
                members.add(int(entry.name))
    return members


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_a_signal_to_the_run_command_stops_server_and_worker(tmp_path, stop_with):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env |= {"HELPDESK_VAR_DIR": str(tmp_path), "PORT": str(port), "DEBUG": "1"}
    log = tmp_path / "run.log"
    with log.open("w") as output:
        script = subprocess.Popen(  # noqa: S603 - our own script
            [str(Path(settings.BASE_DIR, "scripts", "run"))],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so we can find its children
        )
    try:
        wait_for(lambda: listening(port), timeout=300)
        wait_for(lambda: "ready." in log.read_text(), timeout=120)  # the worker
        assert len(group_members(script.pid)) >= 3  # the script, the server, the worker
        # Beat runs inside the worker and keeps its schedule in the var dir given, not in the
        # checkout's var/ (which a fresh clone with HELPDESK_VAR_DIR set does not have).
        wait_for(lambda: any(tmp_path.glob("celerybeat-schedule*")), timeout=60)
        assert "ERROR/Beat" not in log.read_text()

        script.send_signal(stop_with)  # to the script alone, as a process manager does

        assert script.wait(timeout=60) != 0
        wait_for(lambda: not group_members(script.pid), timeout=60)
        assert not listening(port)
    finally:
        if group_members(script.pid):
            os.killpg(script.pid, signal.SIGKILL)
