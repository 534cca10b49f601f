"""May this agent socket stay open? The one access rule for live agent sockets, and the periodic
re-check of every such socket of a process in one batch.

Sign-out and saves of the user or agent profile reach a socket at once (accounts.live); what
bypasses signals (a session that expires, `QuerySet.update`, a row deleted by hand) is caught by
a re-check every `STREAM_RECHECK_SECONDS` (30, give or take a tenth). Each socket used to run
its own re-check: two to four calls a socket on Channels' one shared database thread, ~65 calls
a second for 1,000 consoles over two workers, queued in front of the chat lines being stored
(bench/README.md, "Where the chat's latency tail comes from"). Now each socket registers here
and one task per process (and event loop) re-checks all of them in one call to a pool thread
with a connection of its own: the sessions, the users with their agent profiles, and whatever
else a kind of socket follows (the chat console's teams), a fixed number of queries whatever
the number of sockets. Only handing each socket its answer runs on the event loop, and that
is cheap: for most sockets it changes nothing.

The mechanism knows nothing of what a socket carries: a socket says who it claims to be
(`recheck_claim`), what else to read for its kind in the same batch (`recheck_extra`, a plain
function over all the agents of that kind), and takes its answer (`recheck_answered`).
"""

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from channels.db import database_sync_to_async
from django.conf import settings

from accounts.live import signed_in_user, signed_in_users
from accounts.models import User
from accounts.selectors import is_agent
from core.loops import PerLoop
from core.threads import off_the_shared_thread

logger = logging.getLogger(__name__)

# Close codes 4xxx are ours; each mirrors the HTTP status it means.
CLOSE_SESSION_ENDED = 4401  # signed out, expired, flushed: sign in again
CLOSE_FORBIDDEN = 4403  # not (or no longer) an active agent

HAND_OUT_SLICE = 100  # answers handed out between two yields to the event loop

Claim = tuple[str, int]  # (session key, user id) a socket was opened with
# Reads, for all the agents of one kind of socket at once, what each of them needs besides
# access (by user id). Runs in the batch's pool thread: a fixed number of queries.
ExtraReader = Callable[[list[User]], Mapping[int, Any]]


@dataclass
class Access:
    refusal: int | None  # a close code, or None: still welcome
    user: User | None = None


def access_of(user: User | None) -> Access:
    """The rule, given what `signed_in_user` found for the socket's session."""
    if user is None:
        return Access(CLOSE_SESSION_ENDED)
    if not is_agent(user):
        return Access(CLOSE_FORBIDDEN)
    return Access(None, user)


@database_sync_to_async
def stream_access(session_key: str | None, user_id: int) -> Access:
    """Is this session still signed in as this user, and are they still an active agent? Two
    small queries (session row, user with profile): at connect and on a `stream.recheck`."""
    return access_of(signed_in_user(session_key, user_id))


class Rechecked(Protocol):
    """A socket the periodic re-check looks after."""

    recheck_extra: ClassVar[ExtraReader | None]

    def recheck_claim(self) -> Claim | None:
        """Who the socket is for now, or None when it has nothing to re-check (ended)."""

    async def recheck_answered(self, access: Access, extra: Any) -> None:
        """Close, or take the fresh user and `extra` (what `recheck_extra` read for them)."""


@dataclass
class Batch:
    """What one re-check reads, gathered on the event loop; plain data for the pool thread."""

    started: float
    sockets: list[tuple[Rechecked, Claim]]
    extras: dict[ExtraReader, set[Claim]] = field(default_factory=dict)


@dataclass
class Answers:
    access: dict[Claim, Access]
    extras: dict[ExtraReader, Mapping[int, Any]]


def check_batch(batch: Batch) -> Answers:
    """Every socket's access, and each kind's extra reads for the agents still welcome: two
    queries per 500 sockets (sessions, users) plus what the extra readers cost (fixed)."""
    found = signed_in_users(claim for _, claim in batch.sockets)
    access = {claim: access_of(user) for claim, user in found.items()}
    extras: dict[ExtraReader, Mapping[int, Any]] = {}
    for reader, claims in batch.extras.items():
        agents = {a.user.pk: a.user for c in claims if (a := access[c]).user is not None}
        extras[reader] = reader(list(agents.values())) if agents else {}
    return Answers(access, extras)


def next_recheck_in() -> float:
    """Seconds to the next re-check: STREAM_RECHECK_SECONDS (30), give or take a tenth, so two
    processes started together do not query in step for ever."""
    period = float(getattr(settings, "STREAM_RECHECK_SECONDS", 30))
    return period * random.uniform(0.9, 1.1)  # noqa: S311 - spreading load, not secrecy


class RecheckRegistry:
    """The live agent sockets of one event loop (one per server process), and the one task
    that re-checks them all; it starts with the first socket and stops with the last."""

    def __init__(self) -> None:
        # socket -> when it last checked itself (a `stream.recheck`): a batch that started
        # before that has nothing newer to tell it.
        self.sockets: dict[Rechecked, float] = {}
        self.task: asyncio.Task[None] | None = None

    def add(self, socket: Rechecked) -> None:
        self.sockets[socket] = 0.0
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self.run())

    def discard(self, socket: Rechecked) -> None:
        self.sockets.pop(socket, None)
        if not self.sockets and self.task is not None:
            task, self.task = self.task, None
            if task is not asyncio.current_task():
                task.cancel()  # asleep, or waiting for a batch nobody needs any more

    def checked(self, socket: Rechecked) -> None:
        """The socket just checked itself (say, on a `stream.recheck`)."""
        if socket in self.sockets:
            self.sockets[socket] = time.monotonic()

    async def run(self) -> None:
        # Until the last socket leaves; a socket that ends in this task's own hand-out cannot
        # cancel it, and a newcomer may then have started the next task: this one steps down.
        me = asyncio.current_task()
        while self.sockets and self.task is me:
            await asyncio.sleep(next_recheck_in())
            try:
                await self.recheck_now()
            except Exception:  # a database hiccup: try again next time
                logger.exception("Re-checking the agent sockets failed")

    def batch(self) -> Batch:
        batch = Batch(started=time.monotonic(), sockets=[])
        for socket in self.sockets:
            claim = socket.recheck_claim()
            if claim is None:
                continue
            batch.sockets.append((socket, claim))
            if (reader := type(socket).recheck_extra) is not None:
                batch.extras.setdefault(reader, set()).add(claim)
        return batch

    async def hand_out(self, batch: Batch, answers: Answers) -> None:
        """Give each socket its answer, yielding to the loop now and then so a thousand sockets
        do not hold it at once."""
        for handed, (socket, claim) in enumerate(batch.sockets, 1):
            if self.sockets.get(socket, batch.started + 1) > batch.started:
                continue  # gone, or checked itself since this batch read
            access = answers.access[claim]
            reader = type(socket).recheck_extra
            extra = answers.extras[reader].get(claim[1]) if reader is not None else None
            try:
                await socket.recheck_answered(access, extra)
            except Exception:
                logger.exception("Handing a re-check to a socket failed")
            if handed % HAND_OUT_SLICE == 0:
                await asyncio.sleep(0)

    async def recheck_now(self) -> int:
        """Re-check every registered socket now; how many were checked. The periodic task calls
        this; so may a test."""
        batch = self.batch()
        if batch.sockets:
            answers = await off_the_shared_thread(check_batch)(batch)
            await self.hand_out(batch, answers)
        return len(batch.sockets)


# The registry of the running event loop: a server process has one loop; a test run starts one
# per test, and a loop's sockets and task go with it.
rechecks = PerLoop(RecheckRegistry)
