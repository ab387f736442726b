"""Who holds a signal (its entry and bank), remembered exactly between changes of the store.

A lookup that hits the index must resolve each hit through the store (is the entry still live,
may the caller see its bank, which threshold applies), and that read costs more than the search.
Every write to banks, entries and signals appends to the change log in the same transaction, so
the change log's newest sequence number is a version of everything a resolution reads: owners
read while it was ``n`` hold for as long as it is still ``n``, in this process or any other.

Flow of ``OwnerCache.resolve`` (and of ``cached``, its memory-only half):
1. ``ChangeProbe.version`` reads the newest sequence number: SQLite's ``PRAGMA data_version`` on
   a connection of the probe's own says whether any connection (of any process) committed since
   the last probe, a few microseconds; only then is ``max(seq)`` read again;
2. a version other than the one the cache was filled at empties the cache;
3. owners in the cache are answered from memory; the others are read from the store and kept,
   unless the version moved meanwhile. A read that starts after the probe sees at least that
   version, so nothing older than the version is ever kept (something newer only empties the
   cache one probe early).

Stores without a probe (PostgreSQL, in-memory SQLite) or a probe error: every resolution reads
the store, as without a cache.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterable

from tessera.store.probe import ChangeProbe
from tessera.store.records import SignalOwner

OWNERS_KEPT = 20_000
"""At most this many owners are kept (then the cache starts over): a bound on memory."""

LONGEST_KEPT_VALUE = 256
"""Owners of longer signal values (video and audio fingerprints) are read from the store each
time: they would make the bound above a bound on count only."""

ReadOwners = Callable[[Iterable[int]], dict[int, SignalOwner]]


class OwnerCache:
    """Signal owners as the store holds them now, kept while the change log does not move."""

    def __init__(self, probe: ChangeProbe | None, limit: int = OWNERS_KEPT) -> None:
        self.probe = probe
        self.limit = limit
        self._version: int | None = None
        self._owners: dict[int, SignalOwner] = {}
        self._lock = threading.Lock()

    def cached(self, ids: Collection[int]) -> dict[int, SignalOwner] | None:
        """The owners of ``ids`` from memory alone; None when any of them needs the store."""
        version = self._probe()
        if version is None:
            return None
        with self._lock:
            self._adopt(version)
            found = {i: self._owners.get(i) for i in ids}
        if any(owner is None for owner in found.values()):
            return None
        return {i: owner for i, owner in found.items() if owner is not None}

    def resolve(self, ids: Collection[int], read: ReadOwners) -> dict[int, SignalOwner]:
        """The owners of ``ids`` (ids no longer stored left out), reading the missing ones."""
        version = self._probe()
        if version is None:
            return read(ids)
        with self._lock:
            self._adopt(version)
            found = {i: owner for i in ids if (owner := self._owners.get(i)) is not None}
        missing = [i for i in ids if i not in found]
        if missing:
            fresh = read(missing)
            self._keep(version, fresh)
            found.update(fresh)
        return found

    def _probe(self) -> int | None:
        return self.probe.version() if self.probe is not None else None

    def _adopt(self, version: int) -> None:
        """Step 2 (the lock held): owners kept at another version are dropped.

        Checked in the same hold of the lock as the look-up that follows, so a request answers
        only from owners kept at the version its own probe read.
        """
        if version != self._version:
            self._owners.clear()
            self._version = version

    def _keep(self, version: int, owners: dict[int, SignalOwner]) -> None:
        with self._lock:
            if version != self._version:
                return  # the cache moved to another version while these were read
            if len(self._owners) + len(owners) > self.limit:
                self._owners.clear()
            for signal_id, owner in owners.items():
                if len(owner.signal.value) <= LONGEST_KEPT_VALUE:
                    self._owners[signal_id] = owner
