"""The vpdq signal type: Meta's format both ways, hashing real clips, and vPDQ matching rules."""

from __future__ import annotations

import itertools
import json
import random
from functools import cache
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tessera.errors import InvalidSignal
from tessera.index.frames import border_crop, compare_videos
from tessera.media.content import Content
from tessera.media.video import decode_video
from tessera.signals.vpdq import (
    MIRROR,
    VpdqFeature,
    VpdqParams,
    VpdqSignal,
    format_features,
    hash_video,
    parse_features,
)
from tessera.testing.signal_contract import SignalTypeContract
from tests.media.video_synth import encode, scene

H1 = "e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c"
H2 = "c0f11178372c6aaccddea259648fbfd62f434c89c9e99b249772be216c8d055c"
PYTX = f'["{H1},100,0.0", "{H2},98,1.0"]'  # as python-threatexchange's vpdq_to_json writes it


class TestVpdqContract(SignalTypeContract):
    signal_type = VpdqSignal
    valid = [
        (PYTX, PYTX),
        (f'  ["{H1.upper()},100,0", "{H2},98,1.000"]\n', PYTX),
        (f"0,100,{H1},0.000\n30,98,{H2},1.000\n", PYTX),  # Meta's vpdq-hash-video file
        (f'["{H1},100,0.0333333"]', f'["{H1},100,0.033"]'),
        (f'["{H2},70,1.23e+02"]', f'["{H2},70,123.0"]'),
    ]
    invalid = [
        "",
        "[]",
        "{}",
        '["abc,100,0.0"]',
        f'["{H1},101,0.0"]',
        f'["{H1},100,-1.0"]',
        f'["{H1},100,nan"]',
        f'["{H1},100"]',
        f'["{H1},x,0.0"]',
        f"[{H1}]",
        f"0,100,{H1}\n",
        '["' + "z" * 64 + ',100,0.0"]',
    ]


features = st.builds(
    VpdqFeature,
    st.text("0123456789abcdef", min_size=64, max_size=64),
    st.integers(0, 100),
    st.floats(0, 1e6, allow_nan=False).map(lambda t: round(t, 3)),
)


@given(st.lists(features, min_size=1, max_size=20))
def test_format_round_trips(frames: list[VpdqFeature]) -> None:
    text = format_features(frames)
    assert parse_features(text) == frames
    assert VpdqSignal.validate(text) == text
    assert all(len(item.split(",")) == 3 for item in json.loads(text))


def test_python_threatexchange_reads_what_tessera_writes() -> None:
    pytest.importorskip("vpdq")  # python-threatexchange's vpdq extension imports it
    from threatexchange.extensions.vpdq.vpdq_util import json_to_vpdq, vpdq_to_json

    ours = [VpdqFeature(H1, 100, 0.0), VpdqFeature(H2, 98, 12.345)]
    theirs = json_to_vpdq(format_features(ours))
    assert [(f.pdq_hex, f.quality, f.timestamp) for f in theirs] == list(map(tuple, ours))
    assert VpdqSignal.validate(vpdq_to_json(theirs)) == format_features(
        [VpdqFeature(H1, 100, 0.0), VpdqFeature(H2, 98, 12.3)]  # pytx keeps 3 digits
    )


def test_matching_follows_vpdq_rules() -> None:
    far = "f" * 64
    query = [VpdqFeature(H1, 100, 0.0), VpdqFeature(far, 100, 1.0)]
    ref = [VpdqFeature(H2, 100, 5.0), VpdqFeature(H1, 20, 6.0)]
    params = VpdqParams()
    distance, detail = compare_videos(query, ref, params)
    assert distance == 0  # every usable reference frame matched (the quality-20 one is ignored)
    assert detail == {
        "query_start_s": 0.0,
        "query_end_s": 0.0,
        "reference_start_s": 5.0,
        "reference_end_s": 5.0,
        "query_match_pct": 50.0,
        "compared_match_pct": 100.0,
    }
    assert compare_videos(query, ref, VpdqParams(min_query_pct=80))[0] == 100
    assert compare_videos(query, ref, VpdqParams(frame_threshold=5))[0] == 100
    assert compare_videos(ref, query, params)[0] == 0  # symmetric: the larger share decides


