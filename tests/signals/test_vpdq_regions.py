"""The vpdq_regions signal type: its format, and copies it finds that whole-frame vPDQ misses."""

from __future__ import annotations

import itertools
from functools import cache
from pathlib import Path

import av
import numpy as np
import pytest

from tessera.errors import InvalidSignal
from tessera.index.frames import FrameIndex, compare_frames, compare_videos
from tessera.media.content import Content
from tessera.signals.vpdq import (
    MIRROR,
    VideoHashes,
    VpdqParams,
    VpdqSignal,
    hash_video,
    parse_features,
)
from tessera.signals.vpdq_regions import (
    REGIONS_SCHEME,
    VARIANTS,
    VpdqRegionsSignal,
    format_regions,
    parse_regions,
    region_frames,
)
from tessera.testing.signal_contract import SignalTypeContract
from tests.media.video_synth import encode, scene

H1 = "e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c"
H2 = "c0f11178372c6aaccddea259648fbfd62f434c89c9e99b249772be216c8d055c"
Q12 = " ".join(["100"] * 12)
ONE = f'["{" ".join([H1] * 12)},{Q12},0.0"]'
TWO = f'["{" ".join([H1] * 12)},{Q12},0.0", "{" ".join([H2] * 12)},{Q12},1.5"]'


class TestVpdqRegionsContract(SignalTypeContract):
    signal_type = VpdqRegionsSignal
    valid = [
        (ONE, ONE),
        (TWO, TWO),
        (f'  ["{" ".join([H1.upper()] * 12)},{Q12},0.0000"]\n', ONE),
    ]
    invalid = [
        "",
        "[]",
        "{}",
        f'["{H1},100,0.0"]',  # a vpdq frame: one hash, not 12
        f'["{" ".join([H1] * 12)},{Q12}"]',
        f'["{" ".join([H1] * 12)},{" ".join(["101"] * 12)},0.0"]',
        f'["{" ".join([H1] * 12)},{Q12},-1"]',
        f'["{" ".join(["z" * 64] * 12)},{Q12},0.0"]',
    ]


def test_format_round_trips_and_refuses_bad_input() -> None:
    assert format_regions(parse_regions(TWO)) == TWO
    assert len(parse_regions(TWO)[0].hexes) == len(VARIANTS)
    for bad in ["[" * 100_000, f'["{H1},100,0.0"]', "[1]"]:
        with pytest.raises(InvalidSignal):
            parse_regions(bad)


P = VpdqParams()
STRICT = VpdqParams(min_query_pct=95, min_compared_pct=95, min_span_pct=95)
CHAIR = "chair-orig-22-sd-bar"


@cache
def _hashes(folder: Path, name: str) -> VideoHashes:
    return hash_video(Content.from_path(folder / f"{name}.mp4"), P, regions=True)


def _regions(a: VideoHashes, b: VideoHashes, params: VpdqParams = P) -> int:
    frames_a, frames_b = region_frames(a.regions), region_frames(b.regions)
    return compare_frames(frames_a, frames_b, params, REGIONS_SCHEME)[0]


def _frames(shared_data: Path, name: str, count: int = 90) -> list[np.ndarray]:
    with av.open(str(shared_data / "videos" / f"{name}.mp4")) as source:
        frames = itertools.islice(source.decode(source.streams.video[0]), count)
        return [f.to_ndarray(format="rgb24") for f in frames]


def _copy(frames: list[np.ndarray], edit) -> VideoHashes:  # type: ignore[no-untyped-def]
    data = encode(len(frames), lambda i: np.ascontiguousarray(edit(frames[i])), fps=30)
    return hash_video(Content.from_bytes(data), P, regions=True)


def test_a_copy_cropped_at_its_edges_matches_through_the_centre_crops(shared_data: Path) -> None:
    rgb = _frames(shared_data, "pattern-hd-no-bar")  # no bars: the crop cuts the picture
    original = _copy(rgb, lambda f: f)

    def cropped(f: np.ndarray) -> np.ndarray:
        h, w = f.shape[:2]
        return f[round(h * 0.05) : h - round(h * 0.05), round(w * 0.05) : w - round(w * 0.05)]

    copy = _copy(rgb, cropped)
    assert compare_videos(copy.frames, original.frames, P)[0] > 20  # whole frames: missed
    assert _regions(copy, original) <= VpdqRegionsSignal.default_threshold


@pytest.mark.parametrize(
    ("edit", "original"),
    [
        ("chair-22-with-large-logo-bar", CHAIR),
        ("pattern-sd-with-large-logo-bar", "pattern-hd-no-bar"),
        ("pattern-sd-with-small-logo-bar", "pattern-hd-no-bar"),
    ],
)
def test_overlaid_sample_edits_match_through_regions(
    shared_data: Path, edit: str, original: str
) -> None:
    folder = shared_data / "videos"
    edited, source = _hashes(folder, edit), _hashes(folder, original)
    assert compare_videos(edited.frames, source.frames, P)[0] > 20  # whole frames: missed
    assert _regions(edited, source) <= VpdqRegionsSignal.default_threshold


@pytest.mark.parametrize(
    ("query", "reference", "params"),
    [
        ("doorknob-hd-no-bar", CHAIR, P),
        ("doorknob-hd-no-bar", "pattern-hd-no-bar", P),
        ("pattern-hd-no-bar", CHAIR, P),
        ("chair-22-sd-grey-bar", "pattern-sd-grey-bar", P),
        ("chair-19-sd-bar", CHAIR, STRICT),
        ("chair-20-sd-bar", CHAIR, STRICT),
    ],
)
def test_unrelated_clips_and_other_chair_takes_at_the_strict_setting_do_not_match(
    shared_data: Path, query: str, reference: str, params: VpdqParams
) -> None:
    folder = shared_data / "videos"
    assert _regions(_hashes(folder, query), _hashes(folder, reference), params) == 100
    assert _regions(_hashes(folder, reference), _hashes(folder, query), params) == 100


def test_colour_edits_match_at_the_strict_setting(shared_data: Path) -> None:
    folder = shared_data / "videos"
    grey, original = _hashes(folder, "chair-22-sd-grey-bar"), _hashes(folder, CHAIR)
    assert _regions(grey, original, STRICT) <= VpdqRegionsSignal.default_threshold


def test_hashing_shares_the_vpdq_decode_and_gives_the_mirror() -> None:
    content = Content.from_bytes(encode(40, scene(3), fps=10))
    plain = VpdqSignal.hash_content(content)
    signal = VpdqRegionsSignal.hash_content(content)
    assert plain is not None and signal is not None
    frames = parse_regions(signal.value)
    assert [f.hexes[0] for f in frames] == [f.hex for f in parse_features(plain.value)]
    ((name, mirrored),) = VpdqRegionsSignal.transformed(content)
    assert name == MIRROR and len(parse_regions(mirrored.value)) == len(frames)
    index = FrameIndex(P, REGIONS_SCHEME)
    index.add([(1, signal.value)])
    assert [(h.id, h.distance) for h in index.query(signal.value, 20)] == [(1, 0)]
