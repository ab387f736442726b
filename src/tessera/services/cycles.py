"""Pausing Python's cycle collector around bulk work of short-lived objects.

A page of the change feed is some hundred thousand short-lived objects (rows, payload dicts,
parsed models) of which none forms a reference cycle. While they live, the cycle collector runs
again and again and traverses the whole heap each time, for nothing: measured, a third of a full
sync's time on the pulling node. Reference counting frees these objects all the same; the
collector is paused only while such work runs and resumes when the last of it ends.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0
_was_enabled = True


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cycle collector for the block (re-entrant, and safe across threads)."""
    global _holders, _was_enabled
    with _lock:
        if _holders == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _was_enabled:
                gc.enable()
