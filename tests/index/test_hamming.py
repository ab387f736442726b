"""HammingIndex: the index contract in four configurations, then the edges the contract may miss.

Reference answers come from ``np.unpackbits`` over the bytes, independent of the index's packed
popcount, or from Python's ``int.bit_count`` on the hex values.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from tessera.errors import InvalidSetting, InvalidSignal, StoreError
from tessera.index import _hamming_kernel
from tessera.index.base import IndexHit, SignalIndex
from tessera.index.hamming import HammingIndex, format_hex, parse_hex
from tessera.testing import IndexContract

_SEEDS = [int.from_bytes(np.random.default_rng(s).bytes(32), "big") for s in range(4)]


def _pdq_values() -> SearchStrategy[str]:
    """Hex hashes: families of near-duplicates of four seeds, plus unrelated ones."""
    flips = st.sets(st.integers(0, 255), max_size=60).map(lambda bits: sum(1 << b for b in bits))
    near = st.builds(lambda seed, mask: seed ^ mask, st.sampled_from(_SEEDS), flips)
    return st.one_of(near, st.integers(0, 2**256 - 1)).map(lambda v: f"{v:064x}")


class _HammingContract(IndexContract):
    def values(self) -> SearchStrategy[str]:
        return _pdq_values()

    def thresholds(self) -> SearchStrategy[int]:
        return st.one_of(st.sampled_from([0, 16, 31, 52, 128]), st.integers(0, 256))

    def distance(self, a: str, b: str) -> int:
        return (int(a, 16) ^ int(b, 16)).bit_count()


class TestHammingIndex(_HammingContract):
    """Defaults: small sets are scanned, the delta never fills."""

    def new_index(self) -> SignalIndex:
        return HammingIndex()


class TestHammingIndexTables(_HammingContract):
    """MIH forced on 16-bit tables; a tiny delta merges inside the writes."""

    def new_index(self) -> SignalIndex:
        return HammingIndex(tables=16, strategy="tables", delta_limit=5, background_merge=False)


class TestHammingIndexBackgroundMerges(_HammingContract):
    """MIH on 8-bit tables (crowded buckets), merging on a thread while changes go on."""

    def new_index(self) -> SignalIndex:
        return HammingIndex(tables=32, strategy="tables", delta_limit=3)


class TestHammingIndexTiers(_HammingContract):
    """MIH on 16-bit tables; full deltas merge into the recent segment until it outgrows main."""

    def new_index(self) -> SignalIndex:
        return HammingIndex(
            tables=16, strategy="tables", delta_limit=2, recent_share=1.0, background_merge=False
        )


class TestHammingIndexScan(_HammingContract):
    """No tables: every query scans."""

    def new_index(self) -> SignalIndex:
        return HammingIndex(strategy="scan", delta_limit=4, background_merge=False)


# ---- helpers ----------------------------------------------------------------------------------


def _random_words(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 2**64, size=(n, 4), dtype=np.uint64)


def _flip(words: np.ndarray, rng: np.random.Generator, k: int) -> np.ndarray:
    """A copy of one hash with exactly ``k`` distinct bits flipped."""
    bits = np.unpackbits(words.astype(">u8").view(np.uint8))
    bits[rng.choice(256, size=k, replace=False)] ^= 1
    return np.packbits(bits).view(">u8").astype(np.uint64)


def _reference(stored: np.ndarray, ids: np.ndarray, queries: np.ndarray, radius: int) -> list:
    """Sorted (query, id, distance) triples by unpacking every bit."""
    stored_bits = np.unpackbits(stored.astype(">u8").view(np.uint8), axis=1)
    out = []
    for qi, q in enumerate(queries):
        q_bits = np.unpackbits(q.astype(">u8").view(np.uint8))
        d = (stored_bits != q_bits).sum(axis=1)
        out += [(qi, int(ids[j]), int(d[j])) for j in np.flatnonzero(d <= radius)]
    return sorted(out)


def _answers(index: HammingIndex, queries: np.ndarray, radius: int) -> list:
    found = index.query_array(queries, radius)
    return sorted(
        zip(found.query_index.tolist(), found.ids.tolist(), found.distances.tolist(), strict=True)
    )


def _near_queries(rng: np.random.Generator, stored: np.ndarray, n: int, spread: int) -> np.ndarray:
    picks = stored[rng.integers(0, len(stored), n)]
    return np.stack([_flip(p, rng, int(rng.integers(0, spread + 1))) for p in picks])


@pytest.fixture(scope="module")
def base() -> tuple[np.ndarray, np.ndarray]:
    """30k random hashes (enough for the cost model to choose MIH at radius 31) and their ids."""
    rng = np.random.default_rng(7)
    return _random_words(rng, 30_000), rng.permutation(10**6)[:30_000].astype(np.int64)


@pytest.fixture(scope="module")
def loaded(base: tuple[np.ndarray, np.ndarray]) -> HammingIndex:
    index = HammingIndex()
    index.add_array(base[1], base[0])
    return index


# ---- exactness at the edges -------------------------------------------------------------------


@pytest.mark.parametrize("radius", [0, 1, 16, 31, 52, 100, 128, 200, 255])
def test_family_at_radius_and_one_beyond(base: tuple[np.ndarray, np.ndarray], radius: int) -> None:
    rng = np.random.default_rng(radius)
    query = base[0][123]
    flips = [k for k in (radius - 1, radius, radius + 1) if k >= 0]
    index = HammingIndex(delta_limit=2, background_merge=False)  # the family reaches the main
    index.add_array(base[1], base[0])
    index.add_array([10**7 + k for k in flips], np.stack([_flip(query, rng, k) for k in flips]))
    assert index.describe()["delta_rows"] == 0
    found = {hit.id: hit.distance for hit in index.query(format_hex(query[None])[0], radius)}
    for k in flips:
        assert found.get(10**7 + k) == (k if k <= radius else None)
    assert found[int(base[1][123])] == 0


def test_radius_zero_returns_every_id_holding_the_hash(loaded: HammingIndex) -> None:
    words = np.full((3, 4), 0xDEADBEEF, dtype=np.uint64)
    index = HammingIndex()
    index.add_array([5, 9, 2], words)
    assert index.query(format_hex(words[:1])[0], 0) == [
        IndexHit(2, 0),
        IndexHit(5, 0),
        IndexHit(9, 0),
    ]
    assert loaded.query(format_hex(words[:1])[0], 0) == []


def test_complement_is_at_distance_256_only(base: tuple[np.ndarray, np.ndarray]) -> None:
    query = base[0][:1]
    index = HammingIndex(tables=16, strategy="tables")
    index.add_array(base[1], base[0])
    index.add_array([-1], ~query)
    for radius in (0, 31, 255):
        assert -1 not in index.query_array(query, radius).ids
    everything = index.query_array(query, 256)
    assert len(everything.ids) == len(index)
    assert everything.distances[everything.ids == -1].tolist() == [256]


@pytest.mark.parametrize("radius", [128, 160, 256])
def test_large_radius_falls_back_to_a_scan(
    loaded: HammingIndex, base: tuple[np.ndarray, np.ndarray], radius: int
) -> None:
    assert not loaded._state.main.uses_tables(radius)
    queries = base[0][:3]
    assert _answers(loaded, queries, radius) == _reference(base[0], base[1], queries, radius)


@pytest.mark.parametrize("radius", [16, 31, 52])
def test_large_batch_equals_reference(
    loaded: HammingIndex, base: tuple[np.ndarray, np.ndarray], radius: int
) -> None:
    """Batches large enough to run on worker threads, by the cost model's route and by MIH."""
    forced = HammingIndex(strategy="tables")
    forced.add_array(base[1], base[0])
    assert forced.describe()["tables"] > 0 and forced._state.main.uses_tables(radius, "tables")
    assert loaded._state.main.uses_tables(radius) == (radius < 52)  # 30k rows: 52 scans
    rng = np.random.default_rng(radius)
    queries = _near_queries(rng, base[0], 300, spread=radius + 4)
    want = _reference(base[0], base[1], queries, radius)
    assert _answers(loaded, queries, radius) == want
    assert _answers(forced, queries, radius) == want
    assert len(want) >= 150  # most queries are near a stored hash


