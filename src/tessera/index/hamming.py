"""The Hamming range index that serves PDQ: every stored 256-bit hash within a radius, exactly.

The index is a log-structured set of three tiers behind one published snapshot:

- the **main** segment (``_mih.MihSegment``) is immutable: rows sorted by signal id, searched by
  multi-index hashing (or by a brute-force scan when the radius is too large for MIH to pay), both
  in the compiled kernel ``_hamming_kernel``, which releases the GIL while it searches;
- the **recent** segment is a second, smaller ``MihSegment`` of the rows added since main was
  built, so that a full delta is merged into it instead of into main;
- the **delta** is an append-only buffer of recent additions, searched by brute force;
- **tombstones** are sorted arrays of main, recent and delta rows that were removed or replaced.

Flow:

1. ``add_array`` (or ``add``) first tombstones the rows that currently hold the given ids, then
   appends the new rows to the delta and publishes a new snapshot: the entry is matchable as soon
   as the call returns. A batch of ``delta_limit`` rows or more (a first load, a bulk sync) is
   merged straight into a new segment instead (main or recent, as step 3 chooses).
2. ``remove_array`` (or ``remove``) tombstones rows and publishes.
3. When the delta reaches ``delta_limit`` rows (or a tenth of a segment is tombstoned), a merge
   runs, on a background thread by default. A **minor** merge builds a new recent segment from
   the live recent and delta rows: its memory and time scale with the recent segment, not with
   main (at 10M, +8% RSS at most with the default share). A **major** merge, when the rows
   outside main reach ``recent_share`` of main's (or a tenth of main is tombstoned), builds a
   new main segment from every live row; it holds two main segments at once, so it is kept rare
   (once per ``recent_share`` growth of the index) and copies main a chunk at a time
   (``merge_live``). Writes go on meanwhile; the ids they remove or replace are recorded, and
   the new segment is installed with those rows tombstoned and with the delta rows added since.
   After each merge the freed heap memory is handed back to the OS (``_memory``).
4. ``query_array`` reads the current snapshot once and searches it: main hits and recent hits
   minus tombstones, plus delta hits, sorted by query, distance and id. The kernel drops
   tombstoned rows, maps rows to ids and sorts each search's hits, so Python only sorts when
   more than one tier has hits; a large batch is cut into chunks that worker threads take in
   turn. ``query`` and ``query_many`` parse hex and call it.
5. ``save`` writes a snapshot to one ``.npz`` file, tables included, so ``load`` needs no rebuild
   (``_snapshot`` holds the snapshot type and the file form).

Concurrency guarantee: any number of threads may query while one or more threads write. Queries
take no lock: each reads one immutable snapshot, so it sees every add or remove call either
entirely or not at all, and it sees every call that returned before the query started. Writers
(and the install step of a merge) are serialised by one lock. A background merge builds outside
it, so nothing waits for that build; bulk adds, ``merge()`` and merges with
``background_merge=False`` build while holding it, so other writers (never queries) wait for
them. The delta buffer is only ever written beyond the rows a published snapshot covers. This
relies on the GIL ordering the buffer writes before the snapshot's publication (CPython 3.11).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, ClassVar, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from tessera.errors import InvalidSetting
from tessera.index._hamming_kernel import index_hits
from tessera.index._memory import release_freed_memory
from tessera.index._mih import (
    MAX_TABLES,
    MIN_TABLES,
    STRATEGIES,
    MihSegment,
    Strategy,
    choose_tables,
)
from tessera.index._snapshot import (
    EMPTY_IDS,
    Snapshot,
    live_delta,
    live_rows,
    merge_live,
    read_snapshot,
    rows_of,
    sorted_member,
    sorted_unique,
    write_snapshot,
)
from tessera.index._words import (
    HASH_BITS,
    WORDS,
    Hits,
    Int64s,
    Words,
    as_words,
    brute_force,
    format_hex,
    parse_hex,
    parse_one,
)
from tessera.index.base import IndexHit, SignalIndex

__all__ = ["HammingIndex", "HammingMatches", "format_hex", "parse_hex"]

# Batches at least this large are split across worker threads (the kernel releases the GIL, so
# each thread searches on its own core).
_PARALLEL_QUERIES = 64
_NO_WORDS = np.empty((0, WORDS), dtype=np.uint64)


class HammingMatches(NamedTuple):
    """Matches of a batch: parallel arrays sorted by query index, then distance, then id."""

    query_index: Int64s
    ids: Int64s
    distances: NDArray[np.int32]


class HammingIndex(SignalIndex):
    """Exact Hamming range search over 256-bit hashes (PDQ), kept current by adds and removes."""

    lock_free_queries: ClassVar[bool] = True
    """Queries need no lock against writers (see the concurrency guarantee above)."""

    def __init__(
        self,
        *,
        delta_limit: int = 8192,
        recent_share: float = 0.0625,
        background_merge: bool = True,
        tables: int | None = None,
        table_bytes_per_hash: float = 110.0,
        tuned_radius: int = 31,
        threads: int | None = None,
        strategy: Strategy = "auto",
    ) -> None:
        """Tuning only: every argument has a default measured on 10M PDQ hashes.

        ``delta_limit``: delta rows that trigger a merge (each costs ~11 ns per query).
        ``recent_share``: rows outside main, as a share of main's, that make a merge rebuild main
        (a larger share makes those rebuilds rarer, but a query searches a larger recent segment:
        at 10M, a recent segment of 1/32, 1/16 or 1/8 of main adds ~25%, ~40% or ~60% per query).
        ``background_merge``: merge on a thread (True) or inside the write that triggers it.
        ``tables``: fix the MIH table count (0: none; None: chosen by cost for each build).
        ``table_bytes_per_hash``: memory the tables may take per hash when chosen by cost.
        ``tuned_radius``: the radius the table count is chosen for (PDQ's default, 31).
        ``threads``: worker threads for first loads and for large query batches.
        ``strategy``: "auto" picks MIH or a scan per radius by cost; "tables"/"scan" force one.
        """
        if delta_limit < 1:
            raise InvalidSetting("delta_limit must be at least 1")
        if not 0.0 <= recent_share <= 1.0:
            raise InvalidSetting(f"recent_share must be within 0..1, got {recent_share}")
        if tables is not None and tables != 0 and not MIN_TABLES <= tables <= MAX_TABLES:
            raise InvalidSetting(f"tables must be 0 or {MIN_TABLES}..{MAX_TABLES}, got {tables}")
        if strategy not in STRATEGIES:
            raise InvalidSetting(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
        self._strategy: Strategy = strategy
        self._delta_limit = delta_limit
        self._recent_share = recent_share
        self._background = background_merge
        self._tables = tables
        self._table_bytes = table_bytes_per_hash
        self._tuned_radius = tuned_radius
        self._threads = threads if threads is not None else min(4, os.cpu_count() or 1)
        self._lock = threading.Lock()
        self._delta_row_of: dict[int, int] = {}
        self._merge_thread: threading.Thread | None = None
        self._merged_since_release = False
        self._merge_error: BaseException | None = None
        # Ids whose rows were tombstoned while a merge was building; None when none is running.
        self._touched: list[Int64s] | None = None
        self._empty = self._build_main(np.empty((0, WORDS), np.uint64), EMPTY_IDS, threads=1)
        self._state = self._with_delta(self._empty, EMPTY_IDS, self._empty, EMPTY_IDS, 0)

    # ---- the SignalIndex contract -------------------------------------------------------------

    def add(self, items: Iterable[tuple[int, str]]) -> None:
        """Add (id, 64-char hex) pairs; an id already present is replaced."""
        pairs = list(items)
        ids = np.fromiter((i for i, _ in pairs), dtype=np.int64, count=len(pairs))
        self.add_array(ids, parse_hex([v for _, v in pairs]))

    def remove(self, ids: Iterable[int]) -> None:
        """Remove ids; absent ids are ignored."""
        self.remove_array(np.fromiter(ids, dtype=np.int64))

    def query(self, value: str, threshold: int) -> list[IndexHit]:
        """Every stored hash within ``threshold`` of ``value``, nearest first."""
        found = self.query_array(parse_one(value), threshold)
        return index_hits(IndexHit, found.ids, found.distances, 0, len(found.ids))

    def query_many(self, values: Sequence[str], threshold: int) -> list[list[IndexHit]]:
        """``query`` for each value, answered as one batch."""
        found = self.query_array(parse_hex(values), threshold)
        bounds = np.searchsorted(found.query_index, np.arange(len(values) + 1)).tolist()
        return [
            index_hits(IndexHit, found.ids, found.distances, lo, hi)
            for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)
        ]

    def __len__(self) -> int:
        return self._state.size

    # ---- array API ----------------------------------------------------------------------------

    def add_array(self, ids: ArrayLike, hashes: NDArray[np.generic]) -> None:
        """Add ids (int64) with hashes as ``(N, 4)`` uint64 words or ``(N, 32)`` uint8 bytes."""
        ids_arr = np.asarray(ids, dtype=np.int64).ravel()
        words = as_words(hashes)
        if len(ids_arr) != len(words):
            raise InvalidSetting(f"{len(ids_arr)} ids for {len(words)} hashes")
        ids_arr, words = sorted_unique(ids_arr, words)
        with self._lock:
            self._add(ids_arr, words)
        self._release_if_merged()

    def remove_array(self, ids: ArrayLike) -> None:
        """Remove ids (int64); absent ids are ignored."""
        ids_arr = np.unique(np.asarray(ids, dtype=np.int64).ravel())
        with self._lock:
            self._raise_merge_error()
            self._state = self._tombstone(self._state, ids_arr)
            self._maybe_merge()
        self._release_if_merged()

    def query_array(self, queries: NDArray[np.generic], radius: int) -> HammingMatches:
        """Every (query index, id, distance) within ``radius`` for ``(Q, 4)``/``(Q, 32)`` hashes."""
        if radius < 0:
            raise InvalidSetting(f"radius must be at least 0, got {radius}")
        words = as_words(queries)
        radius = min(radius, HASH_BITS)
        st = self._state  # one snapshot for the whole batch
        if len(words) < _PARALLEL_QUERIES or self._threads < 2:
            return HammingMatches(*self._search(st, words, radius))
        # Several chunks per thread: a thread that the OS runs less (or whose queries land in
        # crowded buckets) takes fewer of them. Each chunk's hits come sorted, so concatenating
        # the chunks in order keeps the whole batch sorted.
        step = max(_PARALLEL_QUERIES // 2, -(-len(words) // (8 * self._threads)))
        starts = range(0, len(words), step)
        with ThreadPoolExecutor(self._threads) as pool:
            parts = list(
                pool.map(lambda lo: self._search(st, words[lo : lo + step], radius), starts)
            )
        return HammingMatches(
            np.concatenate([p[0] + lo for p, lo in zip(parts, starts, strict=True)]),
            np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]),
        )

    # ---- snapshot file ------------------------------------------------------------------------

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the current contents, tables included, to one ``.npz`` file (atomically)."""
        write_snapshot(path, self._state)

    @classmethod
    def load(cls, path: str | os.PathLike[str], **options: Any) -> HammingIndex:
        """An index with the contents ``save`` wrote; ``options`` as for the constructor."""
        index = cls(**options)
        read = read_snapshot(path, index._empty)
        st = index._with_delta(
            read.main, read.main_dead, read.recent, read.recent_dead, len(read.delta_ids)
        )
        index._state = index._append(st, read.delta_ids, read.delta_hashes)
        return index

    # ---- maintenance --------------------------------------------------------------------------

    def merge(self) -> None:
        """Fold the recent segment, the delta and tombstones into a new main segment now."""
        while True:
            self.wait_for_merge()
            with self._lock:
                self._raise_merge_error()
                if self._touched is not None:
                    continue  # another writer started a background merge meanwhile
                self._merge_all()
            self._release_if_merged()
            return

    def wait_for_merge(self, timeout: float | None = None) -> None:
        """Wait until no background merge is running (or ``timeout`` seconds pass)."""
        thread = self._merge_thread
        if thread is not None:
            thread.join(timeout)

    def describe(self) -> dict[str, int]:
        """Sizes for monitoring: rows per segment, tables, array bytes, merge running (0/1)."""
        st = self._state
        nbytes = sum(
            a.nbytes
            for seg in (st.main, st.recent)
            for a in (seg.hashes, seg.ids, seg.offsets, seg.perm)
        )
        nbytes += sum(a.nbytes for a in (st.main_dead, st.recent_dead, st.delta_dead))
        nbytes += st.delta_hashes.nbytes + st.delta_ids.nbytes
        return {
            "size": st.size,
            "main_rows": len(st.main.ids),
            "main_dead": int(st.main_dead.size),
            "recent_rows": len(st.recent.ids),
            "recent_dead": int(st.recent_dead.size),
            "delta_rows": st.delta_rows - int(st.delta_dead.size),
            "tables": len(st.main.widths),
            "nbytes": nbytes,
            "merging": int(self._touched is not None),
        }

    # ---- internals (writers hold self._lock) --------------------------------------------------

    def _add(self, ids: Int64s, words: Words) -> None:
        self._raise_merge_error()
        st = self._tombstone(self._state, ids)
        if len(ids) >= self._delta_limit and self._touched is None:
            # A bulk load (a first load, a large bank): merge the batch in directly rather
            # than publish a delta that every query would scan until a merge.
            self._touched = []
            major = self._is_major(st, len(ids))
            built = self._merged(st, major, self._threads, ids, words)
            self._install(st, built, major, current=st)  # st's tombstones are not published
            return
        self._state = self._append(st, ids, words)
        self._maybe_merge()

    def _merge_all(self) -> None:
        st = self._state
        if st.delta_rows or st.main_dead.size or len(st.recent.ids):
            self._touched = []
            self._install(st, self._merged(st, True, self._threads), major=True)

    def _build_main(self, hashes: Words, ids: Int64s, threads: int) -> MihSegment:
        tables = self._tables
        if tables is None:
            tables = choose_tables(len(ids), self._tuned_radius, self._table_bytes)
        if not len(ids) or self._strategy == "scan":
            tables = 0
        return MihSegment.build(hashes, ids, tables, threads)

    def _with_delta(
        self,
        main: MihSegment,
        main_dead: Int64s,
        recent: MihSegment,
        recent_dead: Int64s,
        room: int,
    ) -> Snapshot:
        """A snapshot of the segments with an empty delta buffer with space for ``room`` rows."""
        capacity = max(2 * room, self._delta_limit, 16)
        buffer = np.empty((capacity, WORDS), dtype=np.uint64)
        size = len(main.ids) - main_dead.size + len(recent.ids) - recent_dead.size
        return Snapshot(
            main,
            main_dead,
            recent,
            recent_dead,
            buffer,
            np.empty(capacity, np.int64),
            0,
            EMPTY_IDS,
            size,
        )

    def _tombstone(self, st: Snapshot, ids: Int64s) -> Snapshot:
        """``st`` with the live rows holding ``ids`` tombstoned (not yet published)."""
        main_rows = _live_rows_of(st.main, st.main_dead, ids)
        recent_rows = _live_rows_of(st.recent, st.recent_dead, ids)
        delta_rows = [self._delta_row_of.pop(i, -1) for i in ids.tolist()]
        delta_killed = np.array([r for r in delta_rows if r >= 0], dtype=np.int64)
        killed = main_rows.size + recent_rows.size + delta_killed.size
        if not killed:
            return st
        if self._touched is not None:
            self._touched.append(st.main.ids[main_rows])
            self._touched.append(st.recent.ids[recent_rows])
            self._touched.append(st.delta_ids[delta_killed])
        return replace(
            st,
            main_dead=np.union1d(st.main_dead, main_rows),
            recent_dead=np.union1d(st.recent_dead, recent_rows),
            delta_dead=np.union1d(st.delta_dead, delta_killed),
            size=st.size - killed,
        )

    def _append(self, st: Snapshot, ids: Int64s, words: Words) -> Snapshot:
        """``st`` with rows appended to the delta (ids must be absent from ``st``)."""
        n, k = st.delta_rows, len(ids)
        hashes, id_buf = st.delta_hashes, st.delta_ids
        if n + k > len(id_buf):
            # Published rows are never rewritten, so older snapshots keep the old buffers.
            capacity = max(2 * (n + k), self._delta_limit)
            hashes = np.empty((capacity, WORDS), dtype=np.uint64)
            id_buf = np.empty(capacity, dtype=np.int64)
            hashes[:n], id_buf[:n] = st.delta_hashes[:n], st.delta_ids[:n]
        hashes[n : n + k] = words
        id_buf[n : n + k] = ids
        self._delta_row_of.update(zip(ids.tolist(), range(n, n + k), strict=True))
        return replace(
            st, delta_hashes=hashes, delta_ids=id_buf, delta_rows=n + k, size=st.size + k
        )

    def _dead_limit(self, seg: MihSegment) -> int:
        return max(self._delta_limit, len(seg.ids) // 10)

    def _needs_merge(self, st: Snapshot) -> bool:
        return (
            st.delta_rows >= self._delta_limit
            or st.main_dead.size >= self._dead_limit(st.main)
            or st.recent_dead.size >= self._dead_limit(st.recent)
        )

    def _is_major(self, st: Snapshot, extra_rows: int = 0) -> bool:
        """Whether the next merge of ``st`` (and ``extra_rows`` new rows) must rebuild main."""
        if st.main_dead.size >= self._dead_limit(st.main):
            return True
        outside = len(st.recent.ids) - st.recent_dead.size
        outside += st.delta_rows - st.delta_dead.size + extra_rows
        return outside >= self._recent_share * (len(st.main.ids) - st.main_dead.size)

    def _maybe_merge(self) -> None:
        st = self._state
        if self._touched is not None or not self._needs_merge(st):
            return
        self._touched = []
        if not self._background:
            major = self._is_major(st)
            self._install(st, self._merged(st, major, self._threads), major)
            return
        self._merge_thread = threading.Thread(
            target=self._merge_in_background, args=(st,), name="hamming-merge", daemon=True
        )
        self._merge_thread.start()

    def _merge_in_background(self, st: Snapshot) -> None:
        """Build merged segments until the delta is small again; runs on the merge thread."""
        try:
            while True:
                major = self._is_major(st)
                built = self._merged(st, major, threads=1)  # leave the other cores to queries
                with self._lock:
                    self._install(st, built, major)
                    st = self._state
                    more = self._needs_merge(st)
                    if more:
                        self._touched = []
                self._release_if_merged()
                if not more:
                    return
        except BaseException as error:  # kept for the next writer: a thread cannot raise it
            with self._lock:
                self._merge_error = error
                self._touched = None

    def _merged(
        self,
        st: Snapshot,
        major: bool,
        threads: int,
        extra_ids: Int64s = EMPTY_IDS,
        extra: Words = _NO_WORDS,
    ) -> MihSegment:
        """A segment of the live rows of ``st`` outside main plus ``extra`` rows, sorted by id;
        with the live main rows too when ``major``."""
        recent_ids, recent_hashes = live_rows(st.recent, st.recent_dead)
        live = live_delta(st)
        new_ids = np.concatenate([recent_ids, st.delta_ids[live], extra_ids])
        new_hashes = np.concatenate([recent_hashes, st.delta_hashes[live], extra])
        order = np.argsort(new_ids, kind="stable")  # three sorted runs: a cheap merge
        new_ids, new_hashes = new_ids[order], new_hashes[order]
        if major:
            new_ids, new_hashes = merge_live(st.main, st.main_dead, new_ids, new_hashes)
        return self._build_main(new_hashes, new_ids, threads)

    def _install(
        self, base: Snapshot, built: MihSegment, major: bool, current: Snapshot | None = None
    ) -> None:
        """Publish ``built`` (merged from ``base``) with the writes made since ``base`` reapplied.

        A major merge replaces main and empties the recent segment; a minor one replaces the
        recent segment and keeps main with the tombstones of ``current`` (default: the
        published snapshot).
        """
        cur = self._state if current is None else current
        touched = np.concatenate(self._touched) if self._touched else EMPTY_IDS
        self._touched = None
        dead = np.unique(rows_of(built.ids, touched))
        tail = np.setdiff1d(np.arange(base.delta_rows, cur.delta_rows), cur.delta_dead)
        if major:
            st = self._with_delta(built, dead, self._empty, EMPTY_IDS, len(tail))
        else:
            st = self._with_delta(cur.main, cur.main_dead, built, dead, len(tail))
        self._delta_row_of = {}
        self._state = self._append(st, cur.delta_ids[tail], cur.delta_hashes[tail])
        self._merged_since_release = True

    def _release_if_merged(self) -> None:
        """After a merge, once the caller dropped the old snapshot: free heap back to the OS."""
        if self._merged_since_release:
            self._merged_since_release = False  # unlocked: at worst one extra or late release
            release_freed_memory()

    def _raise_merge_error(self) -> None:
        error, self._merge_error = self._merge_error, None
        if error is not None:
            raise error

    def _search(self, st: Snapshot, words: Words, radius: int) -> Hits:
        """Hits of ``words`` in snapshot ``st``: (query index, id, distance), sorted."""
        main = st.main.search(words, radius, st.main_dead, self._strategy)
        if not st.delta_rows and not len(st.recent.ids):
            return main
        found = [main]
        if len(st.recent.ids):
            found.append(st.recent.search(words, radius, st.recent_dead, self._strategy))
        if st.delta_rows:
            n = st.delta_rows
            found.append(
                brute_force(st.delta_hashes[:n], st.delta_ids[:n], st.delta_dead, words, radius)
            )
        found = [hits for hits in found if hits[0].size] or [main]
        if len(found) == 1:
            return found[0]
        q, ids, d = (np.concatenate(parts) for parts in zip(*found, strict=True))
        order = np.lexsort((ids, d, q))
        return q[order], ids[order], d[order]


def _live_rows_of(seg: MihSegment, dead: Int64s, ids: Int64s) -> Int64s:
    """Rows of ``seg`` that hold any of ``ids`` and are not tombstoned."""
    rows = rows_of(seg.ids, ids)
    return rows[~sorted_member(dead, rows)]
