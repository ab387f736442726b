"""Sparse decoding (``decode_video(sparse_gap=...)``): keyframes plus spaced points, same pixels."""

from __future__ import annotations

import io
from collections.abc import Callable
from functools import cache

import av
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tessera.errors import MediaError, MediaLimitExceeded
from tessera.media.content import Content, MediaLimits
from tessera.media.video import decode_video
from tests.media.video_synth import Frame, encode, scene


def _encode_gop(frames: int, draw: Callable[[int], Frame], *, fps: int, gop: int) -> bytes:
    """H.264 with a keyframe every ``gop`` frames exactly, and B-frames (as real uploads have)."""
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        first = draw(0)
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = first.shape[1], first.shape[0], "yuv420p"
        stream.options = {
            "preset": "veryfast",
            "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=3:mbtree=0",
        }
        # The same bytes every run: x264's threads and macroblock tree both vary its output.
        stream.codec_context.thread_count = 1
        for i in range(frames):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(draw(i), format="rgb24")))
        out.mux(stream.encode(None))
    return buf.getvalue()


@cache
def clip(gop: int) -> bytes:
    """6 s at 30 fps, a keyframe every ``gop`` frames."""
    return _encode_gop(180, scene(3, 320, 240), fps=30, gop=gop)


def _frames(data: bytes, gap: float | None) -> dict[float, np.ndarray]:
    content = Content.from_bytes(data)
    decoded = decode_video(content, reduce_to=64, sparse_gap=gap)
    return {round(f.timestamp, 3): f.luma.pixels for f in decoded}


def test_short_gops_decode_keyframes_only() -> None:
    sparse = _frames(clip(30), 1.5)  # a keyframe every second, within the gap
    assert sorted(sparse) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


@pytest.mark.parametrize(("gop", "gap"), [(90, 1.0), (90, 0.5), (180, 0.7), (45, 0.4)])
def test_long_gops_get_frames_at_most_the_gap_apart_with_the_dense_decodes_pixels(
    gop: int, gap: float
) -> None:
    dense = _frames(clip(gop), None)
    sparse = _frames(clip(gop), gap)
    times = sorted(sparse)
    assert times[0] == 0.0
    assert all(b - a <= gap + 2 / 30 for a, b in zip(times, times[1:], strict=False))
    assert times[-1] >= 6.0 - gap - 2 / 30
    assert len(sparse) < len(dense) / 4
    # Only frames a dense decode also yields, pixel for pixel (references decode the same).
    for at, pixels in sparse.items():
        assert np.array_equal(pixels, dense[at])


def test_a_sparse_decode_is_cheaper_than_a_dense_one() -> None:
    import time

    data = clip(60)
    content = Content.from_bytes(data)
    costs = []
    for gap in (None, 2.0):
        t0 = time.process_time()
        for _ in range(3):
            list(decode_video(content, reduce_to=64, sparse_gap=gap))
        costs.append(time.process_time() - t0)
    assert costs[1] < costs[0] / 2


def test_containers_without_timestamps_or_keyframe_flags_still_decode() -> None:
    # MPEG-4 part 2 in AVI (timestamps from the container, every frame a keyframe or not).
    data = encode(30, scene(1), fps=10, container="avi")
    frames = list(decode_video(Content.from_bytes(data), sparse_gap=1.0))
    assert frames
    assert all(
        b.timestamp - a.timestamp <= 1.0 + 0.11 for a, b in zip(frames, frames[1:], strict=False)
    )


def test_sparse_gap_must_be_positive() -> None:
    with pytest.raises(ValueError, match="sparse_gap"):
        list(decode_video(Content.from_bytes(clip(30)), sparse_gap=0))


def test_bad_input_fails_cleanly_when_sparse_too() -> None:
    data = clip(90)
    cut = encode(60, scene(1), fps=10, container="matroska")  # its index is not at the end
    frames = list(decode_video(Content.from_bytes(cut[: len(cut) * 2 // 3]), sparse_gap=1.0))
    assert 0 < len(frames) < 6
    with pytest.raises(MediaError):
        list(decode_video(Content.from_bytes(data[:300]), sparse_gap=1.0))
    with pytest.raises(MediaError):
        list(decode_video(Content.from_bytes(b"\x1aE\xdf\xa3" + bytes(500)), sparse_gap=1.0))
    slow = Content.from_bytes(data, limits=MediaLimits(max_decode_seconds=0.0))
    with pytest.raises(MediaLimitExceeded, match="decoding took longer"):
        list(decode_video(slow, sparse_gap=1.0))
    short = Content.from_bytes(data, limits=MediaLimits(max_media_seconds=1.0))
    with pytest.raises(MediaLimitExceeded, match="longer than the limit"):
        list(decode_video(short, sparse_gap=1.0))


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(
        st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)),
        min_size=1,
        max_size=20,
    )
)
def test_corrupted_bytes_decode_sparsely_or_fail_cleanly(edits: list[tuple[int, int]]) -> None:
    data = bytearray(clip(90))
    for at, value in edits:
        data[16 + at % (len(data) - 16)] = value
    try:
        frames = list(decode_video(Content.from_bytes(bytes(data)), sparse_gap=1.0))
    except MediaError:
        return
    assert all(f.luma.pixels.ndim == 2 for f in frames)
