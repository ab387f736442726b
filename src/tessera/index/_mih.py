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
3. a query computes its ``m`` keys, XORs them with the precomputed flip masks of its radius plan,
   gathers the buckets' bounds, expands them into candidate rows, gathers those rows and keeps the
   ones within the radius (each row once);
4. when the plan would probe more than a brute-force scan costs (large radii), the segment scans
   all rows instead. ``choose_tables`` uses the same cost model to pick ``m`` for a size and a
   memory budget.

Cost constants were measured on the 2-core development VM (numpy 2.4); only their ratios matter.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from tessera.index._words import HASH_BITS, WORDS, Int64s, Words, brute_force, within

# Nanoseconds per probed bucket, per candidate row, per brute-forced row, and per MIH query.
COST_PROBE_NS = 20.0
COST_CANDIDATE_NS = 25.0
COST_ROW_NS = 11.0
COST_QUERY_NS = 30_000.0
# Below this many rows a brute-force scan costs less than building and probing tables.
MIN_TABLE_ROWS = 4096
# Small segments may use this much for tables even beyond the per-hash budget.
TABLE_BYTES_FLOOR = 32 << 20
# Queries gathered per vectorised MIH pass: larger chunks amortise numpy's per-call overhead and
# hold the GIL less often; beyond ~64 the intermediate arrays spill out of cache (measured).
MIH_CHUNK = 16

# How a segment answers: by cost ("auto"), always by its tables, or always by scanning.
Strategy = Literal["auto", "tables", "scan"]
STRATEGIES: tuple[Strategy, ...] = ("auto", "tables", "scan")
# Never plan more probes per query than this (the flip masks alone would take ~100 MB).
MAX_PROBES = 1 << 22
# Table counts a caller may fix: widths of at most 26 bits keep one table's offsets <= 256 MiB.
MIN_TABLES, MAX_TABLES = 10, 64

Plan = tuple[NDArray[np.intp], Int64s]
Hits = tuple[Int64s, Int64s, NDArray[np.uint32]]


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


def estimate_ns(widths: tuple[int, ...], occupancy: tuple[float, ...], radius: int) -> float:
    """Expected nanoseconds of one MIH query at ``radius`` (occupancy: expected rows per bucket)."""
    total = COST_QUERY_NS
    for bits, rho, lam in zip(widths, table_radii(widths, radius), occupancy, strict=True):
        if rho >= 0:
            probes = probe_count(bits, rho)
            total += probes * (COST_PROBE_NS + COST_CANDIDATE_NS * lam)
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
        cost = estimate_ns(widths, tuple(rows / (1 << b) for b in widths), radius)
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
        self._bases = np.cumsum((0, *(1 << b for b in self.widths)))[:-1].astype(np.int64)
        # One void element per row, so np.take copies a whole 32-byte row per candidate.
        self._rows = self.hashes.view(np.dtype((np.void, 8 * WORDS))).reshape(len(self.hashes))

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

        # Contiguous words: each table reads one or two of them instead of striding over rows.
        columns = [np.ascontiguousarray(hashes[:, w]) for w in range(WORDS)] if tables else []

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
        """Substring ``t`` of every row as an integer key, from the rows' word columns."""
        word = int(self._word[t])
        joined = columns[word] << self._shift_hi[t]
        if word + 1 < WORDS and self._shift_hi[t]:
            joined |= columns[word + 1] >> self._shift_lo[t]
        joined >>= self._shift_key[t]
        keys: Int64s = joined.view(np.int64)  # keys have at most 26 bits: the same value
        return keys

    def _keys(self, queries: Words) -> Int64s:
        """Every table's key of each query, plus the table's base: ``(Q, m)`` bucket addresses."""
        padded = np.zeros((len(queries), WORDS + 1), dtype=np.uint64)
        padded[:, :WORDS] = queries
        joined = (padded[:, self._word] << self._shift_hi) | (
            padded[:, self._word + 1] >> self._shift_lo
        )
        keys = (joined >> self._shift_key).astype(np.int64)
        keys += self._bases
        return keys

    def plan(self, radius: int) -> Plan:
        """(table of each probe, flip mask of each probe) for ``radius``, cached."""
        found = self._plans.get(radius)
        if found is not None:
            return found
        with self._plan_lock:
            tables, masks = [], []
            radii = table_radii(self.widths, radius)
            for t, (bits, rho) in enumerate(zip(self.widths, radii, strict=True)):
                if rho >= 0:
                    flips = flip_masks(bits, rho)
                    tables.append(np.full(len(flips), t, dtype=np.intp))
                    masks.append(flips)
            made = (np.concatenate(tables), np.concatenate(masks))
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
                mih_ns = estimate_ns(self.widths, self.occupancy, radius)
                found = mih_ns < COST_ROW_NS * len(self.hashes)
            self._routes[key] = found
        return found

    def search(self, queries: Words, radius: int, strategy: Strategy = "auto") -> Hits:
        """(query index, row, distance) of every row within ``radius`` of each query, each once."""
        if len(self.hashes) == 0 or len(queries) == 0:
            return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.uint32)
        if not self.uses_tables(radius, strategy):
            return brute_force(self.hashes, queries, radius)
        plan = self.plan(radius)
        parts = [
            self._probe(queries[lo : lo + MIH_CHUNK], plan, radius, lo)
            for lo in range(0, len(queries), MIH_CHUNK)
        ]
        if len(parts) == 1:
            return parts[0]
        q, r, d = zip(*parts, strict=True)
        return np.concatenate(q), np.concatenate(r), np.concatenate(d)

    def _probe(self, queries: Words, plan: Plan, radius: int, first: int) -> Hits:
        """MIH search of a few queries; ``first`` is the index of ``queries[0]`` in the batch."""
        table_of, masks = plan
        probes = (self._keys(queries)[:, table_of] ^ masks).ravel()
        start = self.offsets.take(probes)
        probes += 1
        count = self.offsets.take(probes)
        count -= start
        ends = np.cumsum(count)
        total = int(ends[-1])
        # Candidate positions: each bucket's start, then consecutive, via one repeat and arange.
        start -= ends
        start += count
        pos = np.repeat(start, count)
        pos += np.arange(total, dtype=pos.dtype)
        rows = self.perm.take(pos)
        diff = self._rows.take(rows).view(np.uint64).reshape(total, WORDS)
        if len(queries) == 1:
            diff ^= queries[0]
            hit, dist = within(diff, radius)
            found, first_seen = np.unique(rows[hit], return_index=True)
            qidx = np.full(found.size, first, dtype=np.int64)
            return qidx, found.astype(np.int64), dist[first_seen]
        bounds = [0, *ends[len(masks) - 1 :: len(masks)].tolist()]
        for i in range(len(queries)):  # candidates come grouped by query: XOR each group
            diff[bounds[i] : bounds[i + 1]] ^= queries[i]
        owner = np.repeat(np.arange(len(queries), dtype=np.int64), np.diff(bounds))
        hit, dist = within(diff, radius)
        pair = owner[hit] * len(self.hashes) + rows[hit]
        pair, first_seen = np.unique(pair, return_index=True)
        n = len(self.hashes)
        return pair // n + first, pair % n, dist[first_seen]
