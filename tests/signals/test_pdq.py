"""The pdq signal type: its contract, its string and bit properties, and hashes of real pixels.

Hash oracles are independent of Tessera's code: Meta's C++ hasher through the ``pdqhash``
bindings (on the very same pixels), and images transformed by Pillow.
"""

from __future__ import annotations

import io
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from tessera.errors import InvalidSignal, MediaError
from tessera.media.content import Content
from tessera.media.image import Luma, luma_from_rgb
from tessera.signals.pdq import (
    DIHEDRAL_NAMES,
    PdqSignal,
    pdq_dihedral_hashes,
    pdq_from_luma,
    pdq_hash,
    pdq_to_words,
    pdq_words_to_hex,
)
from tessera.signals.pdq_hasher import pdq_dihedral_from_luma
from tessera.testing.signal_contract import SignalTypeContract
from tests.media.test_image import encode, scene

SCENE_PNG = encode(scene(320, 240, seed=11), "PNG")
# Meta's C++ hasher (pdqhash) gives this hash, quality 100, for the same pixels.
SCENE_PDQ = "946ba118ad569a52925225aca5acd8f36b944ad65cf675ad75acd6589a52a955"

hashes = st.integers(0, 2**256 - 1).map(lambda v: f"{v:064x}")


class TestPdqContract(SignalTypeContract):
    signal_type = PdqSignal
    valid: ClassVar[list[tuple[str, str]]] = [
        (SCENE_PDQ.upper(), SCENE_PDQ),
        (f"  {SCENE_PDQ}\n", SCENE_PDQ),
        ("0" * 64, "0" * 64),
        ("F" * 64, "f" * 64),
    ]
    invalid: ClassVar[list[str]] = ["", "xyz", SCENE_PDQ[:-1], SCENE_PDQ + "0", "g" * 64]
    hashes: ClassVar[list[tuple[bytes, str]]] = [(SCENE_PNG, SCENE_PDQ)]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("abc", "must be 64 hex digits, got 3"),
        ("a" * 65, "must be 64 hex digits, got 65"),
        ("0x" + "a" * 62, "must be hexadecimal, found 'x'"),
        ("a" * 63 + "é", "must be hexadecimal, found 'é'"),
        (12345, "must be a string of 64 hex digits, got int"),
        (b"a" * 64, "must be a string of 64 hex digits, got bytes"),
    ],
)
def test_validate_says_what_is_wrong(value: object, message: str) -> None:
    with pytest.raises(InvalidSignal, match=message):
        PdqSignal.validate(value)  # type: ignore[arg-type]


@given(hashes, st.booleans(), st.sampled_from(["", " ", "\n", "\t "]))
def test_validate_normalises_idempotently(value: str, upper: bool, padding: str) -> None:
    raw = padding + (value.upper() if upper else value) + padding
    normal = PdqSignal.validate(raw)
    assert normal == value
    assert PdqSignal.validate(normal) == normal


@given(st.text(alphabet="0123456789abcdefABCDEF", max_size=80).filter(lambda s: len(s) != 64))
def test_validate_refuses_any_other_length(value: str) -> None:
    with pytest.raises(InvalidSignal):
        PdqSignal.validate(value)


@given(hashes, hashes, hashes)
def test_distance_is_a_metric(a: str, b: str, c: str) -> None:
    assert PdqSignal.distance(a, a) == 0
    assert PdqSignal.distance(a, b) == PdqSignal.distance(b, a)
    assert PdqSignal.distance(a, c) <= PdqSignal.distance(a, b) + PdqSignal.distance(b, c)
    assert (PdqSignal.distance(a, b) == 0) == (a == b)


@given(hashes, hashes)
def test_distance_is_the_popcount_of_the_xor(a: str, b: str) -> None:
    differing = sum(
        x != y for x, y in zip(f"{int(a, 16):0256b}", f"{int(b, 16):0256b}", strict=True)
    )
    assert PdqSignal.distance(a, b) == differing
    words = np.bitwise_count(pdq_to_words(a) ^ pdq_to_words(b))
    assert int(words.sum()) == differing


