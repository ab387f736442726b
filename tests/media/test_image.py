"""Image decoding: hostile files are refused with a clear MediaError; unusual valid files decode.

Every file here is generated with Pillow and numpy in a temporary folder; nothing is mocked.
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tessera.errors import MediaError, MediaLimitExceeded
from tessera.media.content import Content, MediaLimits
from tessera.media.image import Luma, decode_luma, luma_from_rgb
from tessera.media.kinds import MediaKind


def scene(width: int = 320, height: int = 240, seed: int = 0) -> Image.Image:
    """A synthetic photo: smooth colour waves and a few flat shapes, so PDQ sees structure."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(width, height)
    planes = []
    for _ in range(3):
        fx, fy, phase = rng.uniform(0.5, 4, 2).tolist() + [rng.uniform(0, 6)]
        planes.append(128 + 90 * np.sin(2 * np.pi * (fx * x + fy * y) + phase))
    rgb = np.stack(planes, axis=-1)
    for _ in range(4):
        x0, y0 = rng.integers(0, width - width // 4), rng.integers(0, height - height // 4)
        rgb[y0 : y0 + height // 4, x0 : x0 + width // 4] = rng.integers(0, 256, 3)
    return Image.fromarray(rgb.clip(0, 255).astype(np.uint8), "RGB")


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    """The image saved in ``fmt`` as bytes."""
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def png_file(
    width: int, height: int, scanlines: bytes = bytes(64), bit_depth: int = 8, colour: int = 0
) -> bytes:
    """A PNG written by hand: any header (even a lying one) over the given raw scanlines."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(scanlines))
        + chunk(b"IEND", b"")
    )


def luma_of(data: bytes, **options: int) -> Luma:
    """Decode image bytes."""
    return decode_luma(Content.from_bytes(data), **options)


def as_grey(image: Image.Image) -> npt.NDArray[np.float32]:
    """The float luma of a Pillow image, computed directly."""
    return luma_from_rgb(np.asarray(image.convert("RGB")))


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Hostile files written to a temporary folder."""
    tmp_path = tmp_path_factory.mktemp("hostile")
    photo = scene()
    jpeg, png = encode(photo, "JPEG", quality=90), encode(photo, "PNG")
    big_jpeg = encode(scene(1600, 1200, seed=3), "JPEG", quality=90)
    flipped = bytearray(png)
    flipped[len(png) // 2] ^= 0xFF  # inside the image data: the chunk's CRC no longer matches
    made = {
        "random.jpg": b"\xff\xd8\xff" + np.random.default_rng(1).bytes(4000),
        "half.jpg": jpeg[: len(jpeg) // 2],
        "header-only.jpg": jpeg[:300],
        "half-big.jpg": big_jpeg[: len(big_jpeg) // 2],
        "half.png": png[: len(png) // 2],
        "flipped.png": bytes(flipped),
        "zero-width.png": png_file(0, 10),
        "bomb.png": png_file(20000, 20000),
        # A real 120-megapixel black image, 1 bit a pixel: its 15 MB of rows deflate to ~15 KB.
        "zip-bomb.png": png_file(12000, 10000, bytes(10000 * 1501), bit_depth=1),
        "heic.heic": b"\x00\x00\x00\x18ftypheic" + bytes(64),
    }
    for name, data in made.items():
        (tmp_path / name).write_bytes(data)
    return {name: tmp_path / name for name in made}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("random.jpg", "(corrupt|truncated) JPEG file"),
        ("half.jpg", "truncated JPEG file"),
        ("header-only.jpg", "truncated JPEG file"),
        ("half-big.jpg", "truncated JPEG file"),
        ("half.png", "truncated PNG file"),
        ("flipped.png", "corrupt PNG file"),
        ("zero-width.png", "no pixels"),
        ("heic.heic", "unsupported image format"),
    ],
)
def test_bad_files_are_refused_with_a_reason(
    files: dict[str, Path], name: str, message: str
) -> None:
    content = Content.from_path(files[name])
    assert content.kind is MediaKind.IMAGE
    for reduce_to in (None, 64):
        with pytest.raises(MediaError, match=message):
            decode_luma(content, reduce_to=reduce_to)


def test_empty_and_non_image_content_are_refused() -> None:
    with pytest.raises(MediaError, match="empty file"):
        decode_luma(Content(data=b"", kind=MediaKind.IMAGE))
    with pytest.raises(MediaError, match="not an image"):
        decode_luma(Content.from_bytes(b"plain text, not a picture"))


@pytest.mark.parametrize(
    ("name", "size"),
    [("bomb.png", "20000x20000 = 400000000"), ("zip-bomb.png", "12000x10000 = 120000000")],
)
def test_a_bomb_is_refused_from_its_header(files: dict[str, Path], name: str, size: str) -> None:
    assert files[name].stat().st_size < 100_000
    with pytest.raises(MediaLimitExceeded) as refused:
        decode_luma(Content.from_path(files[name]), reduce_to=192)
    assert f"{size} pixels, over the limit of 100000000" in str(refused.value)


def test_the_pixel_limit_is_the_contents_own() -> None:
    data = encode(scene(200, 100), "PNG")
    assert luma_of(data).pixels.shape == (100, 200)
    small = MediaLimits(max_image_pixels=19_999)
    with pytest.raises(MediaLimitExceeded, match="20000 pixels, over the limit of 19999"):
        decode_luma(Content.from_bytes(data, limits=small))


def test_a_gif_canvas_grown_by_its_first_frame_counts_against_the_limit() -> None:
    data = bytearray(encode(scene(64, 64).convert("P"), "GIF"))
    data[6:10] = struct.pack("<HH", 8, 8)  # a tiny logical screen; the frame still says 64x64
    limits = MediaLimits(max_image_pixels=1000)
    with pytest.raises(MediaLimitExceeded, match="64x64 = 4096 pixels"):
        decode_luma(Content.from_bytes(bytes(data), limits=limits))


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "TIFF", "WEBP", "BMP"])
def test_images_pillow_would_warn_about_decode_without_the_warning(
    monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    # 10800 pixels: over Pillow's warning threshold (6000), under twice it and under Tessera's
    # limit. pytest turns any DecompressionBombWarning into a failure.
    data = encode(scene(120, 90).convert("P" if fmt == "GIF" else "RGB"), fmt)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 6000)
    assert luma_of(data).pixels.shape == (90, 120)
    assert Image.MAX_IMAGE_PIXELS == 6000


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "TIFF", "WEBP"])
def test_tessera_limit_rules_where_pillow_would_refuse_to_open(
    monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    data = encode(scene(120, 90).convert("P" if fmt == "GIF" else "RGB"), fmt)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Image.open refuses above 2000
    with pytest.raises(Image.DecompressionBombError):
        Image.open(io.BytesIO(data))
    if fmt in ("TIFF", "WEBP"):  # their decoders check again by themselves
        with pytest.raises(MediaLimitExceeded, match="over Pillow's own limit"):
            luma_of(data)
    else:
        assert luma_of(data).pixels.shape == (90, 120)


def test_truncated_files_stay_refused_whatever_the_cut() -> None:
    data = encode(scene(), "JPEG", quality=90)
    for cut in range(200, len(data) - 2, len(data) // 25):
        with pytest.raises(MediaError):
            luma_of(data[:cut])


MUTABLE = {
    "JPEG": encode(scene(48, 40), "JPEG", quality=80),
    "PNG": encode(scene(48, 40), "PNG"),
    "GIF": encode(scene(48, 40).convert("P"), "GIF"),
    "BMP": encode(scene(48, 40), "BMP"),
    "WEBP": encode(scene(48, 40), "WEBP"),
    "TIFF": encode(scene(48, 40), "TIFF"),
}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fmt=st.sampled_from(sorted(MUTABLE)),
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(1, 255)), max_size=6),
)
def test_mangled_files_decode_or_raise_media_error_only(
    fmt: str, cut: float, flips: list[tuple[float, int]]
) -> None:
    data = bytearray(MUTABLE[fmt])
    for where, mask in flips:
        data[int(where * (len(data) - 1))] ^= mask
    data = data[: max(1, int(cut * len(data)))]
    content = Content(data=bytes(data), kind=MediaKind.IMAGE)
    try:
        luma = decode_luma(content, reduce_to=16)
    except MediaError:
        return
    assert luma.pixels.dtype == np.float32 and np.isfinite(luma.pixels).all()


