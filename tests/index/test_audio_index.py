"""The audio index: add, replace, remove, segments merging, where an excerpt sits, its voting
against brute force, offset table against binary search, and long queries in windows."""

from __future__ import annotations

import time

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.index.audio import (
    QUERY_HOP,
    QUERY_WINDOW,
    AudioIndex,
    Candidate,
    _Segment,
    candidates,
    windows,
)
from tessera.signals._audio_features import MAX_SHIFT, SHIFTS
from tessera.signals.tessera_audio import TesseraAudioSignal, encode_value


def _words(frames: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, 2**32, (frames, SHIFTS), dtype=np.uint32)


def _excerpt(words: np.ndarray, start: int, frames: int, flip_rate: float = 0.0) -> str:
    """Frames ``start``.. of a fingerprint, as a query, with bits flipped at ``flip_rate``."""
    part = words[start : start + frames].copy()
    rng = np.random.default_rng(start)
    flips = (rng.random((frames, 32)) < flip_rate).astype(np.uint64)
    noise = (flips << np.arange(32, dtype=np.uint64)).sum(axis=1).astype(np.uint32)
    part[:, MAX_SHIFT] ^= noise
    return encode_value(part)


def test_finds_the_reference_and_the_offset_among_many() -> None:
    refs = {i: _words(600, i) for i in range(30)}
    index = AudioIndex()
    index.add((i, encode_value(w)) for i, w in refs.items())
    assert len(index) == 30
    hits = index.query(_excerpt(refs[17], 250, 100, flip_rate=0.1), 50)
    assert [h.id for h in hits] == [17]
    assert hits[0].detail is not None and hits[0].detail["offset_s"] == 25.0
    assert hits[0].distance <= 25


def test_replace_and_remove_take_effect_for_the_next_query() -> None:
    a, b = _words(300, 1), _words(300, 2)
    index = AudioIndex()
    index.add([(5, encode_value(a))])
    assert [h.id for h in index.query(_excerpt(a, 50, 100), 50)] == [5]
    index.add([(5, encode_value(b))])  # same id, new value
    assert len(index) == 1
    assert index.query(_excerpt(a, 50, 100), 50) == []
    assert [h.id for h in index.query(_excerpt(b, 50, 100), 50)] == [5]
    index.remove([5, 99])
    assert len(index) == 0 and index.query(_excerpt(b, 50, 100), 50) == []


def test_many_small_adds_merge_into_few_segments() -> None:
    index = AudioIndex()
    refs = {}
    for i in range(40):
        refs[i] = _words(200, 100 + i)
        index.add([(i, encode_value(refs[i]))])
        assert [h.id for h in index.query(_excerpt(refs[i], 20, 100), 50)] == [i]
    assert len(index._segments) <= 7
    index.remove(range(0, 40, 2))
    for i in (1, 2, 39):
        expected = [] if i % 2 == 0 else [i]
        assert [h.id for h in index.query(_excerpt(refs[i], 20, 100), 50)] == expected


def test_threshold_filters_and_unrelated_short_queries_find_nothing() -> None:
    w = _words(300, 7)
    index = AudioIndex()
    index.add([(1, encode_value(w))])
    noisy = _excerpt(w, 10, 100, flip_rate=0.2)
    (hit,) = index.query(noisy, 60)
    assert index.query(noisy, hit.distance - 1) == []
    assert index.query(_excerpt(_words(300, 8), 10, 5), 50) == []


