"""pdq_orb: the signal contract, its text format, copies that PDQ misses, and template siblings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFilter

from tessera.errors import InvalidSignal, MediaError, MediaLimitExceeded
from tessera.media.content import Content, MediaLimits
from tessera.media.image import decode_luma
from tessera.signals import local_features as lf
from tessera.signals.pdq import PdqSignal
from tessera.signals.pdq_hasher import pdq_from_luma
from tessera.signals.pdq_orb import (
    CONTRADICTION_INLIERS,
    DECODE_SIDE,
    PDQ_BITS,
    STRICT_PDQ_BITS,
    VERSION,
    Parsed,
    PdqOrbSignal,
    compare,
    format_value,
    parse,
)
from tessera.testing import SignalTypeContract
from tests.signals.pdq_orb_media import card, content, crop, framed, letterbox, photo

REFERENCE = photo(1)
REF_VALUE = PdqOrbSignal.hash_content(content(REFERENCE)).value  # type: ignore[union-attr]
FLAT_VALUE = "1.320x240." + "0" * 64 + "."


def _hash(im: object) -> str:
    signal = PdqOrbSignal.hash_content(content(im))  # type: ignore[arg-type]
    assert signal is not None
    return signal.value


class TestPdqOrbContract(SignalTypeContract):
    signal_type = PdqOrbSignal
    valid = [
        (REF_VALUE, REF_VALUE),
        (f"  {REF_VALUE}\n", REF_VALUE),
        (FLAT_VALUE.replace("0" * 64, "AB" * 32), FLAT_VALUE.replace("0" * 64, "ab" * 32)),
        (FLAT_VALUE, FLAT_VALUE),
    ]
    invalid = [
        "",
        "1.320x240." + "0" * 64,  # three fields
        "3.320x240." + "0" * 64 + ".",  # unknown version
        "1.320x0." + "0" * 64 + ".",  # empty frame
        "1.5000x240." + "0" * 64 + ".",  # frame too large
        "1.320x240." + "g" * 64 + ".",  # not hex
        "1.320x240." + "0" * 63 + ".",  # short pdq
        "1.320x240." + "0" * 64 + ".AAAA",  # 3 bytes: not whole records
        "1.320x240." + "0" * 64 + ".AA==",  # padded
        "1.320x240." + "0" * 64 + ".A+/A",  # not base64url
        "1.10x10." + "0" * 64 + "." + "_" * 48,  # keypoint outside its frame
    ]


@settings(max_examples=60, deadline=None)
@given(
    width=st.integers(1, 4096),
    height=st.integers(1, 4096),
    data=st.data(),
)
def test_format_round_trips(width: int, height: int, data: st.DataObject) -> None:
    count = data.draw(st.integers(0, 40))
    xs = data.draw(st.lists(st.integers(0, width * 16 - 1), min_size=count, max_size=count))
    ys = data.draw(st.lists(st.integers(0, height * 16 - 1), min_size=count, max_size=count))
    raw = data.draw(st.binary(min_size=32 * count, max_size=32 * count))
    pdq = data.draw(st.text("0123456789abcdef", min_size=64, max_size=64))
    points = (np.array([xs, ys], dtype=np.float32).T / 16).reshape(count, 2)
    descriptors = np.frombuffer(raw, dtype=np.uint8).reshape(count, 32)
    value = format_value(Parsed(pdq, lf.Features(width, height, points, descriptors)))
    again = parse(value)
    assert format_value(again) == value == PdqOrbSignal.validate(value)
    assert np.array_equal(again.features.points, points)
    assert np.array_equal(again.features.descriptors, descriptors)


@pytest.mark.parametrize(
    ("edit", "copy"),
    [
        ("crop_6", lambda im: crop(im, 0.06)),
        ("letterbox_20", letterbox),
        ("screenshot_frame", framed),
    ],
)
def test_edited_copies_match_where_pdq_does_not(edit: str, copy: object) -> None:
    edited = copy(REFERENCE)  # type: ignore[operator]
    comparison = compare(parse(_hash(edited)), parse(REF_VALUE))
    assert comparison.distance <= PdqOrbSignal.default_threshold, (edit, comparison)
    if edit != "letterbox_20":
        pdq = [PdqSignal.hash_content(content(im)) for im in (edited, REFERENCE)]
        assert not PdqSignal.matches(pdq[0].value, pdq[1].value)  # type: ignore[union-attr]


def test_letterbox_is_trimmed_to_the_same_pdq() -> None:
    assert parse(_hash(letterbox(REFERENCE))).pdq == parse(REF_VALUE).pdq


def test_unrelated_photo_does_not_match() -> None:
    assert PdqOrbSignal.distance(_hash(photo(2)), REF_VALUE) > PdqOrbSignal.max_threshold


def test_template_sibling_does_not_match_though_pdq_collides() -> None:
    a, b = card(1, picture_side=48), card(2, picture_side=48)
    pdq = [PdqSignal.hash_content(content(im)).value for im in (a, b)]  # type: ignore[union-attr]
    assert PdqSignal.matches(*pdq)  # the layout dominates PDQ: a collision
    va, vb = _hash(a), _hash(b)
    comparison = compare(parse(va), parse(vb))
    assert comparison.decided_by == "features"
    assert comparison.distance > PdqOrbSignal.default_threshold
    evidence = PdqOrbSignal.contradiction(va, vb)
    assert evidence is not None and evidence["inliers"] >= 16
    assert PdqOrbSignal.contradiction(va, _hash(card(1, picture_side=48))) is None


def test_distance_is_symmetric_on_real_pairs() -> None:
    values = [REF_VALUE, _hash(crop(REFERENCE, 0.1)), _hash(card(3)), FLAT_VALUE]
    for a in values:
        for b in values:
            assert PdqOrbSignal.distance(a, b) == PdqOrbSignal.distance(b, a)


def test_mirror_variant_matches_a_flipped_copy() -> None:
    flipped = content(REFERENCE.transpose(0))  # FLIP_LEFT_RIGHT
    ((name, signal),) = PdqOrbSignal.transformed(flipped)
    assert name == "mirror"
    assert PdqOrbSignal.matches(signal.value, REF_VALUE)


def test_flat_and_tiny_images_hash_without_features() -> None:
    for im in (Image.new("RGB", (200, 100), (40, 90, 200)), Image.new("L", (1, 1), 7)):
        value = _hash(im)
        assert len(parse(value).features) == 0
        assert PdqOrbSignal.distance(value, value) == 0


@pytest.mark.parametrize("size", [(3, 5), (40, 2)])
def test_an_image_too_small_for_pdq_has_quality_0(size: tuple[int, int]) -> None:
    pixels = np.random.default_rng(1).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    signal = PdqOrbSignal.hash_content(content(Image.fromarray(pixels)))
    assert signal is not None
    assert parse(signal.value).pdq == "0" * 64 and signal.quality == 0


def test_bad_media_is_refused_clearly() -> None:
    with pytest.raises(MediaError):
        PdqOrbSignal.hash_content(Content.from_bytes(b"\xff\xd8\xff\xe0" + bytes(500)))
    small = MediaLimits(max_image_pixels=10_000)
    data = content(REFERENCE).data
    with pytest.raises(MediaLimitExceeded):
        PdqOrbSignal.hash_content(Content.from_bytes(data, limits=small))


def test_validate_refuses_non_strings() -> None:
    with pytest.raises(InvalidSignal):
        PdqOrbSignal.validate(12)  # type: ignore[arg-type]


def test_key_points_come_first_spread_over_the_grid() -> None:
    features = parse(REF_VALUE).features
    assert len(features) == lf.MAX_KEYPOINTS
    cells = (features.points * lf.GRID / [features.width, features.height]).astype(int)
    key_cells = {tuple(c) for c in cells[: lf.KEY_POINTS]}
    assert key_cells == {tuple(c) for c in cells}  # every cell with corners has key points


def test_mirror_variant_is_the_same_with_or_without_a_prior_decode() -> None:
    data = content(REFERENCE).data
    fresh = PdqOrbSignal.transformed(Content.from_bytes(data))
    c = Content.from_bytes(data)
    PdqOrbSignal.hash_content(c)
    assert PdqOrbSignal.transformed(c) == fresh


@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_mutual_neighbours_are_opencvs_cross_checked_matches(data: st.DataObject) -> None:
    import cv2

    rows_a, rows_b = data.draw(st.integers(1, 40)), data.draw(st.integers(1, 40))
    # Few distinct bytes: many equal distances, so the tie-breaking is checked too.
    alphabet = data.draw(st.lists(st.integers(0, 255), min_size=1, max_size=4))
    byte = st.sampled_from(alphabet)
    a = np.array(data.draw(st.lists(byte, min_size=32 * rows_a, max_size=32 * rows_a)), np.uint8)
    b = np.array(data.draw(st.lists(byte, min_size=32 * rows_b, max_size=32 * rows_b)), np.uint8)
    a, b = a.reshape(rows_a, 32), b.reshape(rows_b, 32)
    matcher = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True)
    expected = [
        (m.queryIdx, m.trainIdx)
        for m in matcher.match(a, b)
        if m.distance <= lf.MAX_DESCRIPTOR_BITS
    ]
    query, train = lf.mutual_neighbours(a, b)
    assert list(zip(query.tolist(), train.tolist(), strict=True)) == expected


def test_a_third_size_copy_of_a_small_photo_matches() -> None:
    small = photo(5, (256, 256))
    third = small.resize((85, 85), Image.Resampling.BILINEAR)
    comparison = compare(parse(_hash(third)), parse(_hash(small)))
    assert comparison.distance <= PdqOrbSignal.default_threshold, comparison


def test_a_close_pdq_outweighs_features_that_align_and_disagree() -> None:
    a, b = parse(_hash(card(1, picture_side=48))), parse(_hash(card(2, picture_side=48)))
    sibling = compare(a, b)
    assert sibling.decided_by == "features"
    assert sibling.distance > PdqOrbSignal.default_threshold
    assert sibling.pdq_bits > STRICT_PDQ_BITS
    # The same features with a PDQ within STRICT_PDQ_BITS (as a blurred zebra's copy has).
    close = Parsed(f"{int(a.pdq, 16) ^ (2**STRICT_PDQ_BITS - 1):064x}", b.features)
    comparison = compare(a, close)
    assert comparison.pdq_bits == STRICT_PDQ_BITS
    assert comparison.decided_by == "pdq"
    assert comparison.distance <= PdqOrbSignal.default_threshold
    assert comparison.verification.inliers >= sibling.verification.inliers // 2  # still aligned


def test_a_sibling_agreeing_in_its_layout_band_is_far_though_its_inlier_ratio_is_a_copys() -> None:
    # The header band (logo, title) holds most of the correspondences, all kept; the lower half,
    # with the card's own picture and text, is mostly rejected.
    comparison = compare(parse(_hash(card(32))), parse(_hash(card(55))))
    evidence = comparison.verification
    assert comparison.decided_by == "features"
    assert 100 - round(100 * evidence.inlier_ratio) <= PdqOrbSignal.default_threshold
    assert evidence.balanced_ratio < evidence.inlier_ratio - 0.2
    assert comparison.distance > PdqOrbSignal.default_threshold


def test_the_balanced_ratio_counts_each_half_of_the_shared_area_equally() -> None:
    features = parse(REF_VALUE).features
    top = features.points[:, 1] < features.height / 2
    # Every top keypoint, and a third as many bottom ones: the top half outvotes the bottom.
    bottom = np.flatnonzero(~top)[: int(top.sum()) // 3]
    keep = np.sort(np.concatenate([np.flatnonzero(top), bottom]))
    a = lf.Features(
        features.width, features.height, features.points[keep], features.descriptors[keep]
    )
    # The same keypoints, the bottom half's descriptors moved to other bottom keypoints' places:
    # they still pair up, one to one, but in the wrong places.
    moved = a.points.copy()
    lower = np.flatnonzero(a.points[:, 1] >= a.height / 2)
    moved[lower] = a.points[np.roll(lower, len(lower) // 2)]
    b = lf.Features(a.width, a.height, moved, a.descriptors)
    same, sibling = lf.verify(a, a), lf.verify(a, b)
    assert same.inlier_ratio == same.balanced_ratio == 1.0
    assert sibling.inlier_ratio >= 0.7
    assert sibling.balanced_ratio == pytest.approx(0.5, abs=0.1)


def _disagreeing(a: Parsed, agreeing: int, moved: int, pdq_bits: int) -> Parsed:
    """A value whose PDQ is ``pdq_bits`` from ``a``'s and whose features are ``a``'s first
    ``agreeing`` keypoints in place, then its next ``moved`` keypoints' descriptors in the wrong
    places (another of those keypoints' position): they pair up one to one, and RANSAC's alignment
    rejects them."""
    f = a.features
    points = f.points[: agreeing + moved].copy()
    wrong = np.arange(agreeing, agreeing + moved)
    points[wrong] = f.points[np.roll(wrong, moved // 2)]
    features = lf.Features(f.width, f.height, points, f.descriptors[: agreeing + moved].copy())
    return Parsed(f"{int(a.pdq, 16) ^ (2**pdq_bits - 1):064x}", features)


def test_too_little_feature_evidence_does_not_overrule_a_pdq_match() -> None:
    a = parse(REF_VALUE)
    bits = STRICT_PDQ_BITS + 5  # a PDQ match (within 31 bits), above the strict band
    # A small or blurred copy: few corners left, and most of them in the wrong places.
    weak = compare(a, _disagreeing(a, 24, 40, bits))
    assert weak.verification.inliers < CONTRADICTION_INLIERS
    assert 100 - round(100 * weak.verification.balanced_ratio) > PdqOrbSignal.default_threshold
    assert weak.decided_by == "pdq"
    assert weak.distance <= PdqOrbSignal.default_threshold
    # A template sibling: its whole layout aligns, and its own content does not.
    strong = compare(a, _disagreeing(a, CONTRADICTION_INLIERS + 10, 80, bits))
    assert strong.verification.inliers >= CONTRADICTION_INLIERS
    assert strong.decided_by == "features"
    assert strong.distance > PdqOrbSignal.default_threshold
    # Past PDQ's own threshold, the weak evidence decides: PDQ is no match to uphold.
    far = compare(a, _disagreeing(a, 24, 40, PDQ_BITS + 1))
    assert far.decided_by == "features"
    assert far.distance > PdqOrbSignal.default_threshold


def test_mirrored_corners_are_the_ones_detected_in_the_mirror_image() -> None:
    luma = np.asarray(REFERENCE.convert("L"), dtype=np.float32)
    work = lf.work_image(luma)
    expected = lf.detect(np.ascontiguousarray(work[:, ::-1]))
    found = lf.mirrored(lf.detect(work), work.shape[1])
    assert len(found.xy) == len(expected.xy) > lf.MAX_KEYPOINTS

    def table(c: lf.Corners) -> np.ndarray:  # type: ignore[type-arg]
        rows = np.column_stack([c.octave, c.xy, c.angle, c.size, c.response])
        return rows[np.lexsort(rows.T[::-1])]

    np.testing.assert_allclose(table(found), table(expected), atol=1e-3)


def test_mirror_variant_is_the_mirror_images_value() -> None:
    ((_, signal),) = PdqOrbSignal.transformed(content(REFERENCE))
    variant, fresh = parse(signal.value), parse(_hash(REFERENCE.transpose(0)))  # FLIP_LEFT_RIGHT
    assert variant.pdq == fresh.pdq
    # The same records, up to the 1/16-pixel rounding of positions found a different way.
    np.testing.assert_array_equal(variant.features.descriptors, fresh.features.descriptors)
    np.testing.assert_allclose(variant.features.points, fresh.features.points, atol=1 / 16)
    assert compare(variant, fresh).distance == 0


@pytest.mark.parametrize("bar", [0, 1, 15, 16, 17, 40, 100])
def test_trim_box_strips_flat_bars_of_any_depth(bar: int) -> None:
    rng = np.random.default_rng(bar)
    picture = rng.uniform(0, 255, (200, 300)).astype(np.float32)
    framed = np.full((200 + 2 * bar, 300 + bar), 20.0, np.float32)
    framed[bar : bar + 200, :300] = picture  # bars above, below and to the right
    framed[:bar] += rng.normal(0, 1, (bar, 300 + bar)).astype(np.float32)  # JPEG-like noise
    assert lf.trim_box(framed) == (bar, bar + 200, 0, 300)
    # A bar lighter than the first line's colour by more than SAME_COLOUR ends the border.
    if bar > 2:
        framed[bar // 2 : bar] = 20 + lf.SAME_COLOUR + 1
        assert lf.trim_box(framed)[0] == bar // 2


def test_values_are_hashed_as_version_2_and_version_1_values_keep_their_version() -> None:
    assert REF_VALUE.startswith(f"{VERSION}.") and VERSION == "2"
    old = "1." + REF_VALUE.split(".", 1)[1]
    assert PdqOrbSignal.validate(old) == old
    assert parse(old).version == "1" and parse(REF_VALUE).version == "2"
    # A version 1 value compares with version 2 values: the same fields, the same distance.
    assert compare(parse(old), parse(REF_VALUE)).distance == 0


def test_a_blurred_copy_of_a_flat_scene_lands_near_its_original(shared_data: Path) -> None:
    """A calm sea under a Gaussian blur: its plain PDQ moves far past PDQ's threshold; version 2's
    blur before PDQ keeps the copy within ``STRICT_PDQ_BITS``."""
    original = Image.open(shared_data / "pdq-reference" / "labelme-subset" / "q0122.jpg")
    blurred = original.convert("RGB").filter(ImageFilter.GaussianBlur(2))
    plain = [
        pdq_from_luma(decode_luma(content(im), reduce_to=DECODE_SIDE)).hex
        for im in (original, blurred)
    ]
    assert (int(plain[0], 16) ^ int(plain[1], 16)).bit_count() > PDQ_BITS
    comparison = compare(parse(_hash(blurred)), parse(_hash(original)))
    assert comparison.pdq_bits <= STRICT_PDQ_BITS, comparison
    assert comparison.distance <= PdqOrbSignal.default_threshold, comparison
