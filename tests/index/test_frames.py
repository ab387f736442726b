"""The frame index answers exactly as brute-force comparison does (vpdq and vpdq_regions frames)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import DataObject

from tessera.index.base import IndexHit
from tessera.index.frames import VPDQ_SCHEME, FrameIndex, compare_frames, compare_videos
from tessera.signals.vpdq import VpdqFeature, VpdqParams, format_features, parse_features
from tessera.signals.vpdq_regions import (
    ALIGNED_FRAME_THRESHOLD,
    REGIONS_SCHEME,
    VARIANTS,
    RegionFrame,
    VpdqRegionsSignal,
    format_regions,
    parse_regions,
    region_frames,
)

# A few base hashes; frames are those with a few bits flipped, so videos share near frames.
_BASES = [int("5a" * 32, 16), int("c3" * 32, 16), int("0f" * 32, 16)]


@st.composite
def frame(draw: st.DrawFn) -> VpdqFeature:
    value = draw(st.sampled_from(_BASES))
    for bit in draw(st.lists(st.integers(0, 255), max_size=40)):
        value ^= 1 << bit
    quality = draw(st.sampled_from([30, 60, 100]))
    return VpdqFeature(f"{value:064x}", quality, draw(st.integers(0, 20)) / 2)


videos = st.lists(frame(), min_size=1, max_size=8).map(format_features)
_IDS = st.integers(0, 12)


def brute(model: dict[int, str], value: str, threshold: int, params: VpdqParams) -> list[IndexHit]:
    hits = []
    for i, v in model.items():
        distance, detail = compare_videos(parse_features(value), parse_features(v), params)
        if distance <= min(threshold, 99):  # 100 is "nothing in common", never a hit
            hits.append(IndexHit(i, distance, detail))
    return sorted(hits, key=lambda h: (h.distance, h.id))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    params=st.builds(
        VpdqParams,
        frame_threshold=st.sampled_from([0, 10, 31]),
        min_query_pct=st.sampled_from([0, 50]),
        min_span_pct=st.sampled_from([0, 0, 90]),
    ),
)
def test_index_equals_brute_force_through_changes(data: DataObject, params: VpdqParams) -> None:
    index = FrameIndex(params)
    model: dict[int, str] = {}
    threshold = data.draw(st.integers(0, 100), label="threshold")
    for _ in range(data.draw(st.integers(1, 6), label="steps")):
        if data.draw(st.booleans(), label="add?"):
            items = data.draw(st.lists(st.tuples(_IDS, videos), max_size=5), label="add")
            index.add(items)
            model.update(items)
        else:
            ids = data.draw(st.lists(_IDS, max_size=4), label="remove")
            index.remove(ids)
            for i in ids:
                model.pop(i, None)
        assert len(index) == len(model)
        queries = data.draw(st.lists(videos, min_size=1, max_size=2), label="queries")
        queries += list(model.values())[:1]
        for q in queries:
            assert index.query(q, threshold) == brute(model, q, threshold, params)


def test_a_stored_video_matches_itself_with_its_whole_segment() -> None:
    frames = [VpdqFeature(f"{b:064x}", 100, float(t)) for t, b in enumerate(_BASES)]
    index = FrameIndex()
    index.add([(7, format_features(frames))])
    ((hit,),) = [index.query(format_features(frames[1:]), 20)]
    assert hit.id == 7 and hit.distance == 0  # the query is all in the reference
    assert hit.detail is not None
    assert (hit.detail["reference_start_s"], hit.detail["reference_end_s"]) == (1.0, 2.0)
    assert hit.detail["query_match_pct"] == 100.0
    index.remove([7, 8])
    assert index.query(format_features(frames), 100) == [] and len(index) == 0


@st.composite
def region_frame(draw: st.DrawFn) -> RegionFrame:
    hexes = [draw(frame()).hex for _ in VARIANTS]
    qualities = [draw(st.sampled_from([30, 60, 100])) for _ in VARIANTS]
    return RegionFrame(tuple(hexes), tuple(qualities), draw(st.integers(0, 20)) / 2)


region_videos = st.lists(region_frame(), min_size=1, max_size=5).map(format_regions)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stored=st.lists(st.tuples(_IDS, region_videos), max_size=4), query=region_videos)
def test_region_index_equals_brute_force(stored: list[tuple[int, str]], query: str) -> None:
    index = FrameIndex(VpdqParams(), REGIONS_SCHEME)
    index.add(stored)
    model = dict(stored)
    for q in [query, *list(model.values())[:1]]:
        expected = []
        for i, v in model.items():
            frames = region_frames(parse_regions(q)), region_frames(parse_regions(v))
            distance, detail = compare_frames(*frames, VpdqParams(), REGIONS_SCHEME)
            if distance <= 50:
                expected.append(IndexHit(i, distance, detail))
        assert index.query(q, 50) == sorted(expected, key=lambda h: (h.distance, h.id))


def _flip(value: int, bits: int, seed: int) -> int:
    """``value`` with ``bits`` distinct bits flipped."""
    for bit in np.random.default_rng(seed).choice(256, size=bits, replace=False).tolist():
        value ^= 1 << bit
    return value


def _regions_video(hashes: list[int], start: float = 0.0) -> str:
    """A vpdq_regions value: one frame a tenth of a second, every variant the frame's hash."""
    return format_regions(
        RegionFrame((f"{h:064x}",) * len(VARIANTS), (100,) * len(VARIANTS), start + k / 10)
        for k, h in enumerate(hashes)
    )


