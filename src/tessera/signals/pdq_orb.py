"""The ``pdq_orb`` signal type: PDQ of the border-trimmed image plus ORB local features.

It finds copies that PDQ misses (crops, letterboxes, screenshot frames, overlays, small
rotations, 90-degree turns) and refuses what PDQ confuses (templated graphics that share a
layout). ``pdq`` stays the interoperable default; banks may carry both.

Hashing flow for one image (one decode):

1. decode the luma at reduced size (``DECODE_SIDE`` samples a side at least);
2. trim flat uniform borders (``local_features.trim_box``), blur the trimmed luma a little
   (``PDQ_BLUR``) and PDQ-hash it with the project's PDQ (``pdq_hasher.pdq_from_luma``); the
   quality is PDQ's of the trimmed luma as it is;
3. extract up to 256 ORB keypoints of the trimmed image in a 320-pixel work frame.

``transformed`` (the mirror image's value, for flipped copies) reuses the last hashing when it
is asked about the same ``Content`` object that ``hash_content`` just hashed, so a query with its
mirror variant decodes, trims, resizes and detects corners once: the mirror image's corners are
the detected ones mirrored (``local_features.mirrored``); its PDQ and descriptors are computed.

Format (version 2), four fields joined by ``.``::

    2.<width>x<height>.<pdq: 64 lower-case hex digits>.<features: base64url, unpadded>

Version 1 values (PDQ of the trimmed luma without the blur) still parse, keep their version and
compare: against a version 2 value, the PDQ field differs as a lightly blurred copy's would.

``width`` x ``height`` is the work frame; the features are 36-byte records, one per keypoint:
x and y as big-endian uint16 in 1/16 pixel, then the 32-byte ORB (rBRIEF) descriptor. A flat
image has no keypoints and an empty last field. Peers verify matches from these bytes alone.

Distance (0-100, lower is closer; see ``compare``): when both sides have keypoints enough and
RANSAC aligns them with ``MIN_INLIERS`` inliers or more (``MIN_KEY_INLIERS`` of them between key
points: each image's first ``local_features.KEY_POINTS`` records, which the index holds), the
features decide: ``100 - balanced ratio %`` (``local_features.verify``): the share of the mutual
descriptor matches that the alignment keeps, with each half of the shared area (top and bottom,
left and right) counting equally, so a template sibling aligned on its layout but different in
its picture and text is far even when the layout is a corner-dense band that holds most of the
matches. Otherwise (flat graphics, or no alignment, as after heavy blur) the trimmed PDQ
distance decides, scaled so that PDQ's 31 bits land on this type's default threshold; it also
decides when it is closer than the features say and either within ``STRICT_PDQ_BITS`` (a blurred
repetitive texture) or within PDQ's own threshold with fewer than ``CONTRADICTION_INLIERS``
inliers (a small or blurred copy with few corners left: too little evidence to contradict PDQ,
where a template sibling aligns its whole layout). Either way a bank's threshold is one number.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import cv2
import numpy as np
import numpy.typing as npt

from tessera.errors import InvalidSignal
from tessera.media.image import Luma, decode_luma
from tessera.media.kinds import MediaKind
from tessera.signals import local_features as lf
from tessera.signals.base import Signal, SignalType
from tessera.signals.pdq_hasher import PdqHash, pdq_from_luma, quality_from_luma

if TYPE_CHECKING:
    from tessera.index.base import SignalIndex
    from tessera.media.content import Content

VERSION = "2"
# The versions ``parse`` reads: 1 hashed the trimmed luma as it is, 2 blurs it first.
VERSIONS = ("1", "2")
# Version 2's blur before PDQ: Gaussian, sigma this many pixels per 256 of the trimmed luma's
# longer side. A blurred copy then lands near its original (image benchmark, 31 photos: the
# farthest blurred copy 68 bits away without it, 20 with it; a blurred brick texture 40 -> 0, a
# blurred calm sea 68 -> 10), while template siblings stay as far apart (600 cards: the closest
# pair 28 bits either way, 3 of 179,700 pairs within 31 either way).
PDQ_BLUR = 2.0
DECODE_SIDE = 320
RECORD_BYTES = 36
MAX_RECORDS = 256
MAX_FRAME_SIDE = 4096
# Both sides need this many keypoints, and RANSAC this many inliers, for features to decide.
MIN_KEYPOINTS = 24
MIN_INLIERS = 16
# ... and this many of the inliers must join key points (the first ``lf.KEY_POINTS`` records) of
# both images, so an index of key points alone finds every pair the features can decide.
MIN_KEY_INLIERS = 4
# PDQ's own confident-match threshold, in bits; the fallback distance scales it onto ours.
PDQ_BITS = 31
# A trimmed PDQ this close (half PDQ's threshold) is a match even when features align and
# disagree: blur turns a repetitive texture's corners into look-alikes that pair in the wrong
# places, while PDQ holds. Template siblings stay far above it (36 bits at the least of 19,900
# bench card pairs; the image benchmark decides 3M card pairs with this rule).
STRICT_PDQ_BITS = 15
# Within PDQ's threshold, features that disagree outweigh PDQ only on an alignment this strong
# (RANSAC inliers): a template sibling aligns its whole layout (46 inliers at the least, of the
# 58 bench card pairs within PDQ's threshold, 63 on the tests' cards), while a small or blurred
# copy has few corners left to align (a third-size labelme photo: 31 inliers, ratio 0.48). Too
# little evidence is not a contradiction.
CONTRADICTION_INLIERS = 40
MAX_DISTANCE = 100
_FIXED_POINT = 16
_SIZE = re.compile(r"([1-9][0-9]{0,3})x([1-9][0-9]{0,3})")
_HEX = re.compile(r"[0-9a-f]{64}")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*")


class Parsed(NamedTuple):
    """A decoded ``pdq_orb`` value: the trimmed image's PDQ and its features."""

    pdq: str
    features: lf.Features
    version: str = VERSION


