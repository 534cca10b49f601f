"""core.loops.PerLoop: one object per running event loop, made on first use."""

import asyncio

from core.loops import PerLoop


def test_each_loop_has_its_own_and_keeps_it():
    counter = PerLoop(list)

    async def twice() -> tuple[list, list, list | None]:
        return counter(), counter(), counter.of(asyncio.get_running_loop())

    first, again, seen = asyncio.run(twice())
    assert first is again is seen
    other, _, _ = asyncio.run(twice())
    assert other is not first


def test_another_thread_can_look_without_making_one():
    made = PerLoop(object)
    loop = asyncio.new_event_loop()
    try:
        assert made.of(loop) is None
    finally:
        loop.close()
