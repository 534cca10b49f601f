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
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from websockets.exceptions import ConnectionClosed, InvalidStatus
from wsclient import (
    ROOT,
    Server,
    load_average,
    open_many,
    open_socket,
    percentiles,
    prepare_database,
    server_env,
    start_server,
    stop_server,
)

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
    parser.add_argument(
        "--open-concurrency", type=int, default=50, help="socket handshakes in flight at once"
    )
    parser.add_argument(
        "--trace",
        type=Path,
        help="a directory: run the product under bench/traced_asgi.py, which writes down each "
        "server's database calls, collections and event-loop lag there, and print where the "
        "slowest messages spent their time (bench/chat_tail.py reads it)",
    )
    parser.add_argument(
        "--server-log",
        type=Path,
        default=Path(tempfile.gettempdir()) / "chat_bench_server.log",
        help="uvicorn's output (both servers), read for errors after each phase",
    )
    return parser.parse_args()


# --- measuring ----------------------------------------------------------------------------
@dataclass
class Tally:
    name: str
    sent: dict[str, float] = field(default_factory=dict)  # client_id -> send time
    latency_ms: list[float] = field(default_factory=list)
    arrived: dict[str, float] = field(default_factory=dict)  # client_id -> delivery time
    delivered: dict[str, int | None] = field(default_factory=dict)  # client_id -> seq
    duplicated: int = 0
    reconnects: int = 0
    open_retries: int = 0
    close_codes: dict[int, int] = field(default_factory=dict)
    handshake_ms: dict[str, list[float]] = field(default_factory=dict)
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
        self.arrived[client_id] = now
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
        if self.close_codes:
            print(f"    close codes seen: {self.close_codes}")
        if lost:  # to look them up (chat_chatline.client_id) and in the server log
            missing = [cid for cid in self.sent if cid not in self.delivered][:5]
            print(f"    never delivered (first 5): {', '.join(missing)}")
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
    # Settle: wait while deliveries still arrive (a slow server is late, not lossy), and give
    # up after `settle` seconds without progress.
    deadline, seen = time.monotonic() + settle, len(tally.delivered)
    while time.monotonic() < deadline and len(tally.delivered) < len(tally.sent):
        await asyncio.sleep(0.2)
        if len(tally.delivered) != seen:
            deadline, seen = time.monotonic() + settle, len(tally.delivered)


# --- the floor ----------------------------------------------------------------------------
async def floor_phase(args: argparse.Namespace) -> Tally:
    tally = Tally("floor (bare relay, no storage)")
    url = f"ws://127.0.0.1:{args.port + 1}/ws/floor/?conversation="
    customers, agents = [], []

    def opener(n: int):
        return lambda: open_socket(url + str(n))

    opening = time.monotonic()
    sockets = await open_many(
        [opener(n) for n in range(args.conversations)] * 2, args.open_concurrency
    )
    print(f"  {len(sockets)} sockets open in {time.monotonic() - opening:.0f}s ({tally.name})")
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
        f"{args.redis_url}, {args.database_url.rsplit('/', 1)[-1]}, "
        f"{args.open_concurrency} handshakes at a time; {load_average()}"
    )
    args.server_log.write_bytes(b"")
    print(f"server log: {args.server_log}")
    with tempfile.TemporaryDirectory() as var_dir:
        env = server_env(args.database_url, args.redis_url, var_dir)
        results = {}
        if not args.skip_floor:
            floor = start_server(
                "bench.chat_floor:application",
                args.port + 1,
                env,
                workers=args.workers,
                log=args.server_log,
            )
            try:
                results["floor"] = asyncio.run(floor_phase(args)).report()
                print(f"    {load_average()}")
            finally:
                stop_server(floor)
        product_phases(args, env, results)


def server_trouble(server: Server) -> None:
    """What the server's log says went wrong: exceptions, and closes it made itself."""
    lines = server.log_lines("Traceback", "ERROR", "Exception", "1011", "timed out", "timeout")
    if lines:
        print(f"    server log: {len(lines)} lines of trouble; the first: {lines[0][:200]}")


