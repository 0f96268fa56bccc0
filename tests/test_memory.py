"""Memory housekeeping: one malloc heap, freed heap back to the kernel, start-up objects out of
the GC."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from monitor.memory import release_free_memory, settle_after_start, use_one_malloc_arena


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
