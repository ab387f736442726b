"""The immutable main segment of the Hamming index: multi-index hashing over dense bucket tables.

Multi-index hashing (Norouzi, Punjani and Fleet, 2012) splits each 256-bit hash into ``m``
disjoint substrings (tables) of ``b_t`` bits. If two hashes are within distance ``r`` and
``r = q*m + a`` (0 <= a < m), then by the pigeonhole principle one of the first ``a + 1`` substrings
is within ``q`` of the query's, or one of the others is within ``q - 1``: otherwise the distance
would be at least ``(a+1)(q+1) + (m-a-1)q = r + 1``. So probing every bucket within those radii of
the query's substrings finds every true match; candidates are then checked on all 256 bits.

The segment is built once, in one pass per table, and never changes:

1. rows are the hashes sorted by signal id (so ``remove`` finds a row by binary search);
2. for each table, the substring keys are counted into a dense offsets array (``2^b_t`` entries,
   tables laid end to end, widest first so that every table's base is aligned to its width and
   ``(key + base) ^ flips`` addresses a bucket directly), and the rows are sorted by key into
   ``perm`` (sorting ``key << 32 | row`` as one int64 array);
3. a query runs in the compiled kernel (``_hamming_kernel.mih_search``, GIL released): it XORs
   each table's key with the flip masks of the radius plan, reads the buckets' bounds, expands
   them into candidate rows and verifies those on all 256 bits, reporting a row only from the
   first table whose substring is within that table's probe radius, so each row comes once;
   it leaves out tombstoned rows and returns ids, sorted by distance and id;
4. when the plan would probe more than a brute-force scan costs (large radii), the segment scans
   all rows instead. ``choose_tables`` uses the same cost model to pick ``m`` for a size and a
   memory budget.

Cost constants were measured with the kernel on the 2-core development VM at 10M hashes; only
their ratios matter.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from tessera.index import _hamming_kernel
from tessera.index._words import HASH_BITS, WORDS, Hits, Int64s, Words, as_hits, brute_force

# Nanoseconds per probed bucket, per candidate row, per brute-forced row, and per MIH query, in
# the kernel (a candidate costs most: its row is a random read that prefetching only partly hides).
COST_PROBE_NS = 10.0
COST_CANDIDATE_NS = 22.0
COST_ROW_NS = 1.2
COST_QUERY_NS = 3_000.0
# Share of a bucket's excess over uniform occupancy that each probe sees (fitted on the
# benchmark's clustered set: families of up to 1,000 near-duplicates).
SKEW_SHARE = 0.02
# Below this many rows a brute-force scan costs less than building and probing tables.
MIN_TABLE_ROWS = 4096
# Small segments may use this much for tables even beyond the per-hash budget.
TABLE_BYTES_FLOOR = 32 << 20

# How a segment answers: by cost ("auto"), always by its tables, or always by scanning.
Strategy = Literal["auto", "tables", "scan"]
STRATEGIES: tuple[Strategy, ...] = ("auto", "tables", "scan")
# Never plan more probes per query than this (the flip masks alone would take ~100 MB).
MAX_PROBES = 1 << 22
# Table counts a caller may fix: widths of at most 26 bits keep one table's offsets <= 256 MiB.
MIN_TABLES, MAX_TABLES = 10, 64

# (per table: start bit, width, base address, probe radius, first mask, end mask; flip masks)
Plan = tuple[Int64s, Int64s]


def split_widths(tables: int) -> tuple[int, ...]:
    """Bit widths of ``tables`` substrings covering 256 bits, widest first."""
    base, extra = divmod(HASH_BITS, tables)
    return (base + 1,) * extra + (base,) * (tables - extra)


def table_radii(widths: tuple[int, ...], radius: int) -> list[int]:
    """Per-table probe radius that guarantees every match within ``radius`` is a candidate."""
    q, a = divmod(radius, len(widths))
    return [min(q if t <= a else q - 1, b) for t, b in enumerate(widths)]


def probe_count(bits: int, radius: int) -> int:
    """Buckets within ``radius`` flips of a ``bits``-bit key."""
    return sum(math.comb(bits, k) for k in range(radius + 1))


def estimate_ns(
    widths: tuple[int, ...], rows: int, occupancy: tuple[float, ...], radius: int
) -> float:
    """Expected nanoseconds of one MIH query at ``radius`` over ``rows`` hashes.

    ``occupancy``: rows in a stored hash's own bucket, per table (``rows / 2^b + 1`` for uniform
    hashes). Candidates per probe are the uniform share plus a small part of the excess: families
    of near-duplicates crowd a few buckets near their members, not every bucket a query probes.
    """
    total = COST_QUERY_NS
    for bits, rho, occ in zip(widths, table_radii(widths, radius), occupancy, strict=True):
        if rho >= 0:
            lam = rows / (1 << bits)
            per_probe = lam + SKEW_SHARE * max(0.0, occ - 1.0 - lam)
            total += probe_count(bits, rho) * (COST_PROBE_NS + COST_CANDIDATE_NS * per_probe)
    return total


def table_bytes(widths: tuple[int, ...], rows: int) -> int:
    """Bytes of the offsets and perm arrays of a segment with these tables."""
    offset_size = 4 if len(widths) * rows < 2**31 else 8
    return len(widths) * rows * 4 + (sum(1 << b for b in widths) + 1) * offset_size


def choose_tables(rows: int, radius: int, bytes_per_hash: float) -> int:
    """The table count with the lowest estimated cost at ``radius`` within the memory budget.

    Returns 0 (no tables: brute force) when scanning is cheaper or nothing fits.
    """
    if rows < MIN_TABLE_ROWS:
        return 0
    budget = max(bytes_per_hash * rows, TABLE_BYTES_FLOOR)
    best, best_ns = 0, COST_ROW_NS * rows
    for tables in range(MIN_TABLES, 33):
        widths = split_widths(tables)
        if table_bytes(widths, rows) > budget:
            continue
        cost = estimate_ns(widths, rows, tuple(rows / (1 << b) + 1.0 for b in widths), radius)
        if cost < best_ns:
            best, best_ns = tables, cost
    return best


def flip_masks(bits: int, radius: int) -> Int64s:
    """Every ``bits``-bit mask with at most ``radius`` bits set, by increasing weight."""
    levels = [np.zeros(1, dtype=np.int64)]
    top = np.full(1, -1, dtype=np.int64)  # highest set bit of each mask in the last level
    for _ in range(radius):
        masks, tops = [], []
        for j in range(bits):
            grow = top < j
            masks.append(levels[-1][grow] | (1 << j))
            tops.append(np.full(int(grow.sum()), j, dtype=np.int64))
        levels.append(np.concatenate(masks))
        top = np.concatenate(tops)
    return np.concatenate(levels)


@dataclass(eq=False)
class MihSegment:
    """Sorted rows plus, when ``widths`` is not empty, one bucket table per substring."""

    hashes: Words
    ids: Int64s
    widths: tuple[int, ...]
    offsets: NDArray[np.signedinteger]
    perm: NDArray[np.uint32]
    occupancy: tuple[float, ...]
    _plans: dict[int, Plan] = field(default_factory=dict, repr=False)
    _routes: dict[tuple[int, Strategy], bool] = field(default_factory=dict, repr=False)
    _plan_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        starts = np.cumsum((0, *self.widths))[:-1].astype(np.int64)
        widths = np.asarray(self.widths, dtype=np.int64)
        self._word = (starts // 64).astype(np.intp)
        self._shift_hi = (starts % 64).astype(np.uint64)
        self._shift_lo = (64 - starts % 64).astype(np.uint64)
        self._shift_key = (64 - widths).astype(np.uint64)
        self._starts = starts
        self._bases = np.cumsum((0, *(1 << b for b in self.widths)))[:-1].astype(np.int64)

    @classmethod
    def build(cls, hashes: Words, ids: Int64s, tables: int, threads: int = 1) -> MihSegment:
        """A segment of ``hashes`` (already sorted by ``ids``) with ``tables`` bucket tables."""
        rows = len(hashes)
        widths = split_widths(tables) if tables else ()
        slots = sum(1 << b for b in widths) + 1
        offsets: NDArray[np.signedinteger] = (
            np.empty(slots, dtype=np.int32)
            if tables * rows < 2**31
            else np.empty(slots, dtype=np.int64)
        )
        offsets[-1] = tables * rows
        perm = np.empty(tables * rows, dtype=np.uint32)
        seg = cls(hashes, ids, widths, offsets, perm, (0.0,) * tables)
        occupancy = [0.0] * tables

        # Keys are read from the rows in place: a contiguous copy of the word columns would be
        # faster to read but as large as the hashes, and a merge's peak memory matters more.
        columns = [hashes[:, w] for w in range(WORDS)]

        def build_table(t: int) -> None:
            bits, base = widths[t], int(seg._bases[t])
            keys = seg._table_keys(columns, t)
            counts = np.bincount(keys, minlength=1 << bits)
            # Rows per bucket as a random stored hash sees it: skewed data scores higher.
            occupancy[t] = float(np.dot(counts, counts)) / max(rows, 1)
            bounds = offsets[base : base + (1 << bits)]
            bounds[0] = t * rows
            np.cumsum(counts[:-1], out=bounds[1:])
            bounds[1:] += t * rows
            # Sort (key << 32 | row) in place: int64 sorts ~20% faster than uint64 here.
            keys <<= 32
            keys |= np.arange(rows, dtype=np.int64)
            keys.sort()
            perm[t * rows : (t + 1) * rows] = keys  # keeps the low 32 bits: the row

        with ThreadPoolExecutor(max(1, threads)) as pool:
            list(pool.map(build_table, range(tables)))
        seg.occupancy = tuple(occupancy)
        return seg

    def _table_keys(self, columns: list[NDArray[np.uint64]], t: int) -> Int64s:
        """Substring ``t`` of every row as an integer key, from the rows' word columns (views)."""
        word = int(self._word[t])
        joined = columns[word] << self._shift_hi[t]
        if word + 1 < WORDS and self._shift_hi[t]:
            joined |= columns[word + 1] >> self._shift_lo[t]
        joined >>= self._shift_key[t]
        keys: Int64s = joined.view(np.int64)  # keys have at most 26 bits: the same value
        return keys

    def plan(self, radius: int) -> Plan:
        """The kernel's table layout and flip masks for ``radius``, cached."""
        found = self._plans.get(radius)
        if found is not None:
            return found
        with self._plan_lock:
            layout, masks, first = [], [np.empty(0, dtype=np.int64)], 0
            radii = table_radii(self.widths, radius)
            for t, (bits, rho) in enumerate(zip(self.widths, radii, strict=True)):
                flips = flip_masks(bits, rho) if rho >= 0 else masks[0]
                masks.append(flips)
                end = first + len(flips)
                layout.append((int(self._starts[t]), bits, int(self._bases[t]), rho, first, end))
                first = end
            made = (np.array(layout, dtype=np.int64).reshape(-1, 6), np.concatenate(masks))
            self._plans[radius] = made
        return made

    def probes(self, radius: int) -> int:
        """Buckets one query probes at ``radius``."""
        radii = table_radii(self.widths, radius)
        return sum(probe_count(b, rho) for b, rho in zip(self.widths, radii, strict=True))

    def uses_tables(self, radius: int, strategy: Strategy = "auto") -> bool:
        """Whether a query at ``radius`` probes the tables (else it scans every row); cached."""
        key = (radius, strategy)
        found = self._routes.get(key)
        if found is None:
            found = bool(self.widths) and strategy != "scan" and self.probes(radius) <= MAX_PROBES
            if found and strategy == "auto":
                mih_ns = estimate_ns(self.widths, len(self.hashes), self.occupancy, radius)
                found = mih_ns < COST_ROW_NS * len(self.hashes)
            self._routes[key] = found
        return found

    def search(
        self, queries: Words, radius: int, dead: Int64s, strategy: Strategy = "auto"
    ) -> Hits:
        """(query index, id, distance) of every row within ``radius`` of each query, each once.

        Rows listed in ``dead`` (sorted tombstones) are left out; hits are sorted by query,
        distance and id.
        """
        if not self.uses_tables(radius, strategy):
            return brute_force(self.hashes, self.ids, dead, queries, radius)
        layout, masks = self.plan(radius)
        found = _hamming_kernel.mih_search(
            self.hashes, self.ids, dead, self.offsets, self.perm, layout, masks, queries, radius
        )
        return as_hits(found)