@given(hashes, st.integers(0, 255))
def test_words_keep_the_bit_order_of_the_hex(value: str, k: int) -> None:
    words = pdq_to_words(value)
    assert words.shape == (4,) and words.dtype == np.uint64
    assert pdq_words_to_hex(words) == value
    assert int(words[3 - k // 64]) >> (k % 64) & 1 == int(value, 16) >> k & 1


@given(st.sets(st.integers(0, 255), min_size=128, max_size=128))
def test_bit_k_is_dct_coefficient_k(chosen: set[int]) -> None:
    # A 64x64 luma built from DCT basis functions, + for the chosen coefficients and - for the
    # rest: exactly the chosen ones exceed the median, so the hash is the sum of 1 << (16 i + j).
    waves = np.cos(np.pi / 128 * np.outer(np.arange(1, 17), 2 * np.arange(64) + 1))
    signs = np.array([1.0 if k in chosen else -1.0 for k in range(256)]).reshape(16, 16)
    luma = 128 + 0.4 * waves.T @ signs @ waves
    expected = sum(1 << k for k in chosen)
    assert int(pdq_from_luma(Luma.from_array(luma)).hex, 16) == expected


def pdqhash_of(rgb: np.ndarray) -> tuple[str, int]:
    pdqhash = pytest.importorskip("pdqhash")
    bits, quality = pdqhash.compute(rgb)
    return f"{int(''.join(str(b) for b in bits), 2):064x}", int(quality)


@pytest.mark.parametrize(
    "size", [(320, 240), (97, 61), (64, 64), (600, 200), (1000, 700), (30, 500), (6, 9)]
)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hash_of_luma_equals_meta_cpp_on_the_same_pixels(size: tuple[int, int], seed: int) -> None:
    photo = scene(*size, seed=seed) if min(size) >= 20 else scene(64, 64, seed=seed).resize(size)
    rgb = np.asarray(photo)
    expected, quality = pdqhash_of(rgb)
    ours = pdq_from_luma(Luma.from_array(luma_from_rgb(rgb)))
    assert ours.hex == expected
    # The quality truncates each gradient to an integer; float rounding may move one by a step.
    assert abs(ours.quality - quality) <= 1


def test_dihedral_hashes_equal_meta_cpp_on_the_same_pixels() -> None:
    pdqhash = pytest.importorskip("pdqhash")
    rgb = np.asarray(scene(400, 300, seed=4))
    theirs = [
        f"{int(''.join(str(b) for b in h), 2):064x}" for h in pdqhash.compute_dihedral(rgb)[0]
    ]
    ours, _ = pdq_dihedral_from_luma(Luma.from_array(luma_from_rgb(rgb)))
    assert [ours[name] for name in DIHEDRAL_NAMES] == theirs


# Meta's names for the orientations, as Pillow produces them.
PILLOW_TRANSPOSE = {
    "rotate90": Image.Transpose.ROTATE_90,
    "rotate180": Image.Transpose.ROTATE_180,
    "rotate270": Image.Transpose.ROTATE_270,
    "flipx": Image.Transpose.FLIP_TOP_BOTTOM,
    "flipy": Image.Transpose.FLIP_LEFT_RIGHT,
    "flip_plus1": Image.Transpose.TRANSPOSE,
    "flip_minus1": Image.Transpose.TRANSVERSE,
}


@pytest.mark.parametrize("name", sorted(PILLOW_TRANSPOSE))
def test_each_dihedral_variant_finds_the_transformed_image(name: str) -> None:
    photo = scene(640, 480, seed=8)
    variants = pdq_dihedral_hashes(Content.from_bytes(encode(photo, "PNG")))
    copy = encode(photo.transpose(PILLOW_TRANSPOSE[name]), "PNG")
    copy_hash = pdq_hash(Content.from_bytes(copy)).hex
    distances = {n: PdqSignal.distance(v, copy_hash) for n, v in variants.items()}
    assert distances[name] <= PdqSignal.default_threshold
    assert min(d for n, d in distances.items() if n != name) > 80


def test_transformed_offers_the_seven_other_orientations() -> None:
    content = Content.from_bytes(SCENE_PNG)
    offered = PdqSignal.transformed(content)
    assert [name for name, _ in offered] == list(DIHEDRAL_NAMES[1:])
    variants = pdq_dihedral_hashes(content)
    for name, signal in offered:
        assert signal.type == "pdq" and signal.value == variants[name] and signal.quality == 100
    assert variants["original"] == SCENE_PDQ
    assert PdqSignal.transformed(Content.from_bytes(b"not an image at all")) == []


def test_other_media_kinds_are_not_hashed_and_bad_images_are_refused() -> None:
    assert PdqSignal.hash_content(Content.from_bytes(b"OggS" + bytes(60))) is None
    with pytest.raises(MediaError, match="truncated PNG"):
        PdqSignal.hash_content(Content.from_bytes(SCENE_PNG[: len(SCENE_PNG) // 2]))


def test_tiny_images_hash_to_zero_with_quality_zero_below_five_pixels() -> None:
    for size in [(4, 100), (100, 4), (1, 1)]:
        small = pdq_hash(Content.from_bytes(encode(scene().resize(size), "PNG")))
        assert small == ("0" * 64, 0)
    five = pdq_hash(Content.from_bytes(encode(scene().resize((5, 5)), "PNG")))
    assert five.hex != "0" * 64


def test_a_flat_image_has_quality_zero_and_a_structured_one_full_quality() -> None:
    flat = pdq_hash(Content.from_bytes(encode(Image.new("RGB", (200, 200), (90, 90, 90)), "PNG")))
    assert flat.quality == 0
    assert pdq_hash(Content.from_bytes(SCENE_PNG)).quality == 100


def near(a: bytes, b: bytes) -> int:
    return PdqSignal.distance(
        pdq_hash(Content.from_bytes(a)).hex, pdq_hash(Content.from_bytes(b)).hex
    )


def test_unusual_encodings_hash_like_their_plain_source() -> None:
    photo = scene(480, 360, seed=9)
    grey = photo.convert("L")
    plain, plain_grey = encode(photo, "PNG"), encode(grey, "PNG")
    sixteen = Image.fromarray(np.asarray(grey).astype(np.uint16) * 257)
    assert near(encode(sixteen, "PNG"), plain_grey) <= 2
    assert (
        near(encode(photo.convert("CMYK"), "JPEG", quality=95), encode(photo, "JPEG", quality=95))
        <= 4
    )
    palette = photo.convert("P")
    assert near(encode(palette, "PNG", transparency=0), encode(palette.convert("RGB"), "PNG")) == 0
    rgba = np.asarray(photo.convert("RGBA")).copy()
    rgba[..., 3] = 0
    assert near(encode(Image.fromarray(rgba), "PNG"), plain) == 0
    assert near(encode(grey.convert("LA"), "PNG"), plain_grey) == 0
    frames = [palette, scene(480, 360, seed=10).convert("P")]
    animated = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert near(animated, encode(frames[0], "GIF")) == 0
    assert near(encode(photo.convert("1"), "PNG"), plain_grey) <= 31


def test_large_jpeg_reduced_decode_stays_close_to_full_resolution() -> None:
    photo = scene(1600, 1200, seed=12)
    data = encode(photo, "JPEG", quality=90)
    expected, _ = pdqhash_of(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")))
    assert PdqSignal.distance(pdq_hash(Content.from_bytes(data)).hex, expected) <= 6
