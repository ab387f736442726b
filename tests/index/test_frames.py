"""The frame index answers exactly as brute-force comparison does (vpdq and vpdq_regions frames)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import DataObject

from tessera.index.base import IndexHit
from tessera.index.frames import FrameIndex, compare_frames, compare_videos
from tessera.signals.vpdq import VpdqFeature, VpdqParams, format_features, parse_features
from tessera.signals.vpdq_regions import (
    REGIONS_SCHEME,
    VARIANTS,
    RegionFrame,
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