class Comparison(NamedTuple):
    """The distance of two values and the evidence behind it (``Match.detail``)."""

    distance: int
    pdq_bits: int
    verification: lf.Verification
    decided_by: str

    def as_json(self) -> dict[str, object]:
        """The evidence as JSON-ready values."""
        return {"decided_by": self.decided_by, "pdq_bits": self.pdq_bits} | dict(
            self.verification.as_json()
        )


class PdqOrbSignal(SignalType):
    """PDQ of the border-trimmed image plus ORB keypoints, verified by geometry."""

    name = "pdq_orb"
    media_kinds = frozenset({MediaKind.IMAGE})
    # 100 - balanced ratio %: RANSAC keeps 75%+ of a copy's correspondences in each half of the
    # shared area; on the bench, template siblings keep 45% (median) overall, and the 9 of 3M
    # card pairs that reached 75% overall kept 73% at most balanced over the halves.
    default_threshold = 25
    max_threshold = 70
    verifies = frozenset({"pdq"})

    @classmethod
    def validate(cls, value: str) -> str:
        """The normal form of a value; InvalidSignal names the field that is wrong."""
        return format_value(parse(value))

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        """0-100: 100 minus the balanced inlier ratio %, or the scaled PDQ distance (see module)."""
        return compare(parse(a), parse(b)).distance

    @classmethod
    def hash_content(cls, content: Content) -> Signal | None:
        """Trimmed PDQ and ORB features of an image; None for other media kinds."""
        if content.kind not in cls.media_kinds:
            return None
        hashed = _hashed(content)
        return Signal(cls.name, hashed.value, hashed.quality)

    @classmethod
    def transformed(cls, content: Content) -> list[tuple[str, Signal]]:
        """The mirror image's signal (ORB is rotation invariant but not mirror invariant)."""
        if content.kind not in cls.media_kinds:
            return []
        hashed = _hashed(content)
        return [("mirror", Signal(cls.name, _mirror_value(hashed), hashed.quality))]

    @classmethod
    def contradiction(cls, query: str, entry: str) -> Mapping[str, Any] | None:
        """The evidence when local features align two images yet disagree (a template sibling)."""
        comparison = compare(parse(query), parse(entry))
        if comparison.decided_by != "features" or comparison.distance <= cls.default_threshold:
            return None
        return {"signal_type": cls.name, "distance": comparison.distance} | comparison.as_json()

    @classmethod
    def new_index(cls) -> SignalIndex:
        """Candidates from Hamming indexes of PDQs and descriptors, then exact verification."""
        from tessera.index.pdq_orb import PdqOrbIndex

        return PdqOrbIndex()