def test_query_many_answers_nearest_first(loaded: HammingIndex) -> None:
    rng = np.random.default_rng(3)
    query = loaded._state.main.hashes[:1]
    index = HammingIndex()
    index.add_array(np.arange(20), np.stack([_flip(query[0], rng, k) for k in range(20)]))
    (hits,) = index.query_many(format_hex(query), 31)
    assert [h.distance for h in hits] == list(range(20))


# ---- changes, merges, snapshots ---------------------------------------------------------------


def test_merge_boundary_remove_and_readd(base: tuple[np.ndarray, np.ndarray]) -> None:
    rng = np.random.default_rng(11)
    stored, ids = base[0].copy(), base[1].copy()
    index = HammingIndex(delta_limit=100, background_merge=False)
    index.add_array(ids, stored)
    extra_ids = np.arange(2 * 10**6, 2 * 10**6 + 100)
    extra = _near_queries(rng, stored, 100, spread=20)
    index.add_array(extra_ids[:99], extra[:99])
    assert index.describe()["delta_rows"] == 99
    index.add_array(extra_ids[99:], extra[99:])
    shape = index.describe()
    # A minor merge: the full delta became the recent segment; main was not rebuilt.
    assert (shape["size"], shape["main_rows"], shape["recent_rows"]) == (30_100, 30_000, 100)
    assert shape["delta_rows"] == 0
    all_ids = np.concatenate([ids, extra_ids])
    all_words = np.concatenate([stored, extra])
    queries = _near_queries(rng, extra, 40, spread=10)
    assert _answers(index, queries, 31) == _reference(all_words, all_ids, queries, 31)

    # Remove after the merge, then give some removed ids new values.
    gone = all_ids[::7]
    index.remove(gone.tolist())
    fresh = _random_words(rng, 50)
    index.add_array(gone[:50], fresh)
    keep = ~np.isin(all_ids, gone)
    model_ids = np.concatenate([all_ids[keep], gone[:50]])
    model_words = np.concatenate([all_words[keep], fresh])
    assert len(index) == len(model_ids)
    queries = np.concatenate([queries, _near_queries(rng, fresh, 10, spread=5)])
    assert _answers(index, queries, 31) == _reference(model_words, model_ids, queries, 31)
    index.merge()
    shape = index.describe()
    assert shape["main_dead"] == shape["recent_rows"] == shape["delta_rows"] == 0
    assert _answers(index, queries, 31) == _reference(model_words, model_ids, queries, 31)


