"""The product's ASGI app with timings written down, for bench/chat_bench.py --trace. Not part
of the product: what it records is what the chat's latency tail is made of.

    BENCH_TRACE_DIR=/tmp/trace uvicorn bench.traced_asgi:application --workers 2

Each server process appends JSON lines to BENCH_TRACE_DIR/<pid>.jsonl, every time a
time.monotonic() reading (one clock for the whole machine, so the client's send and delivery
times line up with them):
- "call": one sync_to_async / database_sync_to_async call: its function, when it was asked for
  (queued), when its thread took it (start), when it returned (end), the SQL it ran (count,
  ms), the time spent in COMMIT, and the message's client_id for post_line;
- "gc": one garbage collection (generation, start, end);
- "frozen": BENCH_GC_FREEZE (see below) froze this many objects, in all;
- "lag": the event loop was late by more than 5 ms waking a probe that sleeps 10 ms (something
  held the loop: a collection, sync code on the loop, a burst of frames).
"""

import contextvars
import gc
import json
import os
import sys
import threading
import time
from typing import Any

from asgiref.sync import SyncToAsync
from channels.db import DatabaseSyncToAsync
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper

from helpdesk.asgi import application as product

TRACE_DIR = os.environ["BENCH_TRACE_DIR"]
_out = open(os.path.join(TRACE_DIR, f"{os.getpid()}.jsonl"), "a", buffering=1)  # noqa: SIM115
_write_lock = threading.Lock()


def _record(**fields: Any) -> None:
    line = json.dumps(fields)
    with _write_lock:
        _out.write(line + "\n")


# --- garbage collections ------------------------------------------------------------------
_gc_started = 0.0


def _on_gc(phase: str, info: dict[str, int]) -> None:
    global _gc_started
    if phase == "start":
        _gc_started = time.monotonic()
    else:
        _record(k="gc", gen=info["generation"], t0=_gc_started, t1=time.monotonic())
        if GC_FREEZE == "full" and info["generation"] == 2:
            global _freeze_due
            _freeze_due = True  # not from inside the collector's callback: at the next probe


gc.callbacks.append(_on_gc)

# BENCH_GC_FREEZE=import: gc.freeze() once the app is imported (every module, model and URL
# pattern out of the collector's reach): how much of a full collection is the imported code.
# BENCH_GC_FREEZE=full: gc.freeze() after every full collection, so the next one only walks
# what was made since (the sockets' objects, long-lived too): what the tail is without them.
GC_FREEZE = os.environ.get("BENCH_GC_FREEZE", "")

# BENCH_SWITCH_INTERVAL=0.0005: how long a thread may hold the GIL while another waits (Python's
# default 5 ms). A database thread waking from each of post_line's 8 queries waits for the GIL
# held by the event loop or a pool thread: up to this long, each time.
if os.environ.get("BENCH_SWITCH_INTERVAL"):
    sys.setswitchinterval(float(os.environ["BENCH_SWITCH_INTERVAL"]))
_freeze_due = False
if GC_FREEZE == "import":
    gc.collect()
    gc.freeze()
    _record(k="frozen", objects=gc.get_freeze_count(), t0=time.monotonic())


# --- SQL and COMMIT, counted per sync call ------------------------------------------------
_tally = threading.local()


def _timed_sql(execute, sql, params, many, context):
    started = time.monotonic()
    try:
        return execute(sql, params, many, context)
    finally:
        if getattr(_tally, "on", False):
            _tally.queries += 1
            _tally.sql_ms += (time.monotonic() - started) * 1000


_commit = BaseDatabaseWrapper._commit


def _timed_commit(self: BaseDatabaseWrapper) -> None:
    started = time.monotonic()
    try:
        _commit(self)
    finally:
        taken = (time.monotonic() - started) * 1000
        if getattr(_tally, "on", False):
            _tally.commit_ms += taken
            _tally.commits += 1


BaseDatabaseWrapper._commit = _timed_commit  # type: ignore[method-assign]


# --- sync_to_async calls: queued, started, ended ------------------------------------------
_asked: contextvars.ContextVar[float] = contextvars.ContextVar("asked")
_call = SyncToAsync.__call__


async def _traced_call(self: SyncToAsync, *args: Any, **kwargs: Any) -> Any:
    _asked.set(time.monotonic())
    return await _call(self, *args, **kwargs)


