"""Videos hashed as queries: sparse frames against dense references still match, and only then."""

from __future__ import annotations

import json
from functools import cache

import cv2
import numpy as np

from tessera.index.frames import FrameIndex
from tessera.media.content import Content
from tessera.signals.vpdq import (
    VpdqParams,
    VpdqSignal,
    format_features,
    hash_video,
    hashing_queries,
    parse_features,
)
from tessera.signals.vpdq_regions import REGIONS_SCHEME, VpdqRegionsSignal, format_regions
from tests.media.test_video_sparse import _encode_gop
from tests.media.video_synth import Frame

PARAMS = VpdqParams()


@cache
def video(seed: int, gop: int) -> bytes:
    """8 s at 30 fps of a camera panning over a textured wall, a keyframe every ``gop`` frames."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, (480, 1200, 3), dtype=np.uint8)
    wall = cv2.normalize(cv2.GaussianBlur(noise, (0, 0), 4), None, 0, 255, cv2.NORM_MINMAX)

    def draw(i: int) -> Frame:
        return np.ascontiguousarray(wall[120:360, 3 * i : 3 * i + 320])

    return _encode_gop(240, draw, fps=30, gop=gop)


def test_a_query_hashes_far_fewer_frames_than_a_reference() -> None:
    content = Content.from_bytes(video(5, 60))
    dense = hash_video(content, PARAMS, regions=True)
    sparse = hash_video(content, PARAMS, regions=True, query=True)
    assert 0 < len(sparse.frames) <= len(dense.frames) / 4
    assert len(sparse.regions) == len(sparse.frames) == len(sparse.mirrored)
    times = [f.timestamp for f in sparse.frames]
    assert times[0] == 0.0 and times[-1] >= 8.0 - 2.0 - 1 / 30
    assert PARAMS.query_gap is not None
    assert all(b - a <= PARAMS.query_gap + 1 / 30 for a, b in zip(times, times[1:], strict=False))


def test_a_sparse_query_of_a_re_encoded_copy_matches_its_dense_reference_only() -> None:
    # The copy is the same footage with other keyframe positions (a re-encode), so its sparse
    # frames fall between the reference's keyframes: the dense reference still has them.
    index = FrameIndex(PARAMS)
    regions = FrameIndex(PARAMS, REGIONS_SCHEME)
    for i, seed in enumerate((5, 6)):
        ref = hash_video(Content.from_bytes(video(seed, 60)), PARAMS, regions=True)
        index.add([(i, format_features(ref.frames))])
        regions.add([(i, format_regions(ref.regions))])
    query = hash_video(Content.from_bytes(video(5, 45)), PARAMS, regions=True, query=True)
    hits = index.query(format_features(query.frames), VpdqSignal.default_threshold)
    assert [(h.id, h.distance) for h in hits] == [(0, 0)]
    hits = regions.query(format_regions(query.regions), VpdqRegionsSignal.default_threshold)
    assert [(h.id, h.distance) for h in hits] == [(0, 0)]
    other = hash_video(Content.from_bytes(video(7, 45)), PARAMS, regions=True, query=True)
    assert index.query(format_features(other.frames), VpdqSignal.default_threshold) == []


def test_hashing_queries_switches_the_signal_types_to_sparse_and_back() -> None:
    content = Content.from_bytes(video(5, 60))
    stored = VpdqSignal.hash_content(content)
    with hashing_queries():
        looked_up = VpdqSignal.hash_content(content)
        looked_up_regions = VpdqRegionsSignal.hash_content(content)
    again = VpdqSignal.hash_content(content)
    assert stored is not None and looked_up is not None and looked_up_regions is not None
    assert again is not None and again.value == stored.value
    assert len(parse_features(looked_up.value)) < len(parse_features(stored.value)) / 4
    assert len(json.loads(looked_up_regions.value)) == len(parse_features(looked_up.value))