def test_sixteen_bit_grey_scales_to_eight_bits_without_clipping() -> None:
    grey = np.asarray(scene().convert("L"))
    wide = Image.fromarray(grey.astype(np.uint16) * 257)
    assert wide.mode == "I;16"
    decoded = luma_of(encode(wide, "PNG")).pixels
    np.testing.assert_allclose(decoded, grey, atol=1e-3)
    big = np.asarray(scene(960, 720).convert("L"))
    reduced = luma_of(encode(Image.fromarray(big.astype(np.uint16) * 257), "PNG"), reduce_to=120)
    assert (reduced.scale_x, reduced.scale_y) == (4, 3)
    block_means = big.reshape(240, 3, 240, 4).mean(axis=(1, 3))
    assert np.abs(reduced.pixels - block_means).max() <= 0.5


def test_sixteen_bit_rgb_keeps_its_colours() -> None:
    rgb = np.asarray(scene()).astype(np.uint16) * 257
    scanlines = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in rgb)
    data = png_file(rgb.shape[1], rgb.shape[0], scanlines, bit_depth=16, colour=2)
    np.testing.assert_allclose(luma_of(data).pixels, as_grey(scene()), atol=1.0)


def test_cmyk_jpeg_decodes_close_to_its_rgb_source() -> None:
    photo = scene()
    cmyk = luma_of(encode(photo.convert("CMYK"), "JPEG", quality=95)).pixels
    assert np.abs(cmyk - as_grey(photo)).mean() < 2.0