def _closed_over(func: Any) -> dict[str, Any]:
    """The variables a nested function closes over (cheaper than inspect.getclosurevars)."""
    code, cells = getattr(func, "__code__", None), getattr(func, "__closure__", None) or ()
    if code is None:
        return {}
    return {
        name: cell.cell_contents
        for name, cell in zip(code.co_freevars, cells, strict=True)
        if name in ("context", "function")
    }


def _traced(handler: Any) -> Any:
    """A thread_handler that records its call; database_sync_to_async's own one (which returns
    the connection to the pool before and after) is timed whole, its inner one not again."""

    def traced_handler(self: SyncToAsync, *args: Any, **kwargs: Any) -> Any:
        if getattr(_tally, "on", False):
            return handler(self, *args, **kwargs)
        return _run_traced(handler, self, *args, **kwargs)

    return traced_handler


def _run_traced(handler: Any, self: SyncToAsync, *args: Any, **kwargs: Any) -> Any:
    start = time.monotonic()
    # asgiref calls thread_handler(loop, exc_info, task_context, func, child) outside the
    # caller's context: `func` closes over that context (where _traced_call stamped the time)
    # and `child` is the function with its arguments bound.
    func, child = args[-2], args[-1]
    context = _closed_over(func).get("context")
    queued = context.get(_asked, start) if isinstance(context, contextvars.Context) else start
    client_id = getattr(child, "keywords", {}).get("client_id")
    client_id = client_id if isinstance(client_id, str) else None
    connection = connections["default"]
    if _timed_sql not in connection.execute_wrappers:
        connection.execute_wrappers.append(_timed_sql)
    _tally.on, _tally.queries, _tally.sql_ms, _tally.commits, _tally.commit_ms = (
        True,
        0,
        0.0,
        0,
        0.0,
    )
    try:
        return handler(self, *args, **kwargs)
    finally:
        _tally.on = False
        # off_the_shared_thread's wrapper is named for what it wraps.
        wrapped = _closed_over(self.func).get("function", self.func)
        name = getattr(wrapped, "__qualname__", None) or repr(wrapped)[:60]
        _record(
            k="call",
            fn=name,
            sensitive=bool(self._thread_sensitive),
            thread=threading.get_ident(),
            queued=queued,
            start=start,
            end=time.monotonic(),
            queries=_tally.queries,
            sql_ms=round(_tally.sql_ms, 3),
            commits=_tally.commits,
            commit_ms=round(_tally.commit_ms, 3),
            client_id=client_id,
        )


SyncToAsync.__call__ = _traced_call  # type: ignore[method-assign]
SyncToAsync.thread_handler = _traced(SyncToAsync.thread_handler)  # type: ignore[method-assign]
DatabaseSyncToAsync.thread_handler = _traced(DatabaseSyncToAsync.thread_handler)  # type: ignore[method-assign]


# --- event-loop lag -----------------------------------------------------------------------
_probe_started = False


async def _probe_loop() -> None:
    import asyncio

    while True:
        before = time.monotonic()
        await asyncio.sleep(0.010)
        late = (time.monotonic() - before - 0.010) * 1000
        global _freeze_due
        if _freeze_due:
            _freeze_due = False
            gc.freeze()
            _record(k="frozen", objects=gc.get_freeze_count(), t0=time.monotonic())
        if late > 5:
            _record(k="lag", t0=before + 0.010, ms=round(late, 3))


# BENCH_GC_CENSUS=SECONDS: that long after the first request, write how many objects the
# collector tracks, by type (the 40 most common): what a full collection has to walk.
CENSUS_AFTER = float(os.environ.get("BENCH_GC_CENSUS", "0") or 0)


async def _census() -> None:
    import asyncio
    from collections import Counter

    await asyncio.sleep(CENSUS_AFTER)
    objects = gc.get_objects()
    kinds = Counter(type(thing).__qualname__ for thing in objects)
    _record(
        k="census",
        t0=time.monotonic(),
        tracked=len(objects),
        frozen=gc.get_freeze_count(),
        top=kinds.most_common(40),
    )
    del objects


async def application(scope: dict, receive: Any, send: Any) -> None:
    global _probe_started
    if not _probe_started:
        import asyncio

        _probe_started = True
        asyncio.get_running_loop().create_task(_probe_loop())
        if CENSUS_AFTER:
            asyncio.get_running_loop().create_task(_census())
    await product(scope, receive, send)
