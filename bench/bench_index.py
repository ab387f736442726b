"""PDQ range search: Tessera's HammingIndex against python-threatexchange's PDQIndex, same run.

Flow, for each size (1M and 10M hashes by default) and each data set:

1. make the hashes (or read them back from bench/.cache, where each set is kept after its first
   run, seeded by kind and size): **random** (uniform bits) and **clustered** (each bit biased,
   P(1) drawn around 0.5 with sd 0.1, and families of near-duplicates: Zipf(2) sizes up to
   1,000, members 0-16 bits from their seed), ids in shuffled order;
2. make queries: half near-duplicates of stored hashes (0-20 bits away, so there are real hits),
   half fresh hashes from the same distribution;
3. Tessera: build (``add_array`` on an empty index), memory (array bytes and RSS growth per hash),
   single-query latency through ``query`` (hex in, hits out) at radius 16, 31 and 52, batch
   throughput through ``query_array``, and exactness of a sample against an independent blocked
   brute force;
4. python-threatexchange: the same for ``PDQIndex`` (a faiss ``IndexBinaryMultiHash``, 16 x 16
   bits): build from hex, ``PDQIndex.query`` (radius 31, its public API) and its inner
   ``search_with_distance_in_result`` for other radii and for batches (faiss's OpenMP batch);
   fewer queries where it is slow, as the table says;
5. at the largest size: freshness (``add`` of one hash to ``query`` returning it, idle and during
   a background merge), the merge itself, and a snapshot save/load.

Both engines use the machine's cores for batches (faiss through OpenMP, Tessera through threads).
"""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from bench.common import CACHE_DIR, console, md_table, progress
from tessera.index.hamming import HammingIndex, format_hex

RADII = (16, 31, 52)
SAMPLE = 20  # queries checked against brute force
Words = NDArray[np.uint64]


