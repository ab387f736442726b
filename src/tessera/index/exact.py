"""Exact-match index: a dictionary from value to the ids that hold it."""

from __future__ import annotations

from collections.abc import Iterable

from tessera.index.base import IndexHit, SignalIndex


class ExactIndex(SignalIndex):
    """Serves digests (md5, sha256): a query matches only the identical value."""

    def __init__(self) -> None:
        self._ids_by_value: dict[str, set[int]] = {}
        self._value_by_id: dict[int, str] = {}

    def add(self, items: Iterable[tuple[int, str]]) -> None:
        for signal_id, value in items:
            old = self._value_by_id.get(signal_id)
            if old is not None:
                self._discard(signal_id, old)
            self._value_by_id[signal_id] = value
            self._ids_by_value.setdefault(value, set()).add(signal_id)

    def remove(self, ids: Iterable[int]) -> None:
        for signal_id in ids:
            old = self._value_by_id.pop(signal_id, None)
            if old is not None:
                self._discard(signal_id, old)

    def _discard(self, signal_id: int, value: str) -> None:
        holders = self._ids_by_value[value]
        holders.discard(signal_id)
        if not holders:
            del self._ids_by_value[value]

    def query(self, value: str, threshold: int) -> list[IndexHit]:
        del threshold  # exact types match only at distance 0
        return [IndexHit(i, 0) for i in sorted(self._ids_by_value.get(value, ()))]

    def __len__(self) -> int:
        return len(self._value_by_id)