def _brute_force_candidates(
    refs: list[np.ndarray], query: np.ndarray, flips: bool = True
) -> list[Candidate]:
    """The voting of ``candidates``, written the slow, obvious way (plain ints, dicts)."""
    frames = np.concatenate(refs)
    keys = frames & np.uint32(0xFFFFFF)
    live = frames != 0
    votes: dict[tuple[int, int], list[int]] = {}  # (shift, offset) -> voter frames
    for row in np.flatnonzero(query[:, MAX_SHIFT] != 0):
        for shift in range(SHIFTS):
            near = np.bitwise_count(keys ^ (query[row, shift] & np.uint32(0xFFFFFF))) <= flips
            for frame in np.flatnonzero(near & live).tolist():
                votes.setdefault((shift, frame - int(row)), []).append(frame)
    found: dict[tuple[int, int], tuple[int, int]] = {}
    for stagger in (0, 1):
        bins: dict[tuple[int, int], list[int]] = {}
        for (shift, offset), voters in votes.items():
            bins.setdefault((shift, (offset + 4 * stagger) // 8), []).extend(voters)
        ranked = sorted(bins.items(), key=lambda kv: (-len(kv[1]), kv[0]))[:24]
        for (shift, b), voters in ranked:
            centre = 8 * b - 4 * stagger + 4
            if len(voters) > found.get((shift, centre), (0, 0))[0]:
                found[(shift, centre)] = (len(voters), min(voters))
    best = sorted(found.items(), key=lambda kv: (-kv[1][0], kv[0]))[:24]
    return [Candidate(s, c, v, f) for (s, c), (v, f) in best]


@settings(max_examples=15, deadline=None)
@given(st.integers(0, 2**32 - 1), st.booleans(), st.booleans())
def test_voting_equals_brute_force_with_either_lookup(seed: int, dense: bool, flips: bool) -> None:
    rng = np.random.default_rng(seed)
    # Few distinct keys, so postings collide, bins tie and the candidate cut matters.
    pool = rng.integers(0, 2**32, 40, dtype=np.uint32)
    refs = [rng.choice(pool, int(rng.integers(30, 120))) for _ in range(4)]
    refs[1][::7] = 0  # silent frames are not indexed
    seg = _Segment.build([0, 1, 2, 3], refs)
    seg = _Segment.from_words(seg.slots, seg.starts, seg.words, dense=dense)
    assert (seg.table is not None) == dense
    query = rng.choice(pool, (int(rng.integers(5, 40)), SHIFTS))
    query[0] = 0
    assert candidates(seg, query, flips) == _brute_force_candidates(refs, query, flips)


def test_offset_table_and_binary_search_find_the_same_postings() -> None:
    words = _words(5000, 3)[:, MAX_SHIFT].copy()
    words[::5] &= np.uint32(0xFF000000)  # shared keys, and some silent frames (key 0, word 0)
    starts = np.array([0, 2000, 5000], dtype=np.int64)
    slots = np.array([0, 1], dtype=np.int64)
    sparse = _Segment.from_words(slots, starts, words, dense=False)
    dense = _Segment.from_words(slots, starts, words, dense=True)
    assert sparse.table is None and dense.table is not None
    probes = np.concatenate([words & np.uint32(0xFFFFFF), np.arange(0, 1 << 24, 4099)])
    probes = probes.astype(np.uint32)
    for a, b in zip(sparse.lookup(probes), dense.lookup(probes), strict=True):
        assert np.array_equal(a, b)
    assert np.array_equal(sparse.positions, dense.positions)
    lo, hi = dense.lookup(probes[:10])
    for k, first, end in zip(probes[:10], lo, hi, strict=True):
        found = dense.positions[first:end]
        assert np.all(words[found] & np.uint32(0xFFFFFF) == k) and np.all(words[found] != 0)
        assert np.all(np.diff(found.astype(np.int64)) > 0)


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 5000), st.integers(0, 4999), st.integers(1, QUERY_WINDOW - QUERY_HOP))
def test_windows_cover_every_stretch(frames: int, at: int, length: int) -> None:
    starts = windows(frames)
    assert starts[0] == 0 and all(0 <= s and s + QUERY_WINDOW >= min(frames, s + 1) for s in starts)
    assert max(s + QUERY_WINDOW for s in starts) >= frames
    assert len(starts) <= 1 + frames // QUERY_HOP + 1
    at, length = min(at, frames - 1), min(length, frames - min(at, frames - 1))
    assert any(s <= at and at + length <= s + QUERY_WINDOW for s in starts)


def test_a_long_upload_is_searched_in_windows() -> None:
    ref = _words(1200, 40)
    index = AudioIndex()
    index.add([(1, encode_value(ref)), (2, encode_value(_words(1200, 41)))])
    upload = _words(6000, 42)  # ten minutes of other audio, with two minutes of ref inside
    upload[3000:4200] = ref
    started = time.perf_counter()
    hits = index.query(encode_value(upload), 50)
    assert time.perf_counter() - started < 30  # bounded: 30 windows of 30 s
    assert [h.id for h in hits] == [1]
    detail = hits[0].detail
    assert detail is not None and hits[0].distance == 0
    assert 300 - 20 <= detail["query_offset_s"] <= 420 - 10  # a window holding 10 s of ref
    assert detail["offset_s"] == round(detail["query_offset_s"] - 300, 1)
    assert TesseraAudioSignal.distance(encode_value(upload), encode_value(ref)) == 0


def test_bulk_load_answers_like_add() -> None:
    refs = {i: _words(400 + 10 * i, 60 + i) for i in range(6)}
    added, loaded = AudioIndex(), AudioIndex()
    added.add((i, encode_value(w)) for i, w in refs.items())
    flat = [w[:, MAX_SHIFT] for w in refs.values()]
    starts = np.r_[0, np.cumsum([len(w) for w in flat])].astype(np.int64)
    loaded.load(list(refs), starts, np.concatenate(flat))
    loaded.add([(9, encode_value(_words(300, 99)))])
    for w in refs.values():
        q = _excerpt(w, 100, 100, flip_rate=0.1)
        assert loaded.query(q, 50) == added.query(q, 50)
    assert len(loaded) == 7
