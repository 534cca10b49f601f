"""Chat consoles' heartbeats, written a process's worth at a time.

A console beats every CHAT_HEARTBEAT_SECONDS; a thousand consoles in one server made a hundred
database calls a second, each on a pool thread with a connection of its own, about 6 ms apiece
under load: half a core of the chat benchmark's two (bench/README.md). A beat only has to land
well within the time-out (CHAT_HEARTBEAT_TIMEOUT_SECONDS, 30 by default), so the beats a
process receives are gathered and written together (`routing_engine.heartbeats`: one UPDATE
for the consoles already known to be there), at most once per GATHER_SECONDS. A beat with no
write in progress or due is written at once; the next ones wait at most GATHER_SECONDS.

A console that (re)connects does not wait for this: opening it is a heartbeat of its own
(chat.consumers.agent.console_opened), so an agent who comes online is offered chats at once.
"""

import asyncio
import logging

from chat import routing_engine
from core.loops import PerLoop
from core.threads import off_the_shared_thread

logger = logging.getLogger(__name__)

GATHER_SECONDS = 1.0


def _write(agent_ids: list[int]) -> None:
    routing_engine.heartbeats(agent_ids=agent_ids)
    try:  # the opportunistic sweep: routing never waits for one worker
        routing_engine.sweep_if_due()
    except Exception:
        logger.exception("Chat routing sweep on heartbeat failed")


write_heartbeats = off_the_shared_thread(_write)


class HeartbeatGatherer:
    """One per event loop (one per server process)."""

    def __init__(self) -> None:
        self.pending: set[int] = set()
        self.writer: asyncio.Task[None] | None = None
        self.last_write = float("-inf")

    def beat(self, agent_id: int) -> None:
        self.pending.add(agent_id)
        if self.writer is None or self.writer.done():
            self.writer = asyncio.get_running_loop().create_task(self.write_soon())

    async def write_soon(self) -> None:
        loop = asyncio.get_running_loop()
        wait = self.last_write + GATHER_SECONDS - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        agent_ids, self.pending = sorted(self.pending), set()
        self.last_write = loop.time()
        try:
            await write_heartbeats(agent_ids)
        except Exception:
            # The next beats (in CHAT_HEARTBEAT_SECONDS) try again, long before the time-out.
            logger.exception("Writing %d chat heartbeats failed", len(agent_ids))
        if self.pending:  # beats that came in meanwhile
            self.writer = loop.create_task(self.write_soon())

    async def drain(self) -> None:
        """Wait until every beat received so far is written (tests, shutdown)."""
        while self.writer is not None and not self.writer.done():
            await self.writer


heartbeat_gatherer = PerLoop(HeartbeatGatherer)