def _rss() -> int:
    """Resident set size of this process in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


# ---- data -----------------------------------------------------------------------------------


def _pack_bits(bits: NDArray[np.bool_]) -> Words:
    """(n, 256) booleans to (n, 4) words, bit 0 being the most significant."""
    return np.packbits(bits, axis=1).view(">u8").astype(np.uint64)


def _flip_random(words: Words, rng: np.random.Generator, max_flips: int) -> Words:
    """Each row with 0..max_flips random bits flipped (a repeated position flips back)."""
    out = words.copy()
    flips = rng.integers(0, max_flips + 1, size=len(words))
    rows = np.arange(len(words))
    for j in range(max_flips):
        active = rows[flips > j]
        pos = rng.integers(0, 256, size=active.size)
        out[active, pos // 64] ^= np.uint64(1) << (63 - pos % 64).astype(np.uint64)
    return out


def _biased(n: int, bias: NDArray[np.float32], rng: np.random.Generator) -> Words:
    out = np.empty((n, 4), dtype=np.uint64)
    for lo in range(0, n, 200_000):
        hi = min(n, lo + 200_000)
        out[lo:hi] = _pack_bits(rng.random((hi - lo, 256), dtype=np.float32) < bias)
    return out


@dataclass
class DataSet:
    """Stored hashes with their ids, and a way to draw fresh hashes from the same distribution."""

    name: str
    words: Words
    ids: NDArray[np.int64]
    fresh: Callable[[int], Words] | None  # None for a set read back from the cache
    notes: str = ""
    queries: Words = field(default_factory=lambda: np.empty((0, 4), np.uint64))


def random_set(n: int, rng: np.random.Generator) -> DataSet:
    """Uniform random hashes."""
    words = rng.integers(0, 2**64, size=(n, 4), dtype=np.uint64)
    ids = rng.permutation(n).astype(np.int64)
    return DataSet(
        "random", words, ids, lambda k: rng.integers(0, 2**64, size=(k, 4), dtype=np.uint64)
    )


def clustered_set(n: int, rng: np.random.Generator) -> DataSet:
    """Biased bits and families of near-duplicates, as real PDQ banks have."""
    bias = np.clip(rng.normal(0.5, 0.1, 256), 0.15, 0.85).astype(np.float32)
    sizes = np.minimum(rng.zipf(2.0, size=n), 1000)
    sizes = sizes[: int(np.searchsorted(np.cumsum(sizes), n)) + 1]
    sizes[-1] -= int(sizes.sum()) - n
    seeds = _biased(len(sizes), bias, rng)
    words = _flip_random(np.repeat(seeds, sizes, axis=0), rng, 16)
    order = rng.permutation(n)
    notes = f"{len(sizes):,} families, largest {int(sizes.max()):,}"
    return DataSet(
        "clustered",
        words[order],
        np.arange(n, dtype=np.int64)[order],
        lambda k: _biased(k, bias, rng),
        notes,
    )


def _queries(data: DataSet, count: int, rng: np.random.Generator) -> Words:
    assert data.fresh is not None
    near = _flip_random(data.words[rng.integers(0, len(data.words), count // 2)], rng, 20)
    both = np.concatenate([near, data.fresh(count - count // 2)])
    return both[rng.permutation(len(both))]


def dataset(make: Callable[[int, np.random.Generator], DataSet], n: int) -> DataSet:
    """``make(n)`` with its 4,000 queries, seeded by kind and size, cached in bench/.cache."""
    path = CACHE_DIR / f"index-{make.__name__}-{n}.npz"
    if path.exists():
        with np.load(path) as f:
            return DataSet(
                str(f["name"]), f["words"], f["ids"], None, str(f["notes"]), f["queries"]
            )
    rng = np.random.default_rng([2026, n, 1 if make is clustered_set else 0])
    data = make(n, rng)
    data.queries = _queries(data, 4000, rng)
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as f:
        arrays = {"words": data.words, "ids": data.ids, "queries": data.queries}
        np.savez(f, name=data.name, notes=data.notes, **arrays)
    partial.replace(path)
    return data


def _reference(data: DataSet, queries: Words) -> list[set[tuple[int, int]]]:
    """Per query, every (id, distance) within the largest radius, by blocked brute force."""
    found: list[set[tuple[int, int]]] = [set() for _ in queries]
    for lo in range(0, len(data.words), 1 << 20):
        block = data.words[lo : lo + (1 << 20)]
        d = np.bitwise_count(block[None, :, :] ^ queries[:, None, :]).sum(axis=2)
        for qi, row in zip(*np.nonzero(d <= max(RADII)), strict=True):
            found[qi].add((int(data.ids[lo + row]), int(d[qi, row])))
    return found


# ---- measurements ---------------------------------------------------------------------------


@dataclass
class Result:
    """One engine on one data set."""

    build_s: float = 0.0
    bytes_per_hash: str = ""
    # p50, p99 wall-clock s, p99 CPU s (process time: what the query itself cost, without the
    # waits of a loaded machine), n
    single: dict[int, tuple[float, float, float, int]] = field(default_factory=dict)
    batch: dict[int, tuple[float, int]] = field(default_factory=dict)  # queries/s, n
    exact: str = ""
    exact_all: bool = False  # every sampled query exact at every radius
    nbytes: float = 0.0  # array bytes per hash
    rss: float = 0.0  # RSS growth per hash


def _latencies(
    fn: Callable[[str], object], hexes: list[str], label: str
) -> tuple[float, float, float]:
    """(p50, p99) of wall-clock seconds and the p99 of CPU seconds (``process_time``)."""
    times, cpu = [], []
    with progress(transient=True) as bar:
        task = bar.add_task(label, total=len(hexes))
        for h in hexes:
            c0 = time.process_time()
            t0 = time.perf_counter()
            fn(h)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            bar.advance(task)
    return (
        float(np.percentile(times, 50)),
        float(np.percentile(times, 99)),
        float(np.percentile(cpu, 99)),
    )


def _check(
    expected: list[set[tuple[int, int]]], got: list[set[tuple[int, int]]], radius: int
) -> tuple[int, int]:
    """(queries answered exactly, hits expected) at ``radius``."""
    want = [{h for h in e if h[1] <= radius} for e in expected]
    return sum(w == g for w, g in zip(want, got, strict=True)), sum(len(w) for w in want)


def measure_tessera(data: DataSet, expected: list[set[tuple[int, int]]]) -> Result:
    """Build, memory, latency, throughput and exactness of HammingIndex."""
    res = Result()
    gc.collect()
    rss0 = _rss()
    t0 = time.perf_counter()
    index = HammingIndex()
    index.add_array(data.ids, data.words)
    res.build_s = time.perf_counter() - t0
    n = len(data.words)
    shape = index.describe()
    grown = (_rss() - rss0) / n
    res.nbytes, res.rss = shape["nbytes"] / n, grown
    res.bytes_per_hash = f"{shape['nbytes'] / n:.0f} arrays, {grown:.0f} RSS"
    res.bytes_per_hash += f" ({shape['tables']} tables)"
    hexes = format_hex(data.queries)
    for radius in RADII:
        count = 1000 if radius == 31 else 300
        p50, p99, cpu99 = _latencies(
            lambda h, r=radius: index.query(h, r), hexes[:count], f"tessera query r={radius}"
        )
        res.single[radius] = (p50, p99, cpu99, count)
        batch = data.queries[: 4000 if radius < 52 else 1000]
        t0 = time.perf_counter()
        index.query_array(batch, radius)
        res.batch[radius] = (len(batch) / (time.perf_counter() - t0), len(batch))
    sample = data.queries[:SAMPLE]
    found = index.query_array(sample, max(RADII))
    exact = []
    for radius in RADII:
        got: list[set[tuple[int, int]]] = [set() for _ in sample]
        keep = found.distances <= radius
        for q, i, d in zip(
            found.query_index[keep].tolist(),
            found.ids[keep].tolist(),
            found.distances[keep].tolist(),
            strict=True,
        ):
            got[q].add((i, d))
        ok, hits = _check(expected, got, radius)
        exact.append(f"r={radius}: {ok}/{SAMPLE} ({hits} hits)")
        res.exact_all = (res.exact_all or radius == RADII[0]) and ok == SAMPLE
    res.exact = "; ".join(exact)
    return res


def _goals(n: int, results: list[tuple[str, Result, Result]]) -> str:
    """Issue 2's goals at ``n`` hashes, radius 31, met or not, per data set."""
    rows = []
    for name, ours, peer in results:
        _, o99, oc99, _ = ours.single[31]
        batch, faiss = ours.batch[31][0], peer.batch[31][0]
        loop = 1 / peer.single[31][0]

        def mark(ok: bool) -> str:
            return "met" if ok else "**not met**"

        rows += [
            [name, "exact (sample, r=16/31/52)", "yes" if ours.exact_all else "**no**", ""],
            [
                name,
                "single-query p99 ≤ 1 ms",
                f"{_ms(o99)} ms wall, {_ms(oc99)} ms CPU",
                f"wall {mark(o99 <= 1e-3)}, CPU {mark(oc99 <= 1e-3)}",
            ],
            [
                name,
                "≥ 50x pytx throughput",
                f"{batch / loop:.0f}x its `PDQIndex.query` loop, "
                f"{batch / faiss:.0f}x its faiss batch `range_search`",
                f"loop {mark(batch / loop >= 50)}, batch {mark(batch / faiss >= 50)}",
            ],
            [
                name,
                "≤ 150 bytes/hash",
                f"{ours.nbytes:.0f} arrays, {ours.rss:.0f} RSS",
                mark(max(ours.nbytes, ours.rss) <= 150),
            ],
        ]
    return f"Goals at {n:,} hashes, radius 31:\n\n" + md_table(
        ["data", "goal", "measured", ""], rows
    )


