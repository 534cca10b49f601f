"""What opening a chat socket costs, whatever the size of the floor: an agent's console and a
visitor's widget connect with a fixed number of SQL queries, with 5 or 50 conversations (and as
many agents at their consoles) in the database; and the periodic re-check of every agent socket
of a process costs a fixed number too, whatever their number. The 1,000-conversation bench
opens 2,000 such sockets at once (bench/chat_bench.py), so anything here that grows with the
floor is a storm."""

import time
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.core.cache import cache
from django.db.backends.utils import CursorWrapper
from django.utils import timezone

from accounts.models import AgentProfile, Availability
from chat import routing_engine
from chat.models import AgentChatPresence, Conversation, ConversationState
from chat.services import issue_visitor_token
from tests.chat.routing_support import make_site, online_agent, waiting_chat
from tests.chat.test_agent_consumer import console_for
from tests.chat.visitors import SHOP, visitor_socket
from tests.stream import connected_socket_for, frame_where
from tickets.rechecks import rechecks

SWEEP_KEY = "chat.routing.sweep"
TRANSACTION_CONTROL = ("BEGIN", "SAVEPOINT", "RELEASE", "COMMIT", "ROLLBACK")

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("private_channel_layer"),
]


def floor_of(team, size: int) -> list:
    """`size` agents at their consoles, each holding one active chat (capacity 1), like the
    bench's world."""
    site = make_site(team, allowed_origins=[SHOP])
    agents = []
    for n in range(size):
        agent = online_agent(team, username=f"agent{n}", capacity=1)
        chat = waiting_chat(site, name=f"Customer {n}", enqueue=False)
        Conversation.objects.filter(pk=chat.pk).update(
            state=ConversationState.ACTIVE, agent=agent, accepted_at=timezone.now()
        )
        agents.append(agent)
    return agents


