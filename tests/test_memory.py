"""Memory housekeeping: one malloc heap, freed heap back to the kernel, start-up objects out of
the GC."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator

import pytest

from monitor.memory import (
    FreeLists,
    release_free_memory,
    settle_after_start,
    use_one_malloc_arena,
)


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # the rest of the test run keeps a normal GC


def test_settle_after_start_hides_living_objects_from_the_gc(unfrozen: None) -> None:
    """Objects alive at the call are no longer walked by collections; new ones still are."""
    loaded: list[list[int]] = [[i] for i in range(100)]
    settle_after_start()
    assert gc.get_freeze_count() >= len(loaded)
    tracked = gc.get_objects()
    assert not any(o is loaded[0] for o in tracked)
    later = [0]
    assert gc.is_tracked(later) and any(o is later for o in gc.get_objects())


def test_release_free_memory_trims_the_heap_on_glibc() -> None:
    """Linux with glibc (CI, the image) has malloc_trim; the call reports it ran."""
    assert release_free_memory() is True


def test_one_malloc_arena_unless_the_operator_chose(monkeypatch: pytest.MonkeyPatch) -> None:
    """glibc takes the limit; an operator's MALLOC_ARENA_MAX is left to rule."""
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    assert use_one_malloc_arena() is True
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert use_one_malloc_arena() is False


def test_free_lists_are_emptied_once_due() -> None:
    """A due call runs a full collection, which hands the tuples CPython kept for reuse back
    to its allocator; a call before `every` seconds have passed does nothing."""
    free_lists = FreeLists(now=1000.0, every=60.0)
    full = gc.get_stats()[2]["collections"]
    assert free_lists.empty_if_due(1059.0) is False
    assert gc.get_stats()[2]["collections"] == full

    rows = [(i, i, i) for i in range(5000)]
    del rows  # up to 2,000 of them stay allocated, kept for the next 3-tuples
    before = sys.getallocatedblocks()
    assert free_lists.empty_if_due(1060.0) is True
    assert gc.get_stats()[2]["collections"] > full
    assert sys.getallocatedblocks() < before - 1000
    assert free_lists.empty_if_due(1119.0) is False  # the clock restarts from the collection
