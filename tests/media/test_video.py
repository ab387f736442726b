"""Video decoding: real clips encoded by PyAV, every bad-input class, and the limits."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tessera.errors import MediaError, MediaLimitExceeded
from tessera.media.content import Content, MediaLimits
from tessera.media.kinds import MediaKind, sniff_kind
from tessera.media.video import decode_video
from tests.media.video_synth import CONTAINERS, encode, encode_audio_only, scene


@cache
def clip(container: str = "mp4", frames: int = 30, fps: int = 10) -> bytes:
    """A small clip (cached: encoding is the slow part)."""
    return encode(frames, scene(1), fps=fps, container=container)


def content(data: bytes, **limits: float) -> Content:
    return Content.from_bytes(data, limits=MediaLimits(**limits))  # type: ignore[arg-type]


@pytest.mark.parametrize("container", sorted(CONTAINERS))
def test_every_container_is_sniffed_as_video_and_decodes(container: str) -> None:
    data = clip(container)
    assert sniff_kind(data[:64]) is MediaKind.VIDEO
    frames = list(decode_video(content(data)))
    assert len(frames) == 30
    assert [f.number for f in frames] == list(range(30))
    assert frames[-1].timestamp == pytest.approx(2.9, abs=0.01)
    assert frames[0].luma.pixels.shape == (120, 160)


def test_sampling_rate_keeps_the_first_frame_at_each_tick() -> None:
    frames = list(decode_video(content(clip()), frames_per_second=2))
    assert [round(f.timestamp, 2) for f in frames] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]


def test_reduced_decode_box_averages_by_a_whole_factor() -> None:
    (first, *_) = decode_video(content(clip()), reduce_to=40)
    luma = first.luma
    assert (luma.scale_x, luma.scale_y) == (3, 3)
    assert luma.pixels.shape == (40, 53)
    assert (luma.width, luma.height) == (159, 120)


def test_real_sample_clip_decodes(shared_data: Path) -> None:
    data = (shared_data / "videos" / "test-padded-dimensions.mp4").read_bytes()
    frames = list(decode_video(content(data), frames_per_second=1))
    assert len(frames) == 5
    assert frames[0].luma.pixels.shape == (1080, 1080)


def test_container_with_sound_only_has_no_frames() -> None:
    data = encode_audio_only()
    assert sniff_kind(data[:64]) is MediaKind.VIDEO  # an ``isom`` MP4: its kind is in its tracks
    assert list(decode_video(content(data))) == []


def test_zero_length_and_other_kinds_are_refused() -> None:
    with pytest.raises(MediaError, match="empty"):
        Content.from_bytes(b"")
    with pytest.raises(MediaError, match="empty"):
        list(decode_video(Content(data=b"", kind=MediaKind.VIDEO)))
    with pytest.raises(MediaError, match="not a video"):
        list(decode_video(Content(data=b"\x89PNG\r\n\x1a\n", kind=MediaKind.IMAGE)))


def test_not_a_video_behind_a_video_header_is_a_media_error() -> None:
    fake = b"\x00\x00\x00\x18ftypisom" + b"garbage!" * 200
    with pytest.raises(MediaError):
        list(decode_video(content(fake)))
    with pytest.raises(MediaError):
        list(decode_video(content(b"\x1aE\xdf\xa3" + bytes(500))))


def test_truncated_file_gives_the_frames_before_the_cut_or_an_error() -> None:
    data = clip("matroska")
    frames = list(decode_video(content(data[: len(data) * 2 // 3])))
    assert 0 < len(frames) < 30
    with pytest.raises(MediaError):
        list(decode_video(content(clip("mp4")[:300])))  # the index (moov) is at the end


def test_over_long_video_is_refused_by_its_decoded_timestamps() -> None:
    with pytest.raises(MediaLimitExceeded, match="longer than the limit of 1 s"):
        list(decode_video(content(clip(), max_media_seconds=1.0)))


def test_over_size_frames_are_refused_before_decoding() -> None:
    with pytest.raises(MediaLimitExceeded, match="160x120"):
        list(decode_video(content(clip(), max_video_pixels=160 * 119)))
    with pytest.raises(MediaLimitExceeded, match="bytes"):
        content(clip(), max_file_bytes=1000)


def test_endless_stream_is_stopped_by_the_decode_time_limit() -> None:
    # 3000 frames at 1000 fps: a stream far longer to decode than its 3 s of media.
    data = encode(3000, scene(2, 32, 32), fps=1000, container="matroska")
    with pytest.raises(MediaLimitExceeded, match="decoding took longer"):
        list(decode_video(content(data, max_decode_seconds=0.02)))
    with pytest.raises(MediaLimitExceeded, match="more frames"):
        list(decode_video(content(data, max_media_seconds=10.0 / 240)))


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    edits=st.lists(
        st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)),
        min_size=1,
        max_size=20,
    )
)
def test_corrupted_bytes_decode_or_fail_cleanly(edits: list[tuple[int, int]]) -> None:
    data = bytearray(clip("matroska"))
    for at, value in edits:
        data[16 + at % (len(data) - 16)] = value  # keep the magic so it is still a "video"
    try:
        frames = list(decode_video(content(bytes(data), max_decode_seconds=10.0)))
    except MediaError:
        return
    assert all(f.luma.pixels.ndim == 2 for f in frames)
