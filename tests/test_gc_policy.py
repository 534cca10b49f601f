"""The server's garbage-collection policy (core.gc_policy): freeze what survives each full
collection, unfreeze once per period so that one full collection walks the whole heap."""

import gc
import weakref

import pytest

from core.gc_policy import ServerGcPolicy, install_server_gc_policy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def policy():
    clock = Clock()
    policy = ServerGcPolicy(sweep_seconds=600, clock=clock)
    policy.clock_at = clock  # type: ignore[attr-defined]
    gc.unfreeze()
    gc.callbacks.append(policy)
    yield policy
    gc.callbacks.remove(policy)
    gc.unfreeze()


class Survivor:
    """A cycle nobody refers to: only a collection that walks it can free it."""

    def __init__(self) -> None:
        self.me = self


def test_a_full_collection_freezes_what_survived_it(policy):
    kept = [Survivor() for _ in range(100)]
    gc.collect()
    assert gc.get_freeze_count() > len(kept)
    assert not any(isinstance(thing, Survivor) for thing in gc.get_objects())  # out of reach


def test_young_collections_freeze_nothing(policy):
    gc.collect(1)
    assert gc.get_freeze_count() == 0


def test_frozen_cycles_wait_for_the_sweep_and_are_freed_by_it(policy):
    made = [Survivor() for _ in range(50)]
    watched = [weakref.ref(survivor) for survivor in made]

    def alive() -> int:
        return sum(1 for ref in watched if ref() is not None)

    gc.collect()  # they are alive: frozen
    del made
    gc.collect()  # a full collection that does not walk the frozen: they stay
    assert alive() == 50
    assert gc.get_freeze_count() > 0
    frozen = gc.get_freeze_count()
    policy.clock_at.now += 599
    gc.collect()
    assert not policy.sweeping
    assert policy.sweeps == 0
    assert gc.get_freeze_count() >= frozen  # still frozen: the period has not passed

    policy.clock_at.now += 2
    gc.collect()  # period over: this collection unfreezes everything
    assert policy.sweeping
    assert gc.get_freeze_count() == 0
    gc.collect()  # the whole-heap collection: the cycles are freed, the rest frozen again
    assert policy.sweeps == 1
    assert not policy.sweeping
    assert alive() == 0
    assert gc.get_freeze_count() > 0
    assert policy.last_sweep == policy.clock_at.now


def test_no_period_leaves_pythons_collector_alone():
    callbacks = list(gc.callbacks)
    assert install_server_gc_policy(0) is None
    assert gc.callbacks == callbacks


def test_a_period_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        ServerGcPolicy(sweep_seconds=0)