def product_phases(args: argparse.Namespace, env: dict[str, str], results: dict) -> None:
    prepare_database(env)
    started = time.monotonic()
    world = bench_world(args)
    print(f"product world ready in {time.monotonic() - started:.1f}s ({len(world)} chats)")
    app = "helpdesk.asgi:application"
    if args.trace:
        args.trace.mkdir(parents=True, exist_ok=True)
        for old in args.trace.glob("*.jsonl"):
            old.unlink()
        env = {**env, "BENCH_TRACE_DIR": str(args.trace)}
        app = "bench.traced_asgi:application"
    server = start_server(app, args.port, env, workers=args.workers, log=args.server_log)
    try:
        steady = asyncio.run(product_phase(args, world, server, kill=False))
        results["product"] = steady.report(stored_check(steady))
        print(f"    {load_average()}")
        server_trouble(server)
        from chat_tail import explain_tail

        explain_tail(steady.sent, steady.arrived, steady.first_send, args.trace)
        if not args.skip_kill:
            killed = asyncio.run(product_phase(args, world, server, kill=True))
            results["kill"] = killed.report(stored_check(killed))
            print(f"    {load_average()}")
            server_trouble(server)
    finally:
        stop_server(server)
    if "floor" in results and "product" in results:
        ratio = results["product"]["p99"] / max(results["floor"]["p99"], 0.001)
        print(f"product p99 / floor p99 = {ratio:.2f} (target: at most 2)")


# --- the product --------------------------------------------------------------------------
@dataclass
class Chat:
    conversation: int
    token: str
    cookie: str


def bench_world(args: argparse.Namespace) -> list[Chat]:
    """A site, one agent per conversation (capacity 1) and --conversations active chats, each
    opened through chat.services.start_conversation (a chat ticket and its first line). The
    chats are handed to their agents directly: routing has its own tests; what is measured here
    is the sockets and storing every line. Reused by the next run."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.utils import timezone

    from accounts.factories import AgentFactory, TeamFactory
    from accounts.models import Team, User
    from chat.models import AgentChatPresence, Conversation, ConversationState, Site, Visitor
    from chat.services import issue_visitor_token, start_conversation
    from customers.factories import standard_tiers

    standard_tiers()  # customers need a tier
    origin = f"http://127.0.0.1:{args.port}"
    team = Team.objects.filter(name="Chat bench").first() or TeamFactory(name="Chat bench")
    site, _ = Site.objects.get_or_create(
        key="chat-bench", defaults={"name": "Chat bench", "team": team, "prechat_fields": []}
    )
    site.allowed_origins = [origin]
    site.save(update_fields=["allowed_origins"])
    agents = list(User.objects.filter(username__startswith="chat-bench-").order_by("pk"))
    for n in range(len(agents), args.conversations):
        agents.append(
            AgentFactory(
                username=f"chat-bench-{n}",
                first_name=f"Bench{n}",
                profile__teams=[team],
                profile__chat_capacity=1,
            )
        )
    agents = agents[: args.conversations]
    chats: list[Chat] = []
    now = timezone.now()
    for agent in agents:
        conversation = (
            Conversation.objects.filter(site=site, agent=agent, state=ConversationState.ACTIVE)
            .select_related("visitor")
            .first()
        )
        if conversation is None:
            visitor = Visitor.objects.create(site=site, name=f"Customer of {agent.first_name}")
            conversation = start_conversation(
                site=site, visitor=visitor, prechat={}, body="Hello, a question about my order."
            )
            Conversation.objects.filter(pk=conversation.pk).update(
                state=ConversationState.ACTIVE, agent=agent, accepted_at=now
            )
        AgentChatPresence.objects.update_or_create(
            agent=agent,
            defaults={"accepting": True, "active_chats": 1, "last_heartbeat_at": now},
        )
        session = SessionStore()
        session[SESSION_KEY] = str(agent.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = agent.get_session_auth_hash()
        session.create()
        chats.append(
            Chat(
                conversation=conversation.pk,
                token=issue_visitor_token(conversation.visitor),
                cookie=f"{settings.SESSION_COOKIE_NAME}={session.session_key}",
            )
        )
    return chats


def consoles_were_open(world: list[Chat]) -> None:
    """The floor as a server restart finds it: every agent's console sent a heartbeat moments
    ago and reconnects now. (Seeding 1,000 chats takes minutes; without this every agent would
    count as gone, and the first sweep would mark the whole floor away before they connect.)"""
    from django.utils import timezone

    from accounts.models import AgentProfile, Availability
    from chat.models import AgentChatPresence, Conversation

    agents = Conversation.objects.filter(pk__in=[c.conversation for c in world]).values("agent")
    # A sweep after the previous run marked them away: they come back as they left, online.
    AgentProfile.objects.filter(user__in=agents).update(availability=Availability.ONLINE)
    AgentChatPresence.objects.filter(agent__in=agents).update(
        accepting=True, away_by_timeout=False, last_heartbeat_at=timezone.now()
    )


def stored_check(tally: Tally) -> str:
    """The database's word: every message sent is stored exactly once (by its client_id)."""
    from chat.models import ChatLine

    ids = list(tally.sent)
    stored = 0
    for i in range(0, len(ids), 1000):
        stored += ChatLine.objects.filter(client_id__in=ids[i : i + 1000]).count()
    return f"  stored {stored}/{len(ids)}"


