"""Handing the memory a merge freed back to the OS, so the process's RSS follows its arrays.

A merge frees arrays of a few to a few tens of MB (the replaced recent segment, the build's
temporaries). glibc's malloc serves allocations below its mmap threshold (which rises to 32 MB
once an array that large is freed) from heaps that it seldom shrinks, and the merge thread
allocates from an arena of its own. Without a trim, a 10M-hash index kept 100-240 MB more than
its arrays over 20 minor merges (up to +17% RSS); with ``malloc_trim(0)`` after each, 40-110 MB.
Where the C library has no ``malloc_trim`` (musl, macOS), releasing does nothing.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable


def _find_trim() -> Callable[[int], int] | None:
    try:
        trim = ctypes.CDLL(None).malloc_trim  # the C library this interpreter already uses
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    found: Callable[[int], int] = trim
    return found


_TRIM = _find_trim()


def release_freed_memory() -> None:
    """Return the free pages of the C heap to the OS (``malloc_trim``; the GIL is released)."""
    if _TRIM is not None:
        _TRIM(0)
