"""Give freed heap memory back to the kernel after a cycle.

A cycle of a large workspace allocates and frees tens of megabytes (page bodies, the rows it
writes, the new metrics render). glibc keeps freed chunks inside its heap, so without this
the container's RSS settles near the peak of the largest cycle instead of following the live
data. `malloc_trim(0)` releases free pages anywhere in the heap; elsewhere (musl, macOS)
this is a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable

_trim: Callable[[int], int] | None = None
try:
    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    _trim = _libc.malloc_trim
except (OSError, AttributeError):  # not glibc
    _trim = None


def release_free_memory() -> bool:
    """Return freed heap pages to the kernel; False where the C library cannot."""
    if _trim is None:
        return False
    _trim(0)
    return True
