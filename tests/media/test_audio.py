"""Audio decoding: every codec we meet, the sound of a video, and every bad-input class."""

from __future__ import annotations

import numpy as np
import pytest

from tessera.errors import MediaError, MediaLimitExceeded
from tessera.media.audio import decode_audio
from tessera.media.content import Content, MediaLimits
from tessera.media.kinds import MediaKind
from tests.media.audio_synth import RATE, encode, music

SECONDS = 3.0


@pytest.fixture(scope="module")
def samples() -> np.ndarray:
    return music(SECONDS, seed=1)


@pytest.mark.parametrize(
    ("codec", "bitrate"),
    [
        ("pcm_s16le", None),
        ("flac", None),
        ("libmp3lame", 64_000),
        ("aac", 64_000),
        ("libopus", 16_000),
    ],
)
def test_decodes_each_codec_to_mono_at_the_asked_rate(
    samples: np.ndarray, codec: str, bitrate: int | None
) -> None:
    content = Content.from_bytes(encode(samples, RATE, codec, bitrate))
    assert content.kind is MediaKind.AUDIO
    out = decode_audio(content, 8000)
    assert out is not None and out.dtype == np.float32 and out.ndim == 1
    assert abs(len(out) / 8000 - SECONDS) < 0.1
    assert np.all(np.abs(out) <= 1.0)


def test_refuses_audio_over_the_duration_limit(samples: np.ndarray) -> None:
    content = Content.from_bytes(encode(samples), limits=MediaLimits(max_media_seconds=1.0))
    with pytest.raises(MediaLimitExceeded, match="longer than the limit"):
        decode_audio(content, 8000)


def test_duration_is_counted_not_read_from_the_header(samples: np.ndarray) -> None:
    data = bytearray(encode(samples))
    at = data.index(b"data") + 4
    data[at : at + 4] = b"\xff\xff\xff\xff"  # the WAV data chunk claims to be endless
    out = decode_audio(Content.from_bytes(bytes(data)), 8000)
    assert out is not None and abs(len(out) / 8000 - SECONDS) < 0.1
    limited = Content.from_bytes(bytes(data), limits=MediaLimits(max_media_seconds=1.0))
    with pytest.raises(MediaLimitExceeded):
        decode_audio(limited, 8000)


def test_wall_clock_limit_stops_decoding(samples: np.ndarray) -> None:
    content = Content.from_bytes(encode(samples), limits=MediaLimits(max_decode_seconds=1e-9))
    with pytest.raises(MediaLimitExceeded, match="decoding took longer"):
        decode_audio(content, 8000)


@pytest.mark.parametrize(
    "data",
    [
        b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(200),
        b"OggS" + bytes(500),
        b"fLaC" + b"\xff" * 300,
        b"ID3" + bytes(64),
    ],
    ids=["wav-junk", "ogg-zeros", "flac-junk", "id3-only"],
)
def test_corrupt_files_give_a_media_error(data: bytes) -> None:
    with pytest.raises(MediaError):
        decode_audio(Content.from_bytes(data), 8000)


def test_truncated_file_decodes_what_is_there_or_fails_clearly(samples: np.ndarray) -> None:
    data = encode(samples, RATE, "libmp3lame", 64_000)
    half = decode_audio(Content.from_bytes(data[: len(data) // 2]), 8000)
    assert half is not None and 0.5 < len(half) / 8000 < 2.5
    with pytest.raises(MediaError):
        decode_audio(Content.from_bytes(encode(samples)[:44]), 8000)  # the header alone


def test_random_bytes_claiming_to_be_audio_never_crash() -> None:
    rng = np.random.default_rng(3)
    for i in range(20):
        data = b"RIFF\x24\x00\x00\x00WAVEfmt " + rng.bytes(int(rng.integers(1, 3000)))
        try:
            out = decode_audio(Content(data=data, kind=MediaKind.AUDIO, name=f"r{i}"), 8000)
        except MediaError:
            continue
        assert out is not None and np.all(np.isfinite(out))


def test_other_kinds_have_no_audio() -> None:
    with pytest.raises(MediaError):
        decode_audio(Content(data=b"\xff\xd8\xff" + bytes(10), kind=MediaKind.IMAGE), 8000)


def test_audio_of_a_matroska_file_is_the_sound_of_a_video(samples: np.ndarray) -> None:
    import io

    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="matroska") as container:
        stream = container.add_stream("flac", rate=RATE)
        stream.layout = "mono"
        pcm = (samples.reshape(1, -1) * 32767).astype(np.int16)
        for start in range(0, pcm.shape[1], 4096):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(pcm[:, start : start + 4096]), format="s16", layout="mono"
            )
            frame.sample_rate = RATE
            frame.pts = start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    content = Content.from_bytes(buf.getvalue())
    assert content.kind is MediaKind.VIDEO
    out = decode_audio(content, 8000)
    assert out is not None and abs(len(out) / 8000 - SECONDS) < 0.1


def test_a_video_without_sound_has_no_audio() -> None:
    import io

    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="matroska") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        for i in range(5):
            image = np.full((32, 32, 3), i * 40, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    content = Content.from_bytes(buf.getvalue())
    assert content.kind is MediaKind.VIDEO
    assert decode_audio(content, 8000) is None
