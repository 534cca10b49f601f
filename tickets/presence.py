"""Who has a ticket open right now, and who is typing a reply on it: collision detection.

Every write here is one function (the agent stream's consumer calls them; it writes nothing
itself), and every change to a ticket's viewers is announced on the agent stream as
`{"type": "presence.changed", "ticket": id, "viewers": [{"id", "name", "typing"}]}`.

Where it lives, and why the cache: presence is a few bytes per open ticket, rewritten every
20 s by every agent who has one open (and every 3 s while typing), worthless after 45 s and
never needed for history or reports. Django's cache gives exactly that: shared by every server
process on Redis in production (`REDIS_URL`), in process memory on the embedded default (one
process), with expiry built in. Rows in the database would mean a steady stream of writes,
a sweep for dead rows, and a migration for data nobody reads twice.

One cache entry per ticket holds its sockets (a person with two tabs open counts once) and the
viewer list last announced. Each change runs under a short lock taken with `cache.add` (atomic
on Redis and locmem) so two processes updating the same ticket never lose each other's entry.
An entry lapses `PRESENCE_TTL_SECONDS` (45) after its socket's last viewing/typing frame; typing
lapses `PRESENCE_TYPING_SECONDS` (6) after the last typing frame. The socket that owns an entry
wakes at those moments and calls `refresh_presence`, which prunes and announces; any other
update of the same ticket prunes too, so an entry left by a crashed server process disappears
with the next frame anyone sends about that ticket (and the cache drops the whole entry soon
after its last write).
"""

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from tickets import events

logger = logging.getLogger(__name__)

PRESENCE_CHANGED = "presence.changed"
DEFAULT_TTL_SECONDS = 45.0
DEFAULT_TYPING_SECONDS = 6.0
LOCK_SECONDS = 5  # a lock outlives a crashed holder by at most this
LOCK_WAIT_SECONDS = 1.0

Sockets = dict[str, dict[str, Any]]


def presence_ttl() -> float:
    return float(getattr(settings, "PRESENCE_TTL_SECONDS", DEFAULT_TTL_SECONDS))


def typing_ttl() -> float:
    return float(getattr(settings, "PRESENCE_TYPING_SECONDS", DEFAULT_TYPING_SECONDS))


@dataclass(frozen=True)
class Presence:
    """A ticket's viewers after an update, and when the caller's own entry lapses."""

    viewers: list[dict[str, Any]]
    announced: bool  # whether the update changed the viewers (and so was announced)
    until: float = 0.0  # wall-clock seconds; 0 when the caller has no entry
    typing_until: float = 0.0


def _key(ticket_id: int) -> str:
    return f"tickets.presence.{int(ticket_id)}"


@contextmanager
def _locked(ticket_id: int) -> Iterator[None]:
    lock, token = _key(ticket_id) + ".lock", uuid.uuid4().hex
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while not cache.add(lock, token, timeout=LOCK_SECONDS):
        if time.monotonic() > deadline:
            # A holder that died keeps the lock for LOCK_SECONDS; presence is advisory, so go
            # ahead rather than keep an agent's socket waiting.
            logger.warning("Presence lock for ticket %s not free; updating anyway", ticket_id)
            break
        time.sleep(0.005)
    try:
        yield
    finally:
        if cache.get(lock) == token:
            cache.delete(lock)


def _viewers(sockets: Sockets, now: float) -> list[dict[str, Any]]:
    people: dict[int, dict[str, Any]] = {}
    for entry in sockets.values():
        person = people.setdefault(
            entry["user"], {"id": entry["user"], "name": entry["name"], "typing": False}
        )
        person["typing"] = person["typing"] or entry["typing_until"] > now
    return sorted(people.values(), key=lambda person: (person["name"].lower(), person["id"]))


def _update(ticket_id: int, change: Callable[[Sockets, float], None]) -> Presence:
    key = _key(ticket_id)
    with _locked(ticket_id):
        state = cache.get(key) or {"sockets": {}, "announced": []}
        now = time.time()
        change(state["sockets"], now)
        sockets = {name: e for name, e in state["sockets"].items() if e["until"] > now}
        viewers = _viewers(sockets, now)
        announced = viewers != state["announced"]
        if sockets:
            cache.set(key, {"sockets": sockets, "announced": viewers}, timeout=presence_ttl() + 30)
        else:
            cache.delete(key)
    if announced:
        events.broadcast(
            events.AGENT_STREAM_GROUP, PRESENCE_CHANGED, {"ticket": ticket_id, "viewers": viewers}
        )
    return Presence(viewers=viewers, announced=announced)


def note_viewing(
    *, ticket_id: int, user_id: int, name: str, socket: str, typing: bool = False
) -> Presence:
    """This socket (a channel name) has the ticket open; with `typing`, its person is typing a
    reply. The caller has checked that the person may see the ticket."""
    mine: dict[str, Any] = {}

    def change(sockets: Sockets, now: float) -> None:
        entry = sockets.get(socket) or {"user": user_id, "name": name, "typing_until": 0.0}
        entry["until"] = now + presence_ttl()
        if typing:
            entry["typing_until"] = now + typing_ttl()
        sockets[socket] = entry
        mine.update(entry)

    result = _update(ticket_id, change)
    return Presence(
        viewers=result.viewers,
        announced=result.announced,
        until=mine["until"],
        typing_until=mine["typing_until"],
    )


def note_left(*, ticket_id: int, socket: str) -> Presence:
    """This socket closed the ticket (or went away)."""

    def change(sockets: Sockets, now: float) -> None:
        sockets.pop(socket, None)

    return _update(ticket_id, change)


def refresh_presence(*, ticket_id: int) -> Presence:
    """Drop lapsed entries and typing flags, and announce if that changed the viewers."""
    return _update(ticket_id, lambda sockets, now: None)


def viewers_of(ticket_id: int) -> list[dict[str, Any]]:
    """Who has the ticket open now (read only)."""
    state = cache.get(_key(ticket_id)) or {"sockets": {}}
    now = time.time()
    live = {name: e for name, e in state["sockets"].items() if e["until"] > now}
    return _viewers(live, now)