class Peer:
    """One end of a chat (customer or agent) that reconnects after a drop and resumes."""

    def __init__(self, url: str, origin: str, cookie: str | None, tally: Tally) -> None:
        self.url, self.origin, self.cookie, self.tally = url, origin, cookie, tally
        self.socket = None
        self.last_seq = 0
        self.up = asyncio.Event()
        self.closing = False
        self.opening = 0.0
        self.tasks: list[asyncio.Task] = []

    kind = "peer"

    async def open(self, attempts: int = 1) -> None:
        for attempt in range(attempts):
            try:
                self.opening = time.monotonic()
                self.socket = await open_socket(self.url, origin=self.origin, cookie=self.cookie)
                taken = (time.monotonic() - self.opening) * 1000
                self.tally.handshake_ms.setdefault(self.kind, []).append(taken)
                break
            except (OSError, TimeoutError, InvalidStatus):
                if attempt == attempts - 1:
                    raise
                self.tally.open_retries += 1
                await asyncio.sleep(1 + random.random() * 2)
        self.up.set()

    async def first_open(self) -> None:
        await self.open(attempts=5)  # a crowd arriving at once: a real client retries too

    async def start(self) -> None:
        """Open, then read at once (a page does not wait for the rest of the crowd)."""
        await self.first_open()
        self.tasks.append(asyncio.create_task(self.run()))

    async def reconnect(self) -> None:
        self.up.clear()
        self.tally.reconnects += 1
        delay = 0.2
        while not self.closing:
            await asyncio.sleep(delay * (0.5 + random.random()))
            try:
                await self.open()
                await self.resumed()
                return
            except (OSError, InvalidStatus, ConnectionClosed, TimeoutError):
                delay = min(delay * 2, 5.0)

    async def resumed(self) -> None:  # what to send after a reconnect
        raise NotImplementedError

    async def run(self) -> None:
        while not self.closing:
            try:
                async for raw in self.socket:
                    self.on_frame(json.loads(raw))
            except ConnectionClosed:
                pass
            code = self.socket.close_code if self.socket is not None else None
            if not self.closing and code is not None:
                self.tally.close_codes[code] = self.tally.close_codes.get(code, 0) + 1
            if not self.closing:
                await self.reconnect()

    def on_frame(self, frame: dict) -> None:
        raise NotImplementedError

    async def send(self, frame: dict) -> None:
        with contextlib.suppress(ConnectionClosed, AttributeError):
            await self.socket.send(json.dumps(frame))

    async def close(self) -> None:
        self.closing = True
        with contextlib.suppress(Exception):
            await self.socket.close()