class Queries:
    """Every SQL statement run while the socket connects, from whichever thread runs it (the
    consumer's database calls run in a worker thread of their own, where a thread-local
    CaptureQueriesContext would not see them). It observes the real database; nothing is
    replaced."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.statements: list[str] = []
        self.recording = False
        original = CursorWrapper.execute

        def execute(cursor: CursorWrapper, sql: str, params: object = None) -> object:
            # Transaction control differs by backend (SQLite's BEGIN IMMEDIATE, savepoints):
            # counted are the statements that read or write.
            if self.recording and not sql.startswith(TRANSACTION_CONTROL):
                self.statements.append(sql)
            return original(cursor, sql, params)

        monkeypatch.setattr(CursorWrapper, "execute", execute)

    async def __aenter__(self) -> "Queries":
        self.recording = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.recording = False

    def __len__(self) -> int:
        return len(self.statements)

    def sql(self) -> str:
        return "\n".join(statement[:300] for statement in self.statements)


async def ready_console(socket) -> float:
    """Connect and wait for console.ready; returns the milliseconds it took."""
    started = time.perf_counter()
    connected, _ = await socket.connect()
    assert connected
    await frame_where(socket, lambda f: f["type"] == "console.ready")
    return (time.perf_counter() - started) * 1000


def silent_for_minutes(agent) -> None:
    long_ago = timezone.now() - timedelta(minutes=5)
    AgentChatPresence.objects.filter(agent=agent).update(last_heartbeat_at=long_ago)


def sweep_due() -> None:
    cache.delete(SWEEP_KEY)  # the worst case: this connect's heartbeat runs the routing sweep


# Session and user twice (the auth middleware, then the consumer's own re-check after it has
# subscribed), the heartbeat, the sweep with nothing to do (offers due, consoles gone quiet,
# orphaned chats, anyone waiting), the console's chats and teams.
CONSOLE_QUERIES = 11
# A console back after a silence: the heartbeat locks and reads its presence and profile, marks
# it routable and looks for chats waiting in its teams.
RETURNING_CONSOLE_QUERIES = 16
# A console the sweep marked away meanwhile: also the profile back to online (locked, saved, an
# audit entry) and, after commit, routing hears of the availability change.
MARKED_AWAY_CONSOLE_QUERIES = 25


@pytest.mark.parametrize("size", [5, 50])
async def test_a_console_connects_in_fixed_queries(team, size, monkeypatch):
    agents = await database_sync_to_async(floor_of)(team, size)
    socket = await console_for(agents[0])  # signed in before counting
    await database_sync_to_async(sweep_due)()
    async with Queries(monkeypatch) as queries:
        took = await ready_console(socket)
    print(f"console connect, {size} agents: {len(queries)} queries, {took:.1f} ms")
    assert len(queries) == CONSOLE_QUERIES, queries.sql()
    await socket.disconnect()


@pytest.mark.parametrize("size", [5, 50])
async def test_a_console_back_after_a_silence_connects_in_fixed_queries(team, size, monkeypatch):
    agents = await database_sync_to_async(floor_of)(team, size)
    await database_sync_to_async(silent_for_minutes)(agents[0])
    socket = await console_for(agents[0])
    await database_sync_to_async(sweep_due)()
    async with Queries(monkeypatch) as queries:
        took = await ready_console(socket)
    print(f"console back after silence, {size} agents: {len(queries)} queries, {took:.1f} ms")
    assert len(queries) == RETURNING_CONSOLE_QUERIES, queries.sql()
    await socket.disconnect()


def visitor_token_of(agent) -> tuple[str, str]:
    conversation = Conversation.objects.select_related("visitor", "site").get(agent=agent)
    return conversation.site.key, issue_visitor_token(conversation.visitor)


# The site by its key, the visitor of the token, their current chat.
VISITOR_QUERIES = 3


@pytest.mark.parametrize("size", [5, 50])
async def test_a_visitor_connects_in_fixed_queries(team, size, monkeypatch):
    agents = await database_sync_to_async(floor_of)(team, size)
    site_key, token = await database_sync_to_async(visitor_token_of)(agents[0])
    socket = visitor_socket(site_key, token)
    async with Queries(monkeypatch) as queries:
        started = time.perf_counter()
        connected, _ = await socket.connect()
        took = (time.perf_counter() - started) * 1000
    print(f"visitor connect, {size} chats: {len(queries)} queries, {took:.1f} ms")
    assert connected
    assert len(queries) == VISITOR_QUERIES, queries.sql()
    await socket.send_json_to({"type": "ping"})
    assert (await socket.receive_json_from(timeout=3))["type"] == "pong"
    await socket.disconnect()


def marked_away_by_the_sweep(agent) -> None:
    silent_for_minutes(agent)
    assert routing_engine.mark_away_stale_agents() == [agent.pk]


@pytest.mark.parametrize("size", [5, 50])
async def test_a_console_marked_away_by_the_sweep_connects_in_fixed_queries(
    team, size, monkeypatch
):
    agents = await database_sync_to_async(floor_of)(team, size)
    await database_sync_to_async(marked_away_by_the_sweep)(agents[0])
    socket = await console_for(agents[0])
    await database_sync_to_async(sweep_due)()
    async with Queries(monkeypatch) as queries:
        took = await ready_console(socket)
    print(f"console marked away, {size} agents: {len(queries)} queries, {took:.1f} ms")
    assert len(queries) == MARKED_AWAY_CONSOLE_QUERIES, queries.sql()
    profile = await database_sync_to_async(AgentProfile.objects.get)(user=agents[0])
    assert profile.availability == Availability.ONLINE  # back, as the rules say
    await socket.disconnect()


# The sessions by key, the users with their agent profiles, the consoles' teams: one query each
# per 500 (tickets.rechecks). The event stream needs only the first two.
RECHECK_QUERIES = 3


@pytest.mark.parametrize("size", [1, 10])
async def test_rechecking_every_agent_socket_costs_fixed_queries(team, size, monkeypatch):
    agents = await database_sync_to_async(floor_of)(team, size)
    sockets = []
    for agent in agents:  # each agent with a console and an event stream: 2 or 20 sockets
        console = await console_for(agent)
        await ready_console(console)
        sockets += [console, await connected_socket_for(agent)]
    async with Queries(monkeypatch) as queries:
        started = time.perf_counter()
        checked = await rechecks().recheck_now()
        took = (time.perf_counter() - started) * 1000
    print(f"re-check of {checked} sockets: {len(queries)} queries, {took:.1f} ms")
    assert checked == len(sockets) == 2 * size
    assert len(queries) == RECHECK_QUERIES, queries.sql()
    for socket in sockets:  # every one still welcome, and still open
        await socket.send_json_to({"type": "ping"})
        assert (await frame_where(socket, lambda f: f["type"] == "pong"))["type"] == "pong"
        await socket.disconnect()