def _scores(query: str, reference: str) -> tuple[int, int, int]:
    """Distance by the regions scheme, without its aligned pass, and by the index."""
    frames = region_frames(parse_regions(query)), region_frames(parse_regions(reference))
    strict_only = replace(REGIONS_SCHEME, aligned_threshold=None)
    index = FrameIndex(VpdqParams(), REGIONS_SCHEME)
    index.add([(1, reference)])
    hits = index.query(query, 100)
    assert [h.detail for h in hits] == [compare_frames(*frames, VpdqParams(), REGIONS_SCHEME)[1]]
    return (
        compare_frames(*frames, VpdqParams(), REGIONS_SCHEME)[0],
        compare_frames(*frames, VpdqParams(), strict_only)[0],
        hits[0].distance,
    )


def test_aligned_frames_match_within_the_aligned_threshold_and_nowhere_else() -> None:
    rng = np.random.default_rng(5)
    reference = [int.from_bytes(rng.bytes(32), "big") for _ in range(20)]
    # 5 frames within 31 bits fix the alignment; the other 15 are 48 bits from their partner
    near = [_flip(h, 10, k) for k, h in enumerate(reference[:5])]
    far = [_flip(h, ALIGNED_FRAME_THRESHOLD, k) for k, h in enumerate(reference[5:])]
    assert _scores(_regions_video(near + far), _regions_video(reference)) == (0, 75, 0)
    # one bit further: only the 5 strict frames match
    farther = [_flip(h, ALIGNED_FRAME_THRESHOLD + 1, k) for k, h in enumerate(reference[5:])]
    assert _scores(_regions_video(near + farther), _regions_video(reference)) == (75, 75, 75)
    # the 48-bit frames 0.7 s out of step with the alignment the strict ones fix do not match
    shuffled = near + far[7:] + far[:7]
    assert _scores(_regions_video(shuffled), _regions_video(reference)) == (75, 75, 75)
    # the copy's own clock 1 s ahead (another start): the alignment follows it
    trimmed = _regions_video(near[:5] + far, start=1.0)
    assert _scores(trimmed, _regions_video(reference)) == (0, 75, 0)


def test_vpdq_keeps_vpdqs_frame_rule() -> None:
    rng = np.random.default_rng(6)
    reference = [int.from_bytes(rng.bytes(32), "big") for _ in range(4)]
    query = [reference[0], *(_flip(h, 40, k) for k, h in enumerate(reference[1:]))]
    as_features = [
        [VpdqFeature(f"{h:064x}", 100, k / 10) for k, h in enumerate(v)] for v in (query, reference)
    ]
    assert VPDQ_SCHEME.aligned_threshold is None
    assert compare_videos(*as_features, VpdqParams())[0] == 75


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(a=region_videos, b=region_videos)
def test_region_distance_with_the_aligned_pass_is_symmetric(a: str, b: str) -> None:
    assert VpdqRegionsSignal.distance(a, b) == VpdqRegionsSignal.distance(b, a)