def _distinct_frames(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.getrandbits(256):064x}" for _ in range(count)]


def test_min_span_pct_asks_for_whole_copies_in_time() -> None:
    hexes = _distinct_frames(20, seed=7)
    source = [VpdqFeature(h, 100, float(t)) for t, h in enumerate(hexes)]
    trimmed = [VpdqFeature(h, 100, float(t)) for t, h in enumerate(hexes[3:])]  # lacks 3 s
    damaged = list(source)
    damaged[10] = VpdqFeature("0" * 63 + "1", 100, 10.0)  # one frame in the middle lost
    whole = VpdqParams(min_span_pct=95)
    assert compare_videos(trimmed, source, VpdqParams())[0] == 0  # all of the excerpt matches
    assert compare_videos(trimmed, source, whole)[0] == 100  # it spans 85 % of the source
    assert compare_videos(source, trimmed, whole)[0] == 100  # either way round
    assert compare_videos(damaged, source, whole)[0] == 5  # spans all of it; 95 % matched
    assert compare_videos(trimmed, source, VpdqParams(min_span_pct=85))[0] == 0


def test_hashing_a_clip_gives_its_mirror_from_the_same_decode() -> None:
    content = Content.from_bytes(encode(40, scene(3), fps=10))
    signal = VpdqSignal.hash_content(content)
    assert signal is not None and signal.quality is not None and signal.quality >= 50
    frames = parse_features(signal.value)
    assert 4 <= len(frames) <= 40  # every frame of 4 s at 10 fps, near repeats dropped
    ((name, mirrored),) = VpdqSignal.transformed(content)
    assert name == MIRROR and len(parse_features(mirrored.value)) == len(frames)


def test_a_mirrored_copy_matches_through_the_mirror_query(shared_data: Path) -> None:
    with av.open(str(shared_data / "videos" / f"{CHAIR}.mp4")) as source:
        stream = source.streams.video[0]
        frames = itertools.islice(source.decode(stream), 90)
        rgb = [f.to_ndarray(format="rgb24") for f in frames]
    flipped = Content.from_bytes(encode(len(rgb), lambda i: rgb[i][:, ::-1].copy(), fps=30))
    original = Content.from_bytes(encode(len(rgb), lambda i: rgb[i], fps=30))
    query = hash_video(flipped, P).frames
    assert compare_videos(query, hash_video(original, P).frames, P)[0] > 20
    assert compare_videos(query, hash_video(original, P).mirrored, P)[0] <= 20


def test_letterbox_bars_are_cut_before_hashing() -> None:
    draw = scene(4)

    def boxed(i: int) -> npt.NDArray[np.uint8]:
        out = np.zeros_like(draw(i))
        out[20:100] = draw(i)[20:100]
        return out

    lumas = [f.luma.pixels for f in decode_video(Content.from_bytes(encode(30, boxed)))]
    top, bottom, left, right = border_crop(lumas[:8])
    assert 18 <= top <= 21 and 18 <= bottom <= 21 and left == right == 0
    plain = hash_video(Content.from_bytes(encode(30, lambda i: draw(i)[20:100].copy())), P)
    box = hash_video(Content.from_bytes(encode(30, boxed)), P)
    # Smooth synthetic frames are PDQ's hardest case (many coefficients near the median): the cut
    # copy matches most frames (measured: distance 30), the uncut one would match none.
    assert compare_videos(box.frames, plain.frames, P)[0] < 50


P = VpdqParams()
CHAIR = "chair-orig-22-sd-bar"


@cache
def _hashes(folder: Path, name: str) -> list[VpdqFeature]:
    return hash_video(Content.from_path(folder / f"{name}.mp4"), P).frames


@pytest.fixture
def clips(shared_data: Path):  # type: ignore[no-untyped-def]
    return lambda name: _hashes(shared_data / "videos", name)


