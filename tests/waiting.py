"""Waiting on a condition with a deadline: the only way tests wait (never a fixed sleep)."""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float = 15.0, every: float = 0.05) -> T:
    """Return the condition's first truthy value; fail if it has none within `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        if result := condition():
            return result
        if time.monotonic() >= deadline:
            name = getattr(condition, "__name__", repr(condition))
            raise AssertionError(f"Timed out after {timeout}s waiting for {name}")
        time.sleep(every)  # the polling interval, not a wait for something to happen
