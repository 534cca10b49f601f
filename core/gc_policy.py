"""Garbage collection for a server process that holds thousands of websockets.

Why: CPython's full (generation-2) collection walks every object the collector tracks, and the
event loop stands still meanwhile. A server process holding a thousand chat sockets tracks
about 300,000 objects (their tasks, coroutines, queues, sessions), and storing a message makes
enough short-lived objects that a full collection came about every 15 s and took 140-270 ms on
a busy 2-core machine: every message in flight waited that long (bench/README.md, "Where the
chat's latency tail comes from").

The policy (ServerGcPolicy):
- once the application is imported, collect and freeze what is left (modules, classes, URL
  patterns: they live as long as the process);
- after every full collection, freeze what survived it: those objects are long-lived (open
  sockets, caches), so the next full collection walks only what was made since;
- every `sweep_seconds`, unfreeze everything, so that the next full collection walks the
  whole heap once and frees the reference cycles left among objects frozen earlier (a closed
  socket's consumer and its tasks). One long pause per period instead of one every 15 s.

Freezing changes nothing for objects freed by reference counting (most of them, frozen or
not); only cyclic garbage among frozen objects waits, for one period at most.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)


class ServerGcPolicy:
    """A `gc.callbacks` entry: freeze after each full collection, unfreeze every period."""

    def __init__(self, sweep_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        if sweep_seconds <= 0:
            raise ValueError("sweep_seconds must be positive")
        self.sweep_seconds = sweep_seconds
        self.clock = clock
        self.last_sweep = clock()
        self.sweeping = False  # unfrozen: the next full collection walks the whole heap
        self.sweeps = 0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        # Called by the collector itself; "stop" comes after the collection is over, when
        # freezing only moves the generations' lists (no collection is walking them).
        if phase != "stop" or info.get("generation") != 2:
            return
        if self.sweeping:
            self.sweeping = False
            self.sweeps += 1
            self.last_sweep = self.clock()
            gc.freeze()
        elif self.clock() - self.last_sweep >= self.sweep_seconds:
            gc.unfreeze()
            self.sweeping = True
        else:
            gc.freeze()


_installed: ServerGcPolicy | None = None


def install_server_gc_policy(sweep_seconds: float) -> ServerGcPolicy | None:
    """Install the policy in this process (once; again is a no-op). 0 or less leaves
    Python's collector as it is. Call it once the application is imported."""
    global _installed
    if sweep_seconds <= 0:
        return None
    if _installed is None:
        gc.collect()
        gc.freeze()
        _installed = ServerGcPolicy(sweep_seconds)
        gc.callbacks.append(_installed)
        logger.debug("Server GC policy: %d objects frozen at start", gc.get_freeze_count())
    return _installed