def measure_pytx(data: DataSet, expected: list[set[tuple[int, int]]]) -> Result:
    """The same for python-threatexchange's PDQIndex, with fewer queries where it is slow."""
    from threatexchange.signal_type.pdq.pdq_index import PDQIndex

    res = Result()
    n = len(data.words)
    hexes = format_hex(data.words)
    gc.collect()
    rss0 = _rss()
    console.print(f"  building PDQIndex of {n:,} (python-threatexchange)")
    t0 = time.perf_counter()
    index = PDQIndex(entries=zip(hexes, data.ids.tolist(), strict=True))
    res.build_s = time.perf_counter() - t0
    res.bytes_per_hash = f"{(_rss() - rss0) / n:.0f} RSS"
    del hexes
    inner = index.index  # PDQMultiHashIndex: sets nflip = radius // 16 itself
    queries = format_hex(data.queries)
    scale = max(1, n // 1_000_000)
    for radius in RADII:
        count = max(20, (300 if radius == 31 else 100) // scale)
        if radius == 31:
            fn: Callable[[str], object] = index.query
        else:
            fn = lambda h, r=radius: inner.search_with_distance_in_result([h], r)  # noqa: E731
        p50, p99, cpu99 = _latencies(fn, queries[:count], f"pytx query r={radius}")
        res.single[radius] = (p50, p99, cpu99, count)
        batch = queries[: max(40, (2000 if radius < 52 else 200) // scale)]
        t0 = time.perf_counter()
        inner.search_with_distance_in_result(batch, radius)
        res.batch[radius] = (len(batch) / (time.perf_counter() - t0), len(batch))
    found = inner.search_with_distance_in_result(queries[:SAMPLE], max(RADII))
    exact = []
    for radius in RADII:
        got = [  # faiss answers positions in the entry list: map them to ids
            {(int(data.ids[i]), int(d)) for i, _, d in found[q] if d <= radius}
            for q in queries[:SAMPLE]
        ]
        ok, hits = _check(expected, got, radius)
        exact.append(f"r={radius}: {ok}/{SAMPLE} ({hits} hits)")
    res.exact = "; ".join(exact)
    return res


def measure_upkeep(n: int, rng: np.random.Generator) -> str:
    """Freshness, background merge and snapshot save/load on an index of ``n`` random hashes."""
    data = dataset(random_set, n)
    index = HammingIndex()
    index.add_array(data.ids, data.words)
    next_id = n

    def freshness(rounds: int) -> list[float]:
        nonlocal next_id
        out = []
        for _ in range(rounds):
            h = _flip_random(data.words[rng.integers(0, n, 1)], rng, 8)
            t0 = time.perf_counter()
            index.add_array([next_id], h)
            while next_id not in index.query_array(h, 31).ids:
                pass
            out.append(time.perf_counter() - t0)
            next_id += 1
        return out

    idle = freshness(20)
    # Fill the delta to its limit: a background merge starts; keep adding and querying.
    bulk = rng.integers(0, 2**64, size=(8192, 4), dtype=np.uint64)
    t0 = time.perf_counter()
    for lo in range(0, len(bulk), 512):
        index.add_array(np.arange(next_id, next_id + 512), bulk[lo : lo + 512])
        next_id += 512
    during = freshness(20)
    hexes = format_hex(data.words[rng.integers(0, n, 300)])
    merging_before = index.describe()["merging"]
    p50, p99, _ = _latencies(lambda h: index.query(h, 31), hexes, "query during merge")
    merging_after = index.describe()["merging"]
    index.wait_for_merge()
    merge_s = time.perf_counter() - t0
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    path = CACHE_DIR / "bench-index.npz"
    t0 = time.perf_counter()
    index.save(path)
    save_s = time.perf_counter() - t0
    size = path.stat().st_size
    t0 = time.perf_counter()
    loaded = HammingIndex.load(path)
    load_s = time.perf_counter() - t0
    assert len(loaded) == next_id
    path.unlink()

    def ms(values: list[float]) -> str:
        return f"median {np.median(values) * 1e3:.2f} ms, max {max(values) * 1e3:.2f} ms"

    rows = [
        ["add → returned by query (idle)", ms(idle)],
        ["add → returned by query (merge running)", ms(during)],
        [
            "query r=31 while the merge runs",
            f"p50 {p50 * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms "
            f"(merge running at start/end: {merging_before}/{merging_after})",
        ],
        ["background merge of 8,192 adds (first add → installed)", f"{merge_s:.1f} s"],
        ["snapshot save / load", f"{save_s:.1f} s / {load_s:.1f} s ({size / 2**20:,.0f} MiB)"],
    ]
    return f"Upkeep at {n:,} random hashes:\n\n" + md_table(["what", "measured"], rows)


# ---- report ---------------------------------------------------------------------------------


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g}"


def _section(n: int, data: DataSet, ours: Result, peer: Result) -> str:
    rows = [
        [
            "build (s)",
            f"{ours.build_s:.1f}",
            f"{peer.build_s:.1f}",
            f"{peer.build_s / ours.build_s:.1f}x",
        ],
        ["memory (bytes/hash)", ours.bytes_per_hash, peer.bytes_per_hash, ""],
    ]
    for radius in RADII:
        o50, o99, oc99, on = ours.single[radius]
        p50, p99, pc99, pn = peer.single[radius]
        rows.append(
            [
                f"single query r={radius}: p50 / p99 / p99 CPU (ms)",
                f"{_ms(o50)} / {_ms(o99)} / {_ms(oc99)} (n={on})",
                f"{_ms(p50)} / {_ms(p99)} / {_ms(pc99)} (n={pn})",
                f"{p50 / o50:.0f}x / {p99 / o99:.0f}x / {pc99 / oc99:.0f}x",
            ]
        )
    for radius in RADII:
        oq, on = ours.batch[radius]
        pq, pn = peer.batch[radius]
        rows.append(
            [
                f"batch r={radius} (queries/s)",
                f"{oq:,.0f} (n={on})",
                f"{pq:,.0f} (n={pn})",
                f"{oq / pq:.0f}x",
            ]
        )
    p50 = peer.single[31][0]
    rows.append(
        [
            "PDQIndex.query loop r=31 (queries/s)",
            f"{ours.batch[31][0]:,.0f} (query_array)",
            f"{1 / p50:,.0f}",
            f"{ours.batch[31][0] * p50:.0f}x",
        ]
    )
    rows.append(["exact on the sample", ours.exact, peer.exact, ""])
    title = f"### {n:,} hashes, {data.name}" + (f" ({data.notes})" if data.notes else "")
    return title + "\n\n" + md_table(["", "Tessera HammingIndex", "pytx PDQIndex", "ratio"], rows)


def run(sizes: tuple[int, ...] = (1_000_000, 10_000_000)) -> str:
    """Measure both engines at each size on both data sets; returns the Markdown section."""
    rng = np.random.default_rng(2026)
    sections = [
        "## PDQ index: Tessera HammingIndex vs python-threatexchange PDQIndex",
        f"{os.cpu_count()} cores. Queries: half near-duplicates of stored hashes (0–20 bits), "
        "half fresh. Single queries go through the hex API (`query` / `PDQIndex.query`); "
        "batches through `query_array` / faiss `range_search`. Ratio: how many times Tessera "
        "is faster (or smaller). pytx runs fewer queries at 10M because each takes "
        "milliseconds; n says how many.",
    ]
    load = os.getloadavg()[0]
    for n in sizes:
        results: list[tuple[str, Result, Result]] = []
        for make in (random_set, clustered_set):
            console.print(f"[bold]{n:,} hashes, {make.__name__}[/]")
            data = dataset(make, n)
            expected = _reference(data, data.queries[:SAMPLE])
            ours = measure_tessera(data, expected)
            peer = measure_pytx(data, expected)
            sections.append(_section(n, data, ours, peer))
            console.print(sections[-1])
            results.append((data.name, ours, peer))
            del data
            gc.collect()
        if n == max(sizes):
            sections.append(_goals(n, results))
            console.print(sections[-1])
        del results
    sections.append(measure_upkeep(max(sizes), rng))
    console.print(sections[-1])
    sections[1] += (
        f" Load average (1 min) at the start and the end of the run: {load:.1f} / "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; wall-clock latencies count the "
        "time a query waits for a core, CPU latencies do not."
    )
    return "\n\n".join(sections)


if __name__ == "__main__":
    quick = "--quick" in sys.argv
    print(run(sizes=(100_000,)) if quick else run())
