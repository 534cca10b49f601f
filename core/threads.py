"""Database work off Channels' one shared database thread."""

import contextvars
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import connections

T = TypeVar("T")


def off_the_shared_thread(function: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """Run `function` in a pool thread with a database connection of its own instead of the
    one database thread that every socket of the process shares (Channels' default). For
    self-contained work only (its own transactions, nothing kept between calls): a console's
    heartbeat, opening a socket. A thousand consoles beat every 10 s; queued behind every other
    socket's work, their beats arrived late, the sweep marked live agents away, and their next
    beats brought them back: writes and audit entries in a loop.

    The call runs in an empty context: Django keeps connections per async context, and the
    socket's other calls (on the shared thread, at the same time) must not share this one's
    connection. It is handed back (to the pool) before returning."""

    def isolated(*args: Any, **kwargs: Any) -> T:
        def run() -> T:
            try:
                return function(*args, **kwargs)
            finally:
                connections.close_all()

        return contextvars.Context().run(run)

    return sync_to_async(isolated, thread_sensitive=False)