_Pixels = np.ndarray[tuple[int, int], np.dtype[np.float32]]


class _Hashed(NamedTuple):
    """One decoded image's value, and what its mirror image's value is made from."""

    value: str
    quality: int
    blurred: _Pixels
    work: npt.NDArray[np.uint8]
    corners: lf.Corners


# The last (content, hashed) pair: hash_content then transformed on one upload decode once.
_last_hashed: list[tuple[Content, _Hashed]] = []


def _hashed(content: Content) -> _Hashed:
    """The content's ``_Hashed``, from the one-entry cache when it is the same object."""
    cached = _last_hashed[:1]
    if cached and cached[0][0] is content:
        return cached[0][1]
    hashed = _hash_pixels(decode_luma(content, reduce_to=DECODE_SIDE).pixels)
    _last_hashed[:] = [(content, hashed)]
    return hashed


def hash_luma(luma: Luma) -> tuple[str, int]:
    """The ``pdq_orb`` value and quality of decoded luma (for tools that decode themselves)."""
    hashed = _hash_pixels(luma.pixels)
    return hashed.value, hashed.quality


def _hash_pixels(pixels: _Pixels) -> _Hashed:
    top, bottom, left, right = lf.trim_box(pixels)
    trimmed = np.ascontiguousarray(pixels[top:bottom, left:right])
    blurred = _blurred(trimmed)
    pdq = _pdq(blurred)
    quality = quality_from_luma(Luma.from_array(trimmed))
    work = lf.work_image(trimmed)
    corners = lf.detect(work)
    value = format_value(Parsed(pdq.hex, lf.extract_detected(work, corners)))
    return _Hashed(value, quality, blurred, work, corners)