# The shared sample clips. Measured here: chair-19 and chair-20 are not other takes but the same
# footage as chair-22 from 3.7 s and from 2.0 s (every frame within 12 bits of chair-22's frame at
# that offset; Meta's TMK scores them 0.95 against it, as it scores the colour edits). The strict
# setting asks for whole copies: both videos at least 95 % made of the other, and the matched
# segment spanning at least 95 % of both. Frame shares alone would let chair-20 through (97 % of
# chair-22's frames have a partner: its first 2 s are slow and close to later frames); its
# segment spans 94 % of chair-22's time (the still scene that ends 2 s in starts at 1.3 s),
# chair-19's 84 %. At the default setting both are found as the excerpts they are.
STRICT = VpdqParams(min_query_pct=95, min_compared_pct=95, min_span_pct=95)
EDITS = ["chair-22-sd-grey-bar", "chair-22-sd-sepia-bar", "chair-22-with-small-logo-bar"]


@pytest.mark.parametrize("edit", EDITS)
def test_edits_of_the_sample_match_their_original(clips, edit: str) -> None:  # type: ignore[no-untyped-def]
    assert compare_videos(clips(edit), clips(CHAIR), P)[0] <= VpdqSignal.default_threshold


@pytest.mark.parametrize("edit", ["chair-22-sd-grey-bar", "chair-22-sd-sepia-bar"])
def test_colour_edits_still_match_at_the_strict_setting(clips, edit: str) -> None:  # type: ignore[no-untyped-def]
    assert compare_videos(clips(edit), clips(CHAIR), STRICT)[0] <= VpdqSignal.default_threshold


@pytest.mark.parametrize(
    ("query", "reference"),
    [
        ("doorknob-hd-no-bar", CHAIR),
        ("doorknob-hd-no-bar", "pattern-hd-no-bar"),
        ("pattern-hd-no-bar", CHAIR),
        ("chair-22-sd-grey-bar", "pattern-sd-grey-bar"),
    ],
)
def test_unrelated_clips_have_no_frame_in_common(clips, query: str, reference: str) -> None:  # type: ignore[no-untyped-def]
    assert compare_videos(clips(query), clips(reference), P)[0] == 100
    assert compare_videos(clips(reference), clips(query), P)[0] == 100


@pytest.mark.parametrize("take", ["chair-19-sd-bar", "chair-20-sd-bar"])
def test_the_other_chair_takes_do_not_match_at_the_strict_setting(clips, take: str) -> None:  # type: ignore[no-untyped-def]
    assert compare_videos(clips(take), clips(CHAIR), STRICT)[0] == 100
    assert compare_videos(clips(CHAIR), clips(take), STRICT)[0] == 100


def test_frame_shares_alone_call_chair_20_a_whole_copy(clips) -> None:  # type: ignore[no-untyped-def]
    shares_only = VpdqParams(min_query_pct=95, min_compared_pct=95)
    assert compare_videos(clips("chair-20-sd-bar"), clips(CHAIR), shares_only)[0] <= 20


def test_chair_19_is_found_as_an_excerpt_3_7_s_in(clips) -> None:  # type: ignore[no-untyped-def]
    distance, detail = compare_videos(clips("chair-19-sd-bar"), clips(CHAIR), P)
    assert distance <= VpdqSignal.default_threshold and detail is not None
    assert detail["reference_start_s"] == pytest.approx(3.7, abs=0.3)


def test_chair_20_is_found_as_an_excerpt_2_s_in(clips) -> None:  # type: ignore[no-untyped-def]
    distance, detail = compare_videos(clips("chair-20-sd-bar"), clips(CHAIR), P)
    assert distance <= VpdqSignal.default_threshold and detail is not None
    assert detail["reference_start_s"] == pytest.approx(2.0, abs=0.3)
    assert detail["query_start_s"] == pytest.approx(0.0, abs=0.3)


@pytest.mark.parametrize("edit", ["pattern-sd-grey-bar"])
def test_pattern_edits_match_each_other(clips, edit: str) -> None:  # type: ignore[no-untyped-def]
    assert compare_videos(clips(edit), clips("pattern-hd-no-bar"), P)[0] <= 20


def test_invalid_json_is_an_invalid_signal() -> None:
    with pytest.raises(InvalidSignal):
        parse_features("[" * 100_000)
