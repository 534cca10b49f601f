"""Chat routing benchmark: how long routing decisions take with a long queue and many agents
online, on PostgreSQL. Prints figures; asserts only that no chat was offered twice.

    .venv/bin/python bench/chat_routing_bench.py --waiting 1000 --agents 50

It creates (and migrates) its own database, `--database-url` (default
postgres://postgres@127.0.0.1:5432/hd_chatrouting_bench), fills it with `--waiting` chats
waiting in one team's queue (tiers mixed) and `--agents` agents at their consoles (capacity 3
each, none yet routable), then measures, each over `--repeat` runs:

- offer_next with nobody free (the common case: a heartbeat or sweep with nothing to do);
- enqueue of one more chat when nobody is free (arrival at the back of a long queue);
- queue_position of the last chat;
- heartbeat of an agent already online;
- sweep with nothing due;
- one offer_next pass when all agents come free at once (agents x capacity offers);
- then `--processes` processes route the same queue at once, releasing and re-offering, and
  the offer log is checked for any chat offered twice at the same moment.
"""

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "helpdesk.settings")
    name = database_url.rsplit("/", 1)[1]
    subprocess.run(
        ["createdb", "-h", "127.0.0.1", "-U", "postgres", name], capture_output=True, check=False
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def timed(label: str, function, repeat: int) -> None:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[int(len(samples) * 0.95) - 1] if len(samples) >= 20 else samples[-1]
    print(
        f"{label:<48} p50 {statistics.median(samples):7.2f} ms   p95 {p95:7.2f} ms"
        f"   ({len(samples)} runs)"
    )


def fill(waiting: int, agents: int):
    from django.db import connection
    from django.utils import timezone

    from accounts.models import Availability
    from chat import routing_engine
    from chat.models import AgentChatPresence, ChatOffer, Conversation, Site
    from tests.chat.routing_support import make_site, waiting_chat
    from tests.factories import AgentFactory, TeamFactory

    with connection.cursor() as cursor:  # a fresh run each time
        cursor.execute(
            "TRUNCATE chat_chatoffer, chat_chatline, chat_conversation, chat_visitor, chat_site, "
            "chat_agentchatpresence, tickets_ticket, customers_customer, accounts_team, "
            "accounts_agentprofile, accounts_user CASCADE"
        )
    team = TeamFactory(name="Bench team")
    site = make_site(team, name="Bench shop")
    started = time.perf_counter()
    for n in range(waiting):  # queued as enqueue would, without routing each one
        chat = waiting_chat(site, name=f"Customer {n}", rank=n % 4, enqueue=False)
        chat.tier_rank, chat.queued_at = n % 4, timezone.now()
        chat.save(update_fields=["tier_rank", "queued_at"])
    print(f"filled {waiting} waiting chats in {time.perf_counter() - started:.1f} s")
    people = [
        AgentFactory(
            username=f"bench{n}",
            profile__teams=[team],
            profile__availability=Availability.AWAY,
            profile__chat_capacity=3,
        )
        for n in range(agents)
    ]
    now = timezone.now()
    for person in people:
        routing_engine.heartbeat(agent=person, now=now)
    if ChatOffer.objects.exists():
        raise SystemExit("agents were routable while filling: the figures would be wrong")
    return site, team, people, (AgentChatPresence, Conversation, Site, ChatOffer)


def route_in_a_process(database_url: str, seconds: float) -> None:
    setup(database_url)
    from chat import routing_engine
    from chat.models import Conversation, ConversationState

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        routing_engine.offer_next()
        # Put one offer back, as a decline would, so there is always something to decide.
        offered = Conversation.objects.filter(state=ConversationState.OFFERED).order_by("?").first()
        if offered is not None:
            routing_engine.decline_or_timeout(conversation=offered, agent=offered.offered_to)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/hd_chatrouting_bench"
        ),
    )
    parser.add_argument("--waiting", type=int, default=1000)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        route_in_a_process(args.database_url, args.seconds)
        return
    setup(args.database_url)
    from django.db.models import Count
    from django.utils import timezone

    from accounts.models import AgentProfile, Availability
    from chat import routing_engine
    from tests.chat.routing_support import waiting_chat

    site, _team, people, (presence, conversation, _, offer) = fill(args.waiting, args.agents)
    last = conversation.objects.order_by("-id").first()
    print(f"{args.waiting} waiting, {args.agents} agents at their consoles (all away)")
    timed("offer_next, nobody free", lambda: routing_engine.offer_next(), args.repeat)
    arrivals = iter(
        [waiting_chat(site, name=f"Late {n}", enqueue=False) for n in range(args.repeat)]
    )
    timed(
        "enqueue one more chat (nobody free)",
        lambda: routing_engine.enqueue(next(arrivals)),
        args.repeat,
    )
    timed(
        "queue_position of the last chat", lambda: routing_engine.queue_position(last), args.repeat
    )
    someone = people[0]
    timed("heartbeat (no change)", lambda: routing_engine.heartbeat(agent=someone), args.repeat)
    timed("sweep, nothing due", lambda: routing_engine.sweep(), args.repeat)

    AgentProfile.objects.filter(user__in=people).update(availability=Availability.ONLINE)
    presence.objects.filter(agent__in=people).update(
        accepting=True, last_heartbeat_at=timezone.now()
    )
    started = time.perf_counter()
    offered = routing_engine.offer_next()
    took = (time.perf_counter() - started) * 1000
    print(f"{'offer_next, all agents free at once':<48} {took:7.1f} ms for {len(offered)} offers")

    command = [
        sys.executable,
        __file__,
        "--child",
        "--database-url",
        args.database_url,
        "--seconds",
        str(args.seconds),
    ]
    children = [subprocess.Popen(command) for _ in range(args.processes)]
    for child in children:
        child.wait()
    decisions = offer.objects.count()
    doubles = (
        offer.objects.filter(outcome="pending")
        .values("conversation")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .count()
    )
    over = [
        p.agent_id
        for p in presence.objects.filter(agent__in=people)
        if routing_engine.chat_loads([p.agent_id])[p.agent_id] > 3
    ]
    print(
        f"{args.processes} processes routing for {args.seconds:.0f} s: {decisions} offers logged "
        f"({decisions / args.seconds:.0f}/s), chats with two open offers: {doubles}, "
        f"agents over capacity: {len(over)}"
    )


if __name__ == "__main__":
    main()
