"""What the routing sweep's "missed" step (chat.services.missed.miss_stranded_chats) costs, on
PostgreSQL, with a long queue behind busy agents and a long history of ended chats. Prints
figures and the query plans; asserts only that the chats it should miss were missed.

    .venv/bin/python bench/missed_bench.py --waiting 500 --ended 3000

It creates (and migrates) its own database, `--database-url` (default
postgres://postgres@127.0.0.1:5432/hd_missed_bench), fills one site's team with `--waiting`
chats queued behind one busy agent and `--ended` ended chats, then measures, over `--repeat`
runs: the step with nothing due (the agent is online: the common case, every 5 s), and then,
with the agent gone, one run that misses the whole queue (per chat). EXPLAIN shows which
index finds the queue.
"""

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The same database set-up as the routing bench (create if missing, migrate, django.setup).
from chat_routing_bench import setup  # noqa: E402 - bench/ is the script's own folder


def check(condition: bool, problem: str) -> None:
    if not condition:
        raise SystemExit(f"FAILED: {problem}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hd_missed_bench"
        ),
    )
    parser.add_argument("--waiting", type=int, default=500)
    parser.add_argument("--ended", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="Keep an earlier run's chats (filling takes minutes); its missed chats wait again.",
    )
    args = parser.parse_args()
    setup(args.database_url)

    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from accounts.models import User
    from chat import routing_engine
    from chat.models import Conversation, ConversationState, Site
    from chat.services.missed import miss_stranded_chats
    from tests.chat.routing_support import make_site, online_agent, waiting_chat
    from tests.factories import TeamFactory

    if args.reuse and Site.objects.filter(name="Bench shop").exists():
        Conversation.objects.filter(state=ConversationState.MISSED).update(
            state=ConversationState.WAITING
        )
        agent = User.objects.get(username="busy")
        print("reusing the chats of an earlier run")
    else:
        with connection.cursor() as cursor:  # a fresh run
            cursor.execute(
                "TRUNCATE chat_chatoffer, chat_chatline, chat_conversation, chat_visitor, "
                "chat_site, chat_agentchatpresence, tickets_ticket, customers_customer, "
                "accounts_team, accounts_agentprofile, accounts_user CASCADE"
            )
        t0 = timezone.now() - timedelta(hours=1)
        team = TeamFactory(name="Bench team")
        site = make_site(team, name="Bench shop", missed_after_seconds=120)
        agent = online_agent(team, username="busy", capacity=1, at=t0)
        started = time.perf_counter()
        total = args.waiting + args.ended
        chats = [waiting_chat(site, name=f"C{n}", at=t0) for n in range(total)]
        routing_engine.accept(conversation=chats[0], agent=agent, now=t0)
        ended = [chat.pk for chat in chats[1 : args.ended + 1]]
        Conversation.objects.filter(pk__in=ended).update(state=ConversationState.ENDED)
        print(f"filled {total} chats in {time.perf_counter() - started:.0f} s")
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE chat_conversation; ANALYZE tickets_ticket; ANALYZE chat_site")
    queue = Conversation.objects.filter(state=ConversationState.WAITING).count()
    history = Conversation.objects.exclude(state=ConversationState.WAITING).count()
    print(f"{queue} chats waiting, {history} others")

    now = timezone.now()
    routing_engine.heartbeat(agent=agent, now=now)
    samples = []
    for _ in range(args.repeat):
        begun = time.perf_counter()
        check(miss_stranded_chats(now=now) == [], "missed a chat queued behind a busy agent")
        samples.append((time.perf_counter() - begun) * 1000)
    reset_queries()  # the capture counts from the log, which keeps only the last 9,000
    with CaptureQueriesContext(connection) as queries:
        miss_stranded_chats(now=now)
    samples.sort()
    print(
        f"nothing due (agent online, {queue} queued): p50 {statistics.median(samples):.2f} ms, "
        f"p95 {samples[int(len(samples) * 0.95) - 1]:.2f} ms, {len(queries)} queries"
    )
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + queries[0]["sql"])
        print("plan of the queue's (site, team) pairs:")
        for (line,) in cursor.fetchall():
            print("   ", line)

    # The agent's console goes quiet: first sweep starts the clock, the one 120 s later misses.
    later = now + timedelta(seconds=60)
    check(miss_stranded_chats(now=later) == [], "missed a chat before its time")
    reset_queries()
    begun = time.perf_counter()
    with CaptureQueriesContext(connection) as queries:
        missed = miss_stranded_chats(now=later + timedelta(seconds=120))
    spent = (time.perf_counter() - begun) * 1000
    check(len(missed) == queue, f"missed {len(missed)} of {queue} chats")
    print(
        f"missing {len(missed)} chats: {spent:.0f} ms ({spent / len(missed):.2f} ms and "
        f"{(len(queries) - 4) / len(missed):.0f} queries per chat)"
    )
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + queries[3]["sql"])
        print("plan of the candidates:")
        for (line,) in cursor.fetchall():
            print("   ", line)
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