class Customer(Peer):
    kind = "visitor"

    def __init__(self, *a, **kw) -> None:
        super().__init__(*a, **kw)
        self.unacked: dict[str, str] = {}  # client_id -> body, until our own line comes back

    def on_frame(self, frame: dict) -> None:
        if frame.get("type") == "message.posted":
            self.last_seq = max(self.last_seq, frame["seq"])
            self.unacked.pop(frame.get("client_id") or "", None)
        elif frame.get("type") == "session.resumed" and frame.get("more"):
            # The widget asks for the rest of a long history the same way.
            self.tasks.append(asyncio.create_task(self.resumed()))

    async def first_open(self) -> None:
        # As the widget does on a page of the shop: it knows its chat, so it resumes it (and is
        # sent what it has not seen yet) before the customer types.
        await super().first_open()
        await self.send({"type": "resume", "last_seq": self.last_seq})

    async def resumed(self) -> None:
        await self.send({"type": "resume", "last_seq": self.last_seq})
        for client_id, body in list(self.unacked.items()):  # the widget's resend, same ids
            await self.send({"type": "message.send", "client_id": client_id, "body": body})

    async def say(self, client_id: str) -> None:
        body = "Where is my order? " + client_id[:8]
        self.unacked[client_id] = body
        if self.up.is_set():
            await self.send({"type": "message.send", "client_id": client_id, "body": body})


class Agent(Peer):
    kind = "agent"

    def __init__(self, *a, conversation: int, **kw) -> None:
        super().__init__(*a, **kw)
        self.conversation = conversation

    def on_frame(self, frame: dict) -> None:
        if frame.get("type") == "console.ready":
            taken = (time.monotonic() - self.opening) * 1000
            self.tally.handshake_ms.setdefault("agent, to console.ready", []).append(taken)
        if frame.get("type") == "message.posted" and frame.get("conversation") == self.conversation:
            self.last_seq = max(self.last_seq, frame["seq"])
            if frame.get("client_id"):
                self.tally.delivered_once(frame["client_id"], frame["seq"])

    async def resumed(self) -> None:
        await self.send(
            {"type": "resume", "conversation": self.conversation, "last_seq": self.last_seq}
        )

    async def start(self) -> None:
        await super().start()
        self.tasks.append(asyncio.create_task(self.heartbeats()))

    async def heartbeats(self) -> None:
        while not self.closing:
            await asyncio.sleep(8)
            if self.up.is_set():
                await self.send({"type": "heartbeat"})


async def product_phase(
    args: argparse.Namespace, world: list[Chat], server: Server, kill: bool
) -> Tally:
    from chat.models import Conversation

    tally = Tally("product, one worker killed" if kill else "product (stored, then delivered)")
    await asyncio.to_thread(consoles_were_open, world)
    base = f"ws://127.0.0.1:{args.port}"
    origin = f"http://127.0.0.1:{args.port}"
    last_seqs = dict(
        await asyncio.to_thread(
            lambda: list(
                Conversation.objects.filter(pk__in=[c.conversation for c in world]).values_list(
                    "pk", "last_seq"
                )
            )
        )
    )
    customers, agents = [], []
    for chat in world:
        customer = Customer(
            f"{base}/ws/chat/visitor/?site=chat-bench&token={chat.token}", origin, None, tally
        )
        agent = Agent(
            f"{base}/ws/chat/agent/", origin, chat.cookie, tally, conversation=chat.conversation
        )
        customer.last_seq = agent.last_seq = last_seqs.get(chat.conversation, 0)
        customers.append(customer)
        agents.append(agent)
    # Each conversation's customer and agent arrive together, a bounded number at a time.
    peers = [peer for pair in zip(customers, agents, strict=True) for peer in pair]
    opening = time.monotonic()
    await open_many([p.start for p in peers], args.open_concurrency)
    print(
        f"  {len(peers)} sockets open in {time.monotonic() - opening:.0f}s "
        f"({tally.open_retries} handshakes retried) ({tally.name})"
    )
    for kind, values in tally.handshake_ms.items():
        print(f"    open {kind:<24} {percentiles(values)}")
    await asyncio.sleep(1.0)

    async def killer() -> None:
        await asyncio.sleep(args.seconds / 3)
        victim = server.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        print(f"  killed worker {victim} at t={args.seconds / 3:.0f}s")

    tasks = [asyncio.create_task(killer())] if kill else []
    plan = schedule(args.conversations, args.rate, args.seconds)
    await drive(tally, [c.say for c in customers], plan, settle=30)
    await asyncio.gather(*(peer.close() for peer in peers))  # each waits for its close frame
    tasks += [task for peer in peers for task in peer.tasks]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return tally


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