@pytest.mark.parametrize(
    "transparency", [None, 7, bytes([0] * 16 + [255] * 240)], ids=["none", "index", "bytes"]
)
def test_palette_images_use_their_colours_and_ignore_transparency(
    transparency: int | bytes | None,
) -> None:
    palette = scene().convert("P")
    options = {} if transparency is None else {"transparency": transparency}
    decoded = luma_of(encode(palette, "PNG", **options)).pixels
    np.testing.assert_allclose(decoded, as_grey(palette), atol=1e-3)


def test_alpha_is_dropped_not_composited() -> None:
    photo = scene()
    rgba = np.asarray(photo.convert("RGBA")).copy()
    rgba[..., 3] = 0  # fully transparent: the stored colours still count
    decoded = luma_of(encode(Image.fromarray(rgba), "PNG")).pixels
    np.testing.assert_allclose(decoded, as_grey(photo), atol=1e-3)
    grey = photo.convert("L")
    with_alpha = luma_of(encode(grey.convert("LA"), "PNG")).pixels
    np.testing.assert_array_equal(with_alpha, np.asarray(grey, dtype=np.float32))


def test_one_bit_images_are_black_and_white() -> None:
    decoded = luma_of(encode(scene().convert("1"), "PNG")).pixels
    assert set(np.unique(decoded).tolist()) == {0.0, 255.0}


@pytest.mark.parametrize(
    ("fmt", "options"),
    [("GIF", {}), ("PNG", {}), ("WEBP", {"lossless": True})],
    ids=["gif", "apng", "webp"],
)
def test_animations_decode_their_first_frame(fmt: str, options: dict[str, object]) -> None:
    first = scene(seed=1).convert("P") if fmt == "GIF" else scene(seed=1)
    second = scene(seed=2).convert(first.mode)
    animated = encode(first, fmt, save_all=True, append_images=[second], duration=100, **options)
    np.testing.assert_allclose(luma_of(animated).pixels, as_grey(first), atol=1e-3)


def test_exif_orientation_is_ignored() -> None:
    photo = scene(320, 240)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    decoded = luma_of(encode(photo, "JPEG", quality=95, exif=exif.tobytes())).pixels
    assert decoded.shape == (240, 320)


def test_tiny_images_decode() -> None:
    for size in [(1, 1), (4, 100), (100, 4)]:
        assert luma_of(encode(scene().resize(size), "PNG")).pixels.shape == size[::-1]


def test_large_jpeg_is_decoded_by_dct_scaling_close_to_full_size() -> None:
    photo = scene(1600, 1200, seed=5)
    data = encode(photo, "JPEG", quality=90)
    reduced = luma_of(data, reduce_to=192)
    assert (reduced.scale_x, reduced.scale_y, reduced.pixels.shape) == (4, 4, (300, 400))
    full = luma_of(data).pixels
    block_means = full.reshape(300, 4, 400, 4).mean(axis=(1, 3))
    assert np.abs(reduced.pixels - block_means).mean() < 1.5


def test_large_other_images_are_box_averaged_per_axis() -> None:
    data = encode(scene(2000, 900, seed=6), "PNG")
    reduced = luma_of(data, reduce_to=192)
    # Box averaging keeps at least twice reduce_to a side: 2000 // 384 = 5, 900 // 384 = 2.
    assert (reduced.scale_x, reduced.scale_y, reduced.pixels.shape) == (5, 2, (450, 400))
    full = luma_of(data).pixels
    block_means = full.reshape(450, 2, 400, 5).mean(axis=(1, 3))
    assert np.abs(reduced.pixels - block_means).max() <= 1.0


def test_small_images_are_never_reduced() -> None:
    data = encode(scene(300, 200), "JPEG", quality=90)
    reduced = luma_of(data, reduce_to=192)
    assert reduced.scale_x == reduced.scale_y == 1
    np.testing.assert_array_equal(reduced.pixels, luma_of(data).pixels)


def test_luma_checks_its_shape_against_its_scale() -> None:
    assert Luma.from_array(np.zeros((3, 5))).width == 5
    Luma(np.zeros((25, 40), dtype=np.float32), width=160, height=100, scale_x=4, scale_y=4)
    with pytest.raises(ValueError, match="do not cover"):
        Luma(np.zeros((25, 40), dtype=np.float32), width=160, height=100, scale_x=2, scale_y=4)
    with pytest.raises(ValueError, match="rows, cols"):
        Luma.from_array(np.zeros((3, 5, 3)))
