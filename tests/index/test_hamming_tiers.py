"""HammingIndex tiers: main, recent segment and delta answer as one set, through every merge.

Reference answers come from Python's ``int.bit_count`` over a dict model of id -> hash.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.errors import InvalidSetting, StoreError
from tessera.index._mih import MihSegment
from tessera.index._snapshot import merge_live
from tessera.index.hamming import HammingIndex

_SEED = int.from_bytes(np.random.default_rng(3).bytes(32), "big")


def _words(values: list[int]) -> np.ndarray:
    raw = b"".join(v.to_bytes(32, "big") for v in values)
    return np.frombuffer(raw, dtype=">u8").astype(np.uint64).reshape(-1, 4)


def _value(words: np.ndarray) -> int:
    return int.from_bytes(words.astype(">u8").tobytes(), "big")


def _expected(model: dict[int, int], queries: list[int], radius: int) -> list[tuple[int, int, int]]:
    out = []
    for qi, q in enumerate(queries):
        for i, v in model.items():
            d = (q ^ v).bit_count()
            if d <= radius:
                out.append((qi, d, i))
    return sorted(out)


def _found(index: HammingIndex, queries: list[int], radius: int) -> list[tuple[int, int, int]]:
    got = index.query_array(_words(queries), radius)
    triples = zip(got.query_index.tolist(), got.distances.tolist(), got.ids.tolist(), strict=True)
    return list(triples)  # the index's own order: (query, distance, id)


# Hashes near one seed (so queries have neighbours) or anywhere.
_flips = st.sets(st.integers(0, 255), max_size=40).map(lambda bits: sum(1 << b for b in bits))
_values = st.one_of(_flips.map(lambda m: _SEED ^ m), st.integers(0, 2**256 - 1))
_ids = st.integers(0, 40)
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.lists(st.tuples(_ids, _values), min_size=1, max_size=6)),
        st.tuples(st.just("remove"), st.lists(_ids, min_size=1, max_size=6)),
        st.tuples(st.just("merge"), st.just([])),
    ),
    max_size=30,
)
_CONFIGS: dict[str, dict[str, Any]] = {
    "tables": {"tables": 16, "strategy": "tables", "background_merge": False},
    "scan": {"strategy": "scan", "background_merge": False},
    "background": {"tables": 32, "strategy": "tables"},
}


@pytest.mark.parametrize("config", sorted(_CONFIGS))
@settings(max_examples=60, deadline=None)
@given(ops=_ops, share=st.sampled_from([0.0, 0.3, 1.0]), limit=st.integers(1, 4))
def test_every_state_equals_brute_force(
    config: str, ops: list[tuple[str, Any]], share: float, limit: int
) -> None:
    """After any sequence of adds, removes and merges, queries equal brute force."""
    index = HammingIndex(delta_limit=limit, recent_share=share, **_CONFIGS[config])
    model: dict[int, int] = {}
    queries = [_SEED, _SEED ^ 0xFF, _SEED ^ (1 << 255) - 1]
    for op, arg in ops:
        if op == "add":
            ids = [i for i, _ in arg]
            index.add_array(ids, _words([v for _, v in arg]))
            model.update(arg)  # the last value given for an id wins
        elif op == "remove":
            index.remove(arg)
            for i in arg:
                model.pop(i, None)
        else:
            index.merge()
        assert len(index) == len(model)
        for radius in (0, 31, 256):
            assert _found(index, queries, radius) == _expected(model, queries, radius)
    index.wait_for_merge()
    assert sorted(i for _, _, i in _found(index, [0], 256)) == sorted(model)


def _batch(rng: np.random.Generator, start: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    ids = np.arange(start, start + n, dtype=np.int64)
    return ids, rng.integers(0, 2**64, size=(n, 4), dtype=np.uint64)


def test_minor_merges_then_a_major_one() -> None:
    """Full deltas go to the recent segment until it reaches ``recent_share`` of main."""
    rng = np.random.default_rng(1)
    index = HammingIndex(delta_limit=100, recent_share=0.25, background_merge=False)
    index.add_array(*_batch(rng, 0, 4000))  # a bulk load builds main
    assert index.describe()["main_rows"] == 4000
    for k in range(9):
        index.add_array(*_batch(rng, 10_000 + 100 * k, 100))
        shape = index.describe()
        assert (shape["main_rows"], shape["recent_rows"]) == (4000, 100 * (k + 1))
    index.add_array(*_batch(rng, 20_000, 100))  # 1,000 rows outside main: 25 % of it
    shape = index.describe()
    assert (shape["main_rows"], shape["recent_rows"], shape["size"]) == (5000, 0, 5000)


def test_remove_and_readd_in_every_tier() -> None:
    rng = np.random.default_rng(2)
    index = HammingIndex(delta_limit=50, background_merge=False)
    main_ids, main_words = _batch(rng, 0, 5000)
    index.add_array(main_ids, main_words)
    recent_ids, recent_words = _batch(rng, 10_000, 50)
    index.add_array(recent_ids, recent_words)  # fills the delta: a minor merge
    delta_ids, delta_words = _batch(rng, 20_000, 10)
    index.add_array(delta_ids, delta_words)
    shape = index.describe()
    assert (shape["main_rows"], shape["recent_rows"], shape["delta_rows"]) == (5000, 50, 10)
    model = dict(zip(main_ids.tolist(), map(_value, main_words), strict=True))
    model |= dict(zip(recent_ids.tolist(), map(_value, recent_words), strict=True))
    model |= dict(zip(delta_ids.tolist(), map(_value, delta_words), strict=True))
    gone = [3, 4000, 10_001, 10_049, 20_002]  # main, main, recent, recent, delta
    index.remove(gone)
    for i in gone:
        del model[i]
    again = [_value(main_words[7]) ^ 1, _SEED, _SEED ^ 3]
    index.add_array([4000, 10_001, 20_002], _words(again))  # re-added into the delta
    model |= {4000: again[0], 10_001: again[1], 20_002: again[2]}
    shape = index.describe()
    assert (shape["main_dead"], shape["recent_dead"], len(index)) == (2, 2, len(model))
    queries = [_value(main_words[7]), _value(recent_words[1]), _SEED, _value(delta_words[2])]
    for radius in (0, 31, 100):
        assert _found(index, queries, radius) == _expected(model, queries, radius)
    index.merge()
    for radius in (0, 31, 100):
        assert _found(index, queries, radius) == _expected(model, queries, radius)


def test_tombstones_in_the_recent_segment_trigger_a_minor_merge() -> None:
    rng = np.random.default_rng(4)
    index = HammingIndex(delta_limit=20, recent_share=1.0, background_merge=False)
    index.add_array(*_batch(rng, 0, 1000))
    for k in range(3):
        index.add_array(*_batch(rng, 5000 + 20 * k, 20))
    assert index.describe()["recent_rows"] == 60
    index.remove(range(5000, 5019))  # 19 recent rows: below the limit (20)
    assert index.describe()["recent_dead"] == 19
    index.remove([5019])
    shape = index.describe()
    assert (shape["main_rows"], shape["recent_rows"], shape["recent_dead"]) == (1000, 40, 0)


@settings(max_examples=100, deadline=None)
@given(
    ids=st.sets(st.integers(-50, 50), max_size=40),
    new=st.sets(st.integers(-60, 60), max_size=15),
    dead_every=st.integers(1, 5),
    chunk=st.integers(1, 9),
)
def test_merge_live_equals_a_sort(
    ids: set[int], new: set[int], dead_every: int, chunk: int
) -> None:
    """Chunked merging of a segment's live rows with new rows equals concatenating and sorting."""
    old = np.array(sorted(ids), dtype=np.int64)
    fresh = np.array(sorted(new - ids), dtype=np.int64)
    rng = np.random.default_rng(len(ids))
    old_words = rng.integers(0, 2**64, size=(len(old), 4), dtype=np.uint64)
    new_words = rng.integers(0, 2**64, size=(len(fresh), 4), dtype=np.uint64)
    seg = MihSegment.build(old_words, old, 0)
    dead = np.arange(0, len(old), dead_every, dtype=np.int64)
    out_ids, out_words = merge_live(seg, dead, fresh, new_words, chunk)
    keep = np.ones(len(old), bool)
    keep[dead] = False
    want_ids = np.concatenate([old[keep], fresh])
    order = np.argsort(want_ids)
    assert out_ids.tolist() == want_ids[order].tolist()
    assert np.array_equal(out_words, np.concatenate([old_words[keep], new_words])[order])


