#!/usr/bin/env python3
"""Every SQL statement storing one chat line sends, and which function sends it (issue 10).
A measurement that prints, not a test (tests/chat/test_line_cost.py pins the counts).

    .venv/bin/python bench/chat_line_queries.py                     # a throwaway SQLite file
    .venv/bin/python bench/chat_line_queries.py --database-url postgres://postgres@127.0.0.1:5432/hd_lines

A chat under a default 24/7 SLA policy, then `chat.services.post_line` for: (a) a customer
message while the first-reply clock runs, (b) the agent's first reply (the ticket goes new ->
open), (c) a customer message after it (a next-reply clock starts), (d) a second customer
message in a row (no clock moves), (e) an agent reply in the ongoing chat. The database is
created and migrated if needed; everything the run writes is rolled back.

With `--rounds N` it then times N rounds of (customer, customer again, agent reply), each line in
its own transaction as a socket posts it, on chats of 10 rounds each (opened and answered once
before timing: the clock engine reads every clock of the ticket, so a longer chat costs more),
and prints milliseconds per line (p50, p95) for each kind with the load average: noisy on a
shared machine, compare runs made back to back.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE SAVEPOINT", "BEGIN", "COMMIT", "ROLLBACK")
CHAT_ROUNDS = 10
OWN_CODE = ("chat/", "tickets/", "slas/", "customers/", "accounts/")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default="", help="default: a SQLite file in a tmp dir")
    parser.add_argument("--full-sql", action="store_true", help="print whole statements")
    parser.add_argument("--rounds", type=int, default=0, help="time this many rounds")
    return parser.parse_args()


def origin() -> str:
    """The innermost frame of the project's own code that sent the statement."""
    for frame in reversed(traceback.extract_stack()):
        path = Path(frame.filename)
        relative = str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else ""
        if relative.startswith(OWN_CODE):
            return f"{relative}:{frame.lineno} {frame.name}"
    return "?"


def main() -> None:
    args = parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("HELPDESK_VAR_DIR", tempfile.mkdtemp(prefix="line-queries-"))
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from accounts.factories import AgentFactory, TeamFactory
    from chat.models import Site, Visitor
    from chat.services import post_line, start_conversation
    from customers.factories import standard_tiers
    from slas.services import save_calendar, save_policy

    call_command("migrate", verbosity=0)
    sent: list[tuple[str, str]] = []

    def record(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        sent.append((sql, origin()))
        return execute(sql, params, many, context)

    with transaction.atomic():
        standard_tiers()
        team = TeamFactory(name="Line queries")
        agent = AgentFactory(username="line-queries-agent", profile__teams=[team])
        calendar = save_calendar(
            actor=None, calendar=None, data={"name": "Line queries 24/7", "always_open": True}
        )
        row = {"first_reply_minutes": 60, "next_reply_minutes": 120, "resolution_minutes": 480}
        save_policy(
            actor=None,
            policy=None,
            data={
                "name": "Line queries",
                "is_default": True,
                "calendar": calendar,
                "targets": {p: dict(row) for p in ("low", "normal", "high", "urgent")},
            },
        )
        site = Site.objects.create(name="Line queries", team=team, allowed_origins=[])
        visitor = Visitor.objects.create(site=site)
        chat = start_conversation(site=site, visitor=visitor, prechat={}, body="Hi")
        cases = [
            ("(a) customer, first-reply clock running", None),
            ("(b) agent's first reply (new -> open)", agent),
            ("(c) customer after the reply (next-reply clock starts)", None),
            ("(d) customer again (no clock moves)", None),
            ("(e) agent reply in the ongoing chat", agent),
        ]
        for n, (label, sender) in enumerate(cases):
            sent.clear()
            with connection.execute_wrapper(record):
                post_line(
                    conversation=chat,
                    sender_user_or_None=sender,
                    body=f"line {n}",
                    client_id=str(n),
                )
            work = [(sql, where) for sql, where in sent if not sql.startswith(TRANSACTION_CONTROL)]
            print(f"\n{label}: {len(work)} statements (+{len(sent) - len(work)} savepoint)")
            for i, (sql, where) in enumerate(work, 1):
                text = " ".join(sql.split())
                print(f"{i:3}. {where}\n     {text if args.full_sql else text[:150]}")
        transaction.set_rollback(True)
    print(f"\n{connection.vendor}")
    if args.rounds:
        timed(args.rounds)


def timed(rounds: int) -> None:
    """Milliseconds per line, each line its own transaction (as the socket's post_line)."""
    from django.db import transaction

    from accounts.factories import AgentFactory, TeamFactory
    from chat.models import Site, Visitor
    from chat.services import post_line, start_conversation
    from customers.factories import standard_tiers
    from slas.models import SlaPolicy
    from slas.services import save_calendar, save_policy

    standard_tiers()
    team = TeamFactory(name=f"Line timing {time.time_ns()}")
    agent = AgentFactory(username=f"line-timing-{time.time_ns()}", profile__teams=[team])
    if not SlaPolicy.objects.filter(is_default=True).exists():
        calendar = save_calendar(
            actor=None,
            calendar=None,
            data={"name": f"Timing {time.time_ns()}", "always_open": True},
        )
        row = {"first_reply_minutes": 60, "next_reply_minutes": 120, "resolution_minutes": 480}
        save_policy(
            actor=None,
            policy=None,
            data={
                "name": f"Timing {time.time_ns()}",
                "is_default": True,
                "calendar": calendar,
                "targets": {p: dict(row) for p in ("low", "normal", "high", "urgent")},
            },
        )
    site = Site.objects.create(name="Line timing", team=team, allowed_origins=[])
    chat = None
    spent: dict[str, list[float]] = {"customer": [], "customer again": [], "agent reply": []}
    kinds = [("customer", None), ("customer again", None), ("agent reply", agent)]
    for n in range(rounds):
        if n % CHAT_ROUNDS == 0:
            visitor = Visitor.objects.create(site=site)
            chat = start_conversation(site=site, visitor=visitor, prechat={}, body="Hi")
            post_line(conversation=chat, sender_user_or_None=agent, body="Hello", client_id=None)
        for kind, sender in kinds:
            started = time.perf_counter()
            with transaction.atomic():
                post_line(
                    conversation=chat,
                    sender_user_or_None=sender,
                    body=f"{kind} {n}",
                    client_id=None,
                )
            spent[kind].append((time.perf_counter() - started) * 1000)
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"\n{rounds} rounds, one transaction per line; load average {load}")
    for kind, values in spent.items():
        values.sort()
        p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
        print(f"{kind:15} p50 {statistics.median(values):6.2f} ms  p95 {p95:6.2f} ms")


if __name__ == "__main__":
    main()
