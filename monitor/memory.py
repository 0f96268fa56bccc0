"""Memory housekeeping: one malloc heap for all threads, CPython's free lists emptied and
freed heap handed back to the kernel after a cycle, and what start-up left alive out of the
cyclic GC's way.

A cycle of a large workspace allocates and frees tens of megabytes (page bodies, the rows it
writes, the new metrics render). glibc keeps freed chunks inside its heap, so without this
the container's RSS settles near the peak of the largest cycle instead of following the live
data. `malloc_trim(0)` releases free pages anywhere in the heap; elsewhere (musl, macOS)
this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import os
from collections.abc import Callable

_trim: Callable[[int], int] | None = None
_mallopt: Callable[[int, int], int] | None = None
try:
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    _trim = _libc.malloc_trim
    _mallopt = _libc.mallopt
except (OSError, AttributeError):  # not glibc
    _trim = _mallopt = None
_M_ARENA_MAX = -8  # glibc's mallopt parameter


def use_one_malloc_arena() -> bool:
    """Let every thread allocate from one glibc heap; False where it cannot be set.

    glibc gives each thread that allocates its own heap (up to eight per core). The store's
    worker and the thread that judges a cycle each kept a megabyte or more of freed memory
    in theirs, ~100 B per account at 10,000 (bench/cycle.py). The daemon's threads take turns
    with the event loop, so sharing one heap costs them no waiting. Call it before threads
    start; a MALLOC_ARENA_MAX set by the operator wins.
    """
    if _mallopt is None or "MALLOC_ARENA_MAX" in os.environ:
        return False
    return bool(_mallopt(_M_ARENA_MAX, 1))


def release_free_memory() -> bool:
    """Return freed heap pages to the kernel; False where the C library cannot."""
    if _trim is None:
        return False
    _trim(0)
    return True


class FreeLists:
    """Runs a full collection at most once per `every` seconds, between cycles.

    Only a full collection empties CPython's free lists (tuples above all, up to 2,000 kept
    per size). A cycle makes few objects the GC tracks, so automatic full collections came
    once per ~12 minutes in the soak, and the lists grew the daemon's RSS by ~0.15 MiB a
    minute until then. A collection walks only what start-up did not freeze.
    """

    def __init__(self, now: float, every: float = 60.0) -> None:
        self.every = every
        self.last = now  # start-up has just collected (settle_after_start)

    def empty_if_due(self, now: float) -> bool:
        """Collect if `every` seconds have passed since the last time; True when it did."""
        if now - self.last < self.every:
            return False
        gc.collect()
        self.last = now
        return True


def settle_after_start() -> None:
    """Take what start-up left alive (modules, settings, the loaded state) out of the cyclic
    GC's sight: it lives as long as the process, yet every full collection walked all of it
    again, ~0.3 µs per account of a 100,000-account cycle. Reference counting still frees
    these objects when the state moves on; only a reference cycle among them would stay.
    """
    gc.collect()
    gc.freeze()
