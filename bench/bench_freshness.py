"""Freshness and start-up of a matcher over the store.

1. Start-up: a SQLite store holding ``store_entries`` entries (PDQ + MD5 each); time for a matcher
   to load its indexes from it, and the rate in signals/s.
2. Freshness: the same matcher's PDQ index is topped up to ``index_size`` hashes (random, added in
   bulk, as a large bank would be), then entries are added with ``Store.add_entries`` while the
   matcher follows the change log on its background thread. Measured: time from the add's commit
   to the entry being returned by ``match``, with the default poll interval and a 10 ms one.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Iterator

import numpy as np

from bench.common import CACHE_DIR, console, md_table
from tessera.index.hamming import HammingIndex
from tessera.services.matching import Matcher, Query
from tessera.settings import Settings
from tessera.signals.base import Signal
from tessera.store import Database, Store
from tessera.store.records import NewEntry


def _entries(n: int, rng: np.random.Generator) -> Iterator[NewEntry]:
    raw = rng.integers(0, 2**63, size=(n, 4), dtype=np.int64)
    for row in raw:
        pdq = "".join(f"{int(w):016x}" for w in row)
        md5 = f"{int(row[0]):016x}{int(row[1]):016x}"  # unique, so no entry is a duplicate
        yield NewEntry(signals=(Signal("pdq", pdq, 100), Signal("md5", md5)))


def _fresh_store() -> Store:
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = CACHE_DIR / "freshness.db"
    for suffix in ("", "-wal", "-shm"):
        (CACHE_DIR / f"freshness.db{suffix}").unlink(missing_ok=True)
    db = Database(f"sqlite:///{path}")
    db.migrate()
    return Store(db, node_org="bench")


def _latencies(
    matcher: Matcher, store: Store, rounds: int, rng: np.random.Generator
) -> list[float]:
    out = []
    for entry in _entries(rounds, rng):
        store.add_entries("bank", [entry])
        committed = time.perf_counter()
        query = [Query(entry.signals[0])]
        while not matcher.match(query):
            time.sleep(0.0005)
        out.append(time.perf_counter() - committed)
    return out


def _fmt(values: list[float]) -> str:
    ms = sorted(v * 1000 for v in values)
    p90 = ms[int(0.9 * (len(ms) - 1))]
    return f"{statistics.median(ms):.1f} ms (p90 {p90:.1f}, max {ms[-1]:.1f}, n={len(ms)})"


def run(index_size: int = 10_000_000, store_entries: int = 200_000, rounds: int = 20) -> str:
    """Measure start-up and freshness; returns the Markdown section."""
    rng = np.random.default_rng(2026)
    store = _fresh_store()
    store.create_bank("bank")
    console.print(f"filling the store with {store_entries:,} entries")
    t0 = time.perf_counter()
    store.add_entries("bank", _entries(store_entries, rng))
    fill_s = time.perf_counter() - t0

    matcher = Matcher(store)
    t0 = time.perf_counter()
    matcher.load()
    load_s = time.perf_counter() - t0
    signals = matcher.size("pdq") + matcher.size("md5")

    index = matcher.index("pdq")
    assert isinstance(index, HammingIndex)
    extra = index_size - matcher.size("pdq")
    console.print(f"topping the PDQ index up to {index_size:,} hashes")
    words = rng.integers(0, 2**63, size=(extra, 4), dtype=np.int64).view(np.uint64)
    index.add_array(np.arange(10**12, 10**12 + extra, dtype=np.int64), words)
    index.merge()

    rows = []
    for interval in (Settings().follow_interval_s, 0.01):
        matcher.follow(interval)
        try:
            lat = _latencies(matcher, store, rounds, rng)
        finally:
            matcher.stop()
        rows.append([f"{interval * 1000:.0f} ms", f"{matcher.size('pdq'):,}", _fmt(lat)])
    store.db.dispose()
    return "\n\n".join(
        [
            "## Freshness and start-up (store → matcher)",
            f"Store: SQLite, {store_entries:,} entries (PDQ + MD5), filled in one transaction in "
            f"{fill_s:.1f} s ({store_entries / fill_s:,.0f} entries/s).",
            f"Matcher start-up: loaded {signals:,} signals from the store in {load_s:.2f} s "
            f"({signals / load_s:,.0f} signals/s).",
            "Time from `add_entries` committing to `match` returning the new entry, with the "
            "matcher following the change log (its PDQ index topped up with random hashes to the "
            "size shown):",
            md_table(["poll interval", "PDQ index size", "add → matchable"], rows),
            "Goal: ≤ 1 s at 10M. The latency is the poll interval plus the change's application; "
            "`follow_interval_s` sets the trade-off.",
        ]
    )


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    print(run(index_size=200_000, store_entries=20_000, rounds=5) if quick else run())