def _blurred(trimmed: _Pixels) -> _Pixels:
    """The trimmed luma as version 2 hashes it (``PDQ_BLUR``)."""
    sigma = PDQ_BLUR * max(trimmed.shape) / 256
    blurred = cv2.GaussianBlur(trimmed, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    return np.asarray(blurred, dtype=np.float32)


def _pdq(pixels: _Pixels) -> PdqHash:
    return pdq_from_luma(Luma.from_array(np.ascontiguousarray(pixels)))


def _mirror_value(hashed: _Hashed) -> str:
    """The mirror image's value. Trimming, the blur and the work frame's resize are mirror
    symmetric, and so is ORB's detection (``lf.mirrored``): the PDQ and the descriptors are
    computed again, on the mirrored blurred luma and work image, and nothing else. (PDQ's own
    mirror by DCT signs, ``pdq_mirrored_from_luma``, is up to 88 bits off the mirror image's
    hash on the bench's photos: too far for a copy's variant.)"""
    pdq = _pdq(hashed.blurred[:, ::-1])
    work = np.ascontiguousarray(hashed.work[:, ::-1])
    corners = lf.mirrored(hashed.corners, work.shape[1])
    return format_value(Parsed(pdq.hex, lf.extract_detected(work, corners)))


def compare(a: Parsed, b: Parsed) -> Comparison:
    """The distance of two parsed values, with its evidence; symmetric by construction
    (the pair is put in a fixed order first, so RANSAC sees the same problem either way)."""
    if (a.pdq, _feature_bytes(a.features)) > (b.pdq, _feature_bytes(b.features)):
        a, b = b, a
    bits = (int(a.pdq, 16) ^ int(b.pdq, 16)).bit_count()
    evidence = lf.NO_EVIDENCE
    if len(a.features) >= MIN_KEYPOINTS and len(b.features) >= MIN_KEYPOINTS:
        evidence = lf.verify(a.features, b.features)
    scaled = min(MAX_DISTANCE, -(-bits * PdqOrbSignal.default_threshold // PDQ_BITS))
    if evidence.inliers >= MIN_INLIERS and evidence.key_inliers >= MIN_KEY_INLIERS:
        verified = 100 - round(100 * evidence.balanced_ratio)
        if verified <= scaled or (bits > STRICT_PDQ_BITS and _contradicts(bits, evidence)):
            return Comparison(verified, bits, evidence, "features")
    return Comparison(scaled, bits, evidence, "pdq")


def _contradicts(bits: int, evidence: lf.Verification) -> bool:
    """Whether features that align and disagree outweigh a PDQ this far (``bits``): always past
    PDQ's own threshold; within it only on an alignment of ``CONTRADICTION_INLIERS`` or more."""
    return bits > PDQ_BITS or evidence.inliers >= CONTRADICTION_INLIERS


def pdq_radius(threshold: int) -> int:
    """The largest trimmed-PDQ distance in bits whose scaled distance is within ``threshold``."""
    if threshold >= MAX_DISTANCE:
        return 256  # the scaled distance is capped at MAX_DISTANCE, so every PDQ qualifies
    return threshold * PDQ_BITS // PdqOrbSignal.default_threshold


def parse(value: str) -> Parsed:
    """Decode a value strictly; InvalidSignal says which field is wrong and how."""
    if not isinstance(value, str):
        raise InvalidSignal(f"pdq_orb must be a string, got {type(value).__name__}")
    fields = value.strip().split(".")
    if len(fields) != 4:
        raise InvalidSignal(f"pdq_orb must have 4 fields joined by '.', got {len(fields)}")
    version, size, pdq, packed = fields
    if version not in VERSIONS:
        raise InvalidSignal(
            f"pdq_orb version must be one of {', '.join(VERSIONS)}, got {version[:10]!r}"
        )
    sized = _SIZE.fullmatch(size)
    if sized is None:
        raise InvalidSignal(f"pdq_orb frame must be WIDTHxHEIGHT, got {size[:20]!r}")
    width, height = int(sized[1]), int(sized[2])
    if max(width, height) > MAX_FRAME_SIDE:
        raise InvalidSignal(f"pdq_orb frame {width}x{height} exceeds {MAX_FRAME_SIDE} a side")
    pdq = pdq.lower()
    if _HEX.fullmatch(pdq) is None:
        raise InvalidSignal("pdq_orb's pdq field must be 64 hex digits")
    return Parsed(pdq, _unpack(packed, width, height), version)


def _unpack(packed: str, width: int, height: int) -> lf.Features:
    if _BASE64URL.fullmatch(packed) is None:
        raise InvalidSignal("pdq_orb's features must be unpadded base64url")
    try:
        raw = base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4))
    except (binascii.Error, ValueError) as e:
        raise InvalidSignal(f"pdq_orb's features are not base64url ({e})") from None
    if len(raw) % RECORD_BYTES:
        raise InvalidSignal(f"pdq_orb's features must be {RECORD_BYTES}-byte records")
    count = len(raw) // RECORD_BYTES
    if count > MAX_RECORDS:
        raise InvalidSignal(f"pdq_orb holds at most {MAX_RECORDS} keypoints, got {count}")
    if _encode(raw) != packed:
        raise InvalidSignal("pdq_orb's features are not in canonical base64url")
    records = np.frombuffer(raw, dtype=np.uint8).reshape(count, RECORD_BYTES)
    xy = (records[:, :4].copy().view(">u2") / _FIXED_POINT).astype(np.float32)
    if count and (xy[:, 0].max() >= width or xy[:, 1].max() >= height):
        raise InvalidSignal(f"pdq_orb keypoint outside its {width}x{height} frame")
    return lf.Features(width, height, xy.reshape(count, 2), records[:, 4:].copy())


def format_value(parsed: Parsed) -> str:
    """The normal text form of a parsed value."""
    f = parsed.features
    return f"{parsed.version}.{f.width}x{f.height}.{parsed.pdq}.{_encode(_feature_bytes(f))}"


def _feature_bytes(f: lf.Features) -> bytes:
    xy = np.ascontiguousarray(np.floor(f.points * _FIXED_POINT).astype(">u2").reshape(len(f), 2))
    records = np.concatenate([xy.view(np.uint8).reshape(len(f), 4), f.descriptors], axis=1)
    return records.tobytes()


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def descriptor_words(parsed: Parsed, limit: int = MAX_RECORDS) -> list[str]:
    """The first ``limit`` descriptors as 64 hex digits each (256-bit words a Hamming index can
    hold); ``limit=lf.KEY_POINTS`` gives the key points'."""
    return [bytes(d).hex() for d in parsed.features.descriptors[:limit]]
