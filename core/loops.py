"""One object per running event loop: what a server process keeps for all its sockets (a
sender of events, a gatherer of heartbeats, the registry of sockets to re-check). A server
process runs one loop; a test run starts one per test, and a loop's object goes with it."""

import asyncio
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    def __init__(self, factory: Callable[[], T]) -> None:
        self.factory = factory
        self.instances: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = (
            weakref.WeakKeyDictionary()
        )

    def __call__(self) -> T:
        """The running loop's object, made on first use (call it on the loop)."""
        loop = asyncio.get_running_loop()
        instance = self.instances.get(loop)
        if instance is None:
            instance = self.instances[loop] = self.factory()
        return instance

    def of(self, loop: asyncio.AbstractEventLoop) -> T | None:
        """That loop's object if it has one yet (from any thread; makes none)."""
        return self.instances.get(loop)
