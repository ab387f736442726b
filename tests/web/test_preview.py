"""The preview kept for a case: a colour thumbnail of an image, a middle frame of a video, nothing
for audio, and never an exception for bad media."""

from __future__ import annotations

import io
from functools import cache

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from tessera.media.content import Content, MediaLimits
from tessera.review.preview import MAX_SIDE, PREVIEW_MIME, make_preview
from tessera.settings import Settings
from tests.media import audio_synth
from tests.media.video_synth import CONTAINERS, encode, encode_audio_only

SETTINGS = Settings()


def picture(data: bytes) -> Image.Image:
    """The preview's picture, checked to be a JPEG."""
    assert data.startswith(b"\xff\xd8\xff")
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def image_bytes(size: tuple[int, int], fmt: str, mode: str = "RGB") -> bytes:
    """An image whose left half is red and right half blue."""
    image = Image.new(mode, size, "red" if mode != "L" else 80)
    half = Image.new(mode, (size[0] // 2, size[1]), "blue" if mode != "L" else 200)
    image.paste(half, (size[0] - size[0] // 2, 0))
    buf = io.BytesIO()
    image.save(buf, format=fmt)
    return buf.getvalue()


def preview_of(data: bytes, **limits: float) -> tuple[str, bytes] | None:
    content = Content.from_bytes(data, limits=MediaLimits(**limits))  # type: ignore[arg-type]
    return make_preview(content, SETTINGS)


@pytest.mark.parametrize(
    ("size", "fmt", "mode"),
    [
        ((2000, 1000), "JPEG", "RGB"),
        ((300, 900), "PNG", "RGBA"),
        ((500, 400), "GIF", "P"),
        ((640, 480), "WEBP", "RGB"),
        ((1200, 300), "BMP", "RGB"),
        ((700, 500), "TIFF", "L"),
    ],
)
def test_an_image_becomes_a_colour_jpeg_within_the_size(
    size: tuple[int, int], fmt: str, mode: str
) -> None:
    made = preview_of(image_bytes(size, fmt, mode))
    assert made is not None
    mime, data = made
    assert mime == PREVIEW_MIME
    shown = picture(data)
    assert shown.mode == "RGB"
    assert max(shown.size) == min(MAX_SIDE, max(size))
    ratio = size[0] / size[1]
    assert abs(shown.size[0] / shown.size[1] - ratio) < 0.05
    left = np.asarray(shown)[shown.size[1] // 2, shown.size[0] // 8]
    if mode != "L":
        assert left[0] > 180 and left[2] < 90  # still red: colour is kept


def test_an_image_over_the_pixel_limit_has_no_preview() -> None:
    assert preview_of(image_bytes((1000, 1000), "PNG"), max_image_pixels=999_999) is None


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xd8\xff\xe0" + b"\x00" * 200,  # a JPEG header, then nothing
        b"\x89PNG\r\n\x1a\n" + b"\x00" * 64,
        b"GIF89a\xff\xff\xff\xff" + b"\x00" * 30,  # a 65535 x 65535 canvas
        image_bytes((400, 300), "PNG")[:300],  # truncated
    ],
)
def test_broken_images_have_no_preview(data: bytes) -> None:
    assert preview_of(data) is None


def grey_levels(frames: int) -> list[int]:
    return [round(i * 250 / (frames - 1)) for i in range(frames)]


@cache
def ramp(container: str = "mp4", frames: int = 41) -> bytes:
    """A clip whose frame i is one grey level that rises with i (so its time can be read)."""
    levels = grey_levels(frames)

    def draw(i: int) -> np.ndarray:
        return np.full((96, 128, 3), levels[i], dtype=np.uint8)

    return encode(frames, draw, fps=10, container=container)


@pytest.mark.parametrize("container", sorted(CONTAINERS))
def test_a_video_gives_its_middle_frame(container: str) -> None:
    made = preview_of(ramp(container))
    assert made is not None
    shown = picture(made[1])
    assert shown.size == (128, 96)
    level = float(np.asarray(shown.convert("L")).mean())
    assert abs(level - 125) < 20, level  # frame 20 of 0-40 (a frame or two either way)


def test_a_video_over_its_limits_has_no_preview() -> None:
    assert preview_of(ramp(), max_video_pixels=100 * 90) is None
    assert preview_of(ramp(), max_media_seconds=1.0) is None
    truncated = preview_of(ramp()[: len(ramp()) // 3])  # a frame or none, never an exception
    assert truncated is None or truncated[0] == PREVIEW_MIME


def test_sound_has_no_preview() -> None:
    assert preview_of(encode_audio_only()) is None  # an .mp4 with sound only
    wav = audio_synth.encode(audio_synth.music(1.0, seed=1))
    content = Content.from_bytes(wav)
    assert content.kind.value == "audio"
    assert make_preview(content, SETTINGS) is None


@settings(max_examples=60)
@given(
    head=st.sampled_from(
        [b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF89a", b"BM", b"RIFF\x00\x00\x00\x00WEBP"]
    ),
    body=st.binary(max_size=400),
)
def test_hostile_bytes_never_raise(head: bytes, body: bytes) -> None:
    made = preview_of(head + body)
    assert made is None or made[1].startswith(b"\xff\xd8\xff")


@settings(max_examples=30, deadline=None)
@given(cut=st.integers(min_value=1, max_value=4000), flip=st.integers(min_value=0, max_value=255))
def test_damaged_video_never_raises(cut: int, flip: int) -> None:
    data = bytearray(ramp("mp4", 21))
    data[min(cut, len(data) - 1)] ^= flip
    made = preview_of(bytes(data[: len(data) - cut]))
    assert made is None or made[0] == PREVIEW_MIME