def test_snapshot_round_trip(base: tuple[np.ndarray, np.ndarray], tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    index = HammingIndex(delta_limit=1000)
    index.add_array(base[1], base[0])
    index.remove(base[1][:500].tolist())  # tombstones in the main segment
    index.add_array([-5, -6, -7], _random_words(rng, 3))  # a live delta
    index.remove([-6])  # a tombstone in the delta
    path = tmp_path / "pdq.npz"
    index.save(path)
    again = HammingIndex.load(path)
    assert not list(tmp_path.glob("*.partial"))
    assert len(again) == len(index) == 30_000 - 500 + 2
    assert again.describe() | {"nbytes": 0} == index.describe() | {"nbytes": 0}
    queries = np.concatenate([_near_queries(rng, base[0], 50, 25), index._state.delta_hashes[:3]])
    for radius in (0, 31, 52):
        assert _answers(again, queries, radius) == _answers(index, queries, radius)
    again.add_array([-6], base[0][:1])  # the loaded index keeps working
    assert IndexHit(-6, 0) in again.query(format_hex(base[0][:1])[0], 0)


def test_queries_during_adds_removes_and_background_merges(
    base: tuple[np.ndarray, np.ndarray],
) -> None:
    """Each query sees every change that returned before it began, and nothing unmade."""
    rng = np.random.default_rng(13)
    query = base[0][:1]
    index = HammingIndex(delta_limit=64)
    index.add_array(base[1], base[0])
    batches = [
        np.stack([_flip(query[0], rng, int(k)) for k in rng.integers(0, 20, size=16)])
        for _ in range(120)
    ]
    # Batches b < adding (added) had their add called (returned); every third batch is removed
    # later, and batches b < removing (removed) with b % 3 == 0 had their remove called (returned).
    adding = added = removing = removed = 0
    failure: list[BaseException] = []

    def batch_ids(b: int) -> set[int]:
        return set(range(10**8 + 16 * b, 10**8 + 16 * (b + 1)))

    def write() -> None:
        nonlocal adding, added, removing, removed
        try:
            for b, words in enumerate(batches):
                adding = b + 1
                index.add_array(sorted(batch_ids(b)), words)
                added = b + 1
                if b % 3 == 2:
                    removing = b - 1
                    index.remove(sorted(batch_ids(b - 2)))
                    removed = b - 1
                time.sleep(0.002)  # let the reader interleave
        except BaseException as e:  # reported by the main thread
            failure.append(e)

    writer = threading.Thread(target=write)
    writer.start()
    checks = 0
    while writer.is_alive() or checks == 0:
        done_adds, done_removes = added, removed
        found = set(index.query_array(query, 31).ids.tolist()) - set(base[1].tolist())
        begun_adds, begun_removes = adding, removing
        # Visible: every add that returned before the query, unless its remove had begun.
        must = set().union(
            *(batch_ids(b) for b in range(done_adds) if not (b % 3 == 0 and b < begun_removes))
        )
        # Invisible: adds not begun by the end, and removes that returned before the start.
        never = set().union(*(batch_ids(b) for b in range(begun_adds, len(batches))))
        never |= set().union(*(batch_ids(b) for b in range(0, done_removes, 3)))
        assert must <= found and not (found & never)
        checks += 1
    writer.join()
    assert not failure, failure
    index.wait_for_merge()
    shape = index.describe()
    assert shape["main_rows"] + shape["recent_rows"] > 30_000  # background merges ran
    index.merge()
    expect = set().union(*(batch_ids(b) for b in range(len(batches)) if b % 3 or b >= removed))
    assert set(index.query_array(query, 31).ids.tolist()) - set(base[1].tolist()) == expect
    assert len(index) == 30_000 + len(expect)
    assert checks > 5


# ---- parsing and arguments --------------------------------------------------------------------


def test_hex_round_trip_and_byte_input() -> None:
    rng = np.random.default_rng(1)
    words = _random_words(rng, 100)
    text = format_hex(words)
    assert all(len(t) == 64 and t == t.lower() for t in text)
    assert (parse_hex(text) == words).all()
    assert (parse_hex([t.upper() for t in text]) == words).all()
    assert int(text[0], 16) == int.from_bytes(words[0].astype(">u8").tobytes(), "big")
    as_bytes = words.astype(">u8").view(np.uint8).reshape(100, 32)
    a, b = HammingIndex(), HammingIndex()
    a.add_array(np.arange(100), words)
    b.add_array(np.arange(100), as_bytes)
    assert _answers(a, words[:5], 100) == _answers(b, as_bytes[:5], 100)


@pytest.mark.parametrize("bad", ["ab" * 31, "ab" * 33, "zz" * 32, "ab" * 31 + " a", "é" * 64])
def test_malformed_hex_is_refused(bad: str) -> None:
    with pytest.raises(InvalidSignal):
        parse_hex(["00" * 32, bad])
    with pytest.raises(InvalidSignal):
        HammingIndex().add([(1, bad)])


def test_arguments_out_of_range_are_refused() -> None:
    with pytest.raises(InvalidSetting):
        HammingIndex(tables=5)
    with pytest.raises(InvalidSetting):
        HammingIndex(delta_limit=0)
    with pytest.raises(InvalidSetting):
        HammingIndex().query("00" * 32, -1)
    with pytest.raises(InvalidSetting):
        HammingIndex().add_array([1, 2], np.zeros((1, 4), np.uint64))
    with pytest.raises(InvalidSignal):
        HammingIndex().add_array([1], np.zeros((1, 3), np.uint64))


@pytest.mark.parametrize("damage", ["perm_row", "offsets_order", "offsets_shape", "ids_order"])
def test_damaged_snapshot_is_refused(
    base: tuple[np.ndarray, np.ndarray], tmp_path: Path, damage: str
) -> None:
    """A snapshot whose tables would send the kernel out of bounds raises StoreError on load."""
    index = HammingIndex(tables=16, strategy="tables")
    index.add_array(base[1][:5000], base[0][:5000])
    index.merge()
    path = tmp_path / "pdq.npz"
    index.save(path)
    with np.load(path) as data:
        arrays = dict(data)
    if damage == "perm_row":
        arrays["perm"][17] = 5000
    elif damage == "offsets_order":
        arrays["offsets"][100] = arrays["offsets"][-1] + 1
    elif damage == "offsets_shape":
        arrays["offsets"] = arrays["offsets"][:-1]
    else:
        arrays["ids"][[0, 1]] = arrays["ids"][[1, 0]]
    np.savez(path, **arrays)
    with pytest.raises(StoreError, match="damaged"):
        HammingIndex.load(path)


def test_kernel_refuses_tables_that_do_not_fit(loaded: HammingIndex) -> None:
    """The kernel checks the table layout and the ids it is given before it reads any bucket."""
    seg = loaded._state.main
    layout, masks = seg.plan(31)
    queries = seg.hashes[:2]
    none = np.empty(0, np.int64)
    bad = layout.copy()
    bad[-1, 2] = len(seg.offsets)  # a base beyond the offsets
    with pytest.raises(ValueError, match="does not fit"):
        _hamming_kernel.mih_search(
            seg.hashes, seg.ids, none, seg.offsets, seg.perm, bad, masks, queries, 31
        )
    with pytest.raises(ValueError, match="one per row"):
        _hamming_kernel.mih_search(
            seg.hashes, seg.ids[:-1], none, seg.offsets, seg.perm, layout, masks, queries, 31
        )
    with pytest.raises(ValueError, match="one per row"):
        _hamming_kernel.scan(seg.hashes, seg.ids[1:], none, queries, 31)
    with pytest.raises(ValueError, match="radius"):
        _hamming_kernel.scan(seg.hashes, seg.ids, none, queries, -1)
    dead = np.array([3, 5], np.int64)
    by_mih = _hamming_kernel.mih_search(
        seg.hashes, seg.ids, dead, seg.offsets, seg.perm, layout, masks, queries, 31
    )
    by_scan = _hamming_kernel.scan(seg.hashes, seg.ids, dead, queries, 31)

    def triples(found: tuple[bytes, bytes, bytes]) -> list[tuple[int, int, int]]:
        q, ids, dist = (np.frombuffer(b, t).tolist() for b, t in zip(found, "qqi", strict=True))
        return list(zip(q, ids, dist, strict=True))

    # Both come sorted by (query, distance, id), and agree.
    assert triples(by_mih) == triples(by_scan) == sorted(triples(by_scan), key=_by_distance)
    assert len(triples(by_scan)) >= 2
    ids, dists = np.frombuffer(by_scan[1], np.int64), np.frombuffer(by_scan[2], np.int32)
    hits = _hamming_kernel.index_hits(IndexHit, ids, dists, 1, len(ids))
    pairs = zip(ids[1:].tolist(), dists[1:].tolist(), strict=True)
    assert hits == [IndexHit(i, d) for i, d in pairs]
    assert all(type(h) is IndexHit and h.detail is None for h in hits)
    with pytest.raises(TypeError, match="tuple subclass"):
        _hamming_kernel.index_hits(dict, ids, dists, 0, 1)
    with pytest.raises(ValueError, match="bounds"):
        _hamming_kernel.index_hits(IndexHit, ids, dists, 0, len(ids) + 1)


def _by_distance(t: tuple[int, int, int]) -> tuple[int, int, int]:
    return t[0], t[2], t[1]


def test_hits_come_sorted_without_tombstoned_rows(base: tuple[np.ndarray, np.ndarray]) -> None:
    """A family large enough for the kernel's counting sort, with rows removed: the kernel's own
    order (no sort in Python) is (query, distance, id) and removed ids never come back."""
    rng = np.random.default_rng(11)
    seed = base[0][0]
    family = np.stack([_flip(seed, rng, int(rng.integers(0, 20))) for _ in range(300)])
    stored = np.concatenate([base[0][:5000], family])
    ids = rng.permutation(10**6)[: len(stored)].astype(np.int64)
    for index in (HammingIndex(tables=11, strategy="tables"), HammingIndex(strategy="scan")):
        index.add_array(ids, stored)
        index.merge()
        index.remove_array(ids[5000::7])
        queries = np.stack([seed, _flip(seed, rng, 10), base[0][1]])
        found = index.query_array(queries, 31)
        got = list(zip(*(a.tolist() for a in found), strict=True))
        live = np.ones(len(stored), bool)
        live[5000::7] = False
        want = _reference(stored[live], ids[live], queries, 31)
        assert got == sorted(want, key=_by_distance)
        assert len(got) > 2 * 32  # beyond the kernel's insertion-sort cut-off