def test_snapshot_keeps_the_tiers(tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    index = HammingIndex(delta_limit=100, background_merge=False)
    index.add_array(*_batch(rng, 0, 5000))
    index.add_array(*_batch(rng, 10_000, 100))  # the recent segment
    index.add_array(*_batch(rng, 20_000, 5))  # the delta
    index.remove([1, 10_001, 20_001])
    path = tmp_path / "pdq.npz"
    index.save(path)
    again = HammingIndex.load(path)
    assert again.describe() | {"nbytes": 0} == index.describe() | {"nbytes": 0}
    assert again.describe()["recent_rows"] == 100
    queries = rng.integers(0, 2**64, size=(20, 4), dtype=np.uint64)
    queries[:3] = index._state.recent.hashes[:3]
    got, want = again.query_array(queries, 100), index.query_array(queries, 100)
    assert got.ids.tolist() == want.ids.tolist() and len(got.ids) > 3


def test_format_1_snapshots_load_and_unknown_ones_are_refused(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    index = HammingIndex(delta_limit=100)
    index.add_array(*_batch(rng, 0, 5000))
    index.add_array(*_batch(rng, 9000, 3))
    path = tmp_path / "pdq.npz"
    index.save(path)
    with np.load(path) as data:
        arrays = {k: v for k, v in data.items() if not k.startswith("recent_")}
    np.savez(path, **arrays | {"format": np.array([1])})  # as written before the recent tier
    again = HammingIndex.load(path)
    assert again.describe() | {"nbytes": 0} == index.describe() | {"nbytes": 0}
    np.savez(path, **arrays | {"format": np.array([99])})
    with pytest.raises(StoreError, match="format 99.*rebuild the index from the store"):
        HammingIndex.load(path)


def test_recent_share_out_of_range_is_refused() -> None:
    with pytest.raises(InvalidSetting, match="recent_share"):
        HammingIndex(recent_share=1.5)
