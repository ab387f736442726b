"""The ``vpdq_regions`` signal type: vPDQ's frames, each also hashed as centre crops and regions.

``vpdq`` stays the list exchanged with HMA and python-threatexchange; this Tessera-only type sits
beside it for copies that change part of the picture, which whole-frame PDQ misses: a crop of
the edges (every frame 10 % zoomed in: 0 of 10 found by ``vpdq``), a channel logo or a sticker
over part of the picture. Hashing is the same decode as ``vpdq`` (``tessera.signals.vpdq``), and
the same frames are kept; each kept frame (borders already cut) is PDQ-hashed as ``VARIANTS``:

- ``whole``: the frame, the hash ``vpdq`` keeps;
- ``crop90``: the centre 90 % of each side (a query cut at its edges is the reference's centre
  crop); ``rows90``, ``cols90``: the middle 90 % of the rows only, of the columns only (a copy
  of a letterboxed or pillarboxed video, cut at its edges, loses part of its bars, which are
  trimmed, and of its picture along the other axis only);
- ``top``, ``bottom``, ``left``, ``right``: halves (a large overlay leaves one half clean);
- ``no_top``, ``no_bottom``, ``no_left``, ``no_right``: the frame without the 20 % band along
  one side (a corner logo or a caption leaves two of these clean).

Matching (``tessera.index.frames`` with ``REGIONS_SCHEME``) is vPDQ's rule with a per-frame vote:
two frames match when some allowed pair of their variants is within ``vpdq_frame_threshold``
bits, both variants at or above the quality floor. A variant matches the same variant of the
other video, and ``whole`` also matches the three crops either way round. Then an aligned pass:
the matched pairs fix the time offset between the videos, and along it two frames standing at
the same instant (within ``tessera.index.frames.ALIGNED_WINDOW``) also match within
``ALIGNED_FRAME_THRESHOLD`` bits. Flat, low-texture footage (grass, stone, a hazy sea) hashes
with quality near the floor, and a re-encode, half resolution or crop moves its hashes 32-48
bits, so vPDQ's 31 bits lose whole shots of it; unrelated frames, each compared with every
frame within half a second, stayed 66 bits or more apart on the video benchmark's clips. Then
query-%, compared-% and the distance are as for ``vpdq``, with the same threshold and floors.

Format: a JSON list with one string per kept frame, ``"<hashes>,<qualities>,<timestamp>"``:
the 12 hashes (64 hex digits each) and their 12 qualities, each separated by spaces, in
``VARIANTS`` order; the timestamp as ``vpdq`` writes it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from tessera.errors import InvalidSignal
from tessera.index.frames import FrameScheme, VariantFrames
from tessera.index.hamming import parse_hex
from tessera.media.image import Luma
from tessera.media.kinds import MediaKind
from tessera.signals.base import Signal, SignalType
from tessera.signals.pdq_hasher import (
    MIN_HASHABLE_SIDE,
    downsample_64_boxes,
    pdq_mirrored_from_blocks,
    pdq_mirrored_from_lumas,
)
from tessera.signals.vpdq import (
    MAX_FRAMES,
    MIRROR,
    VPDQ_TIMESTAMP_PRECISION,
    VpdqParams,
    json_strings,
)

if TYPE_CHECKING:
    from tessera.index.base import SignalIndex
    from tessera.media.content import Content

__all__ = [
    "ALIGNED_FRAME_THRESHOLD",
    "REGIONS_SCHEME",
    "VARIANTS",
    "RegionFrame",
    "VpdqRegionsSignal",
    "format_regions",
    "parse_regions",
    "region_hashes",
    "region_hashes_many",
]

# name -> (top, bottom, left, right) of the kept frame, as fractions of its height and width
VARIANTS: dict[str, tuple[float, float, float, float]] = {
    "whole": (0.0, 1.0, 0.0, 1.0),
    "crop90": (0.05, 0.95, 0.05, 0.95),
    "rows90": (0.05, 0.95, 0.0, 1.0),
    "cols90": (0.0, 1.0, 0.05, 0.95),
    "top": (0.0, 0.5, 0.0, 1.0),
    "bottom": (0.5, 1.0, 0.0, 1.0),
    "left": (0.0, 1.0, 0.0, 0.5),
    "right": (0.0, 1.0, 0.5, 1.0),
    "no_top": (0.2, 1.0, 0.0, 1.0),
    "no_bottom": (0.0, 0.8, 0.0, 1.0),
    "no_left": (0.0, 1.0, 0.2, 1.0),
    "no_right": (0.0, 1.0, 0.0, 0.8),
}
# Radius of the aligned pass: frames at the same instant of two aligned videos match within it.
ALIGNED_FRAME_THRESHOLD = 48
_NAMES = list(VARIANTS)
_HEX = re.compile(r"[0-9a-f]{64}")
_COUNT = len(_NAMES)
# A variant of the mirrored frame is the mirror image of this variant's region (sides swap).
_SWAP = {"left": "right", "right": "left", "no_left": "no_right", "no_right": "no_left"}
_MIRRORED = [_NAMES.index(_SWAP.get(n, n)) for n in _NAMES]
_REGION_BOXES = list(VARIANTS.values())[1:]  # the variants hashed here (``whole`` comes in)


def _pairs() -> np.ndarray[tuple[int, int], np.dtype[np.bool_]]:
    """Same variant with same variant; ``whole`` with the centre crops, both ways."""
    pairs = np.eye(_COUNT, dtype=bool)
    for crop in ("crop90", "rows90", "cols90"):
        pairs[0, _NAMES.index(crop)] = pairs[_NAMES.index(crop), 0] = True
    return pairs


class RegionFrame(NamedTuple):
    """One kept frame: a hash and a quality per variant (``VARIANTS`` order), and its time."""

    hexes: tuple[str, ...]
    qualities: tuple[int, ...]
    timestamp: float

    def __str__(self) -> str:
        at = round(self.timestamp, VPDQ_TIMESTAMP_PRECISION)
        return f"{' '.join(self.hexes)},{' '.join(map(str, self.qualities))},{at!r}"


def region_hashes(
    cut: Luma, whole: tuple[str, str, int], timestamp: float
) -> tuple[RegionFrame, RegionFrame]:
    """A kept frame's variants, and those of its mirror image.

    ``whole`` is the frame's PDQ hash, its mirror image's and its quality, which ``vpdq`` has
    already computed; each other variant's region is hashed here.
    """
    return region_hashes_many([(cut, whole, timestamp)])[0]


def region_hashes_many(
    frames: Sequence[tuple[Luma, tuple[str, str, int], float]],
) -> list[tuple[RegionFrame, RegionFrame]]:
    """``region_hashes`` of several kept frames: each frame's regions share their passes along
    the columns (``downsample_64_boxes``: half the time of hashing each region on its own), and
    the steps after the 64x64 run once for all (better one frame at a time: batches of 32
    frames ran slower, their arrays out of cache)."""
    stacks = []
    for cut, _, _ in frames:
        rows, cols = cut.pixels.shape
        boxes = [
            (round(top * rows), round(bottom * rows), round(left * cols), round(right * cols))
            for top, bottom, left, right in _REGION_BOXES
        ]
        if all(
            (b - t) * cut.scale_y >= MIN_HASHABLE_SIDE
            and (r - lf) * cut.scale_x >= MIN_HASHABLE_SIDE
            for t, b, lf, r in boxes
        ):
            stacks.append(downsample_64_boxes(cut, boxes))
        else:  # a tiny frame: some region hashes to zeros, as pdq_mirrored_from_lumas says
            stacks.append(np.empty((0, 64, 64), dtype=np.float32))
    hashed = pdq_mirrored_from_blocks(np.concatenate(stacks)) if stacks else []
    out = []
    at = 0
    for (cut, whole, timestamp), stack in zip(frames, stacks, strict=True):
        if len(stack):
            variants = hashed[at : at + len(stack)]
            at += len(stack)
        else:
            rows, cols = cut.pixels.shape
            variants = pdq_mirrored_from_lumas(
                [
                    cut.crop(
                        round(top * rows),
                        round(bottom * rows),
                        round(left * cols),
                        round(right * cols),
                    )
                    for top, bottom, left, right in _REGION_BOXES
                ]
            )
        hexes, mirrored, qualities = [whole[0]], [whole[1]], [whole[2]]
        for (plain, region_quality), mirror in variants:
            hexes.append(plain)
            mirrored.append(mirror)
            qualities.append(region_quality)
        out.append(
            (
                RegionFrame(tuple(hexes), tuple(qualities), timestamp),
                RegionFrame(
                    tuple(mirrored[i] for i in _MIRRORED),
                    tuple(qualities[i] for i in _MIRRORED),
                    timestamp,
                ),
            )
        )
    return out


def format_regions(frames: Iterable[RegionFrame]) -> str:
    """The JSON list of frames (format in the module docstring)."""
    return json.dumps([str(f) for f in frames])


def parse_regions(value: str) -> list[RegionFrame]:
    """The frames of a ``vpdq_regions`` value; InvalidSignal saying why when it is not one."""
    if not isinstance(value, str):
        raise InvalidSignal(f"vpdq_regions must be a string, got {type(value).__name__}")
    items = json_strings(value, "vpdq_regions")
    if not items:
        raise InvalidSignal("vpdq_regions has no frames")
    if len(items) > MAX_FRAMES:
        raise InvalidSignal(f"vpdq_regions has {len(items)} frames, over the limit of {MAX_FRAMES}")
    return [_frame(n, item) for n, item in enumerate(items, 1)]


def _frame(n: int, item: str) -> RegionFrame:
    """One frame from its three comma-separated fields."""
    fields = item.split(",")
    if len(fields) != 3:
        raise InvalidSignal(f"vpdq_regions frame {n}: expected 3 comma-separated fields")
    hexes, qualities = fields[0].lower().split(), fields[1].split()
    if len(hexes) != _COUNT or len(qualities) != _COUNT:
        raise InvalidSignal(f"vpdq_regions frame {n}: expected {_COUNT} hashes and qualities")
    if not all(_HEX.fullmatch(h) for h in hexes):
        raise InvalidSignal(f"vpdq_regions frame {n}: each hash must be 64 hex digits")
    try:
        numbers = [int(q) for q in qualities]
        timestamp = float(fields[2])
    except ValueError:
        raise InvalidSignal(f"vpdq_regions frame {n}: qualities and time must be numbers") from None
    if not all(0 <= q <= 100 for q in numbers):
        raise InvalidSignal(f"vpdq_regions frame {n}: qualities must be 0-100")
    if not (math.isfinite(timestamp) and timestamp >= 0):
        raise InvalidSignal(f"vpdq_regions frame {n}: timestamp must be a finite number >= 0")
    return RegionFrame(tuple(hexes), tuple(numbers), timestamp)


def region_frames(frames: list[RegionFrame]) -> VariantFrames:
    """Frames as the frame index reads them."""
    words = parse_hex([h for f in frames for h in f.hexes]).reshape(len(frames), _COUNT, 4)
    quality = np.array([f.qualities for f in frames], dtype=np.int64).reshape(-1, _COUNT)
    return VariantFrames(words, quality, np.array([f.timestamp for f in frames], np.float64))


REGIONS_SCHEME = FrameScheme(
    lambda value: region_frames(parse_regions(value)), _pairs(), ALIGNED_FRAME_THRESHOLD
)


class VpdqRegionsSignal(SignalType):
    """vPDQ frames also hashed as centre crops and regions: finds cropped and overlaid copies."""

    name = "vpdq_regions"
    media_kinds = frozenset({MediaKind.VIDEO})
    default_threshold = 20
    max_threshold = 50

    @classmethod
    def validate(cls, value: str) -> str:
        """The JSON frame list, lower-case hex, timestamps to the millisecond."""
        return format_regions(parse_regions(value))

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        """100 - max(query-%, compared-%) with the per-frame vote over variants and the aligned
        pass."""
        from tessera.index.frames import compare_frames

        frames_a, frames_b = (region_frames(parse_regions(v)) for v in (a, b))
        params = VpdqParams.from_settings()
        return compare_frames(frames_a, frames_b, params, REGIONS_SCHEME)[0]

    @classmethod
    def hash_content(cls, content: Content) -> Signal | None:
        """The frames of a video with their variants; None for other media or without video."""
        from tessera.signals.vpdq import VpdqSignal

        if content.kind not in cls.media_kinds:
            return None
        hashes = VpdqSignal.hashes(content, regions=True)
        if not hashes.regions:
            return None
        quality = max(f.qualities[0] for f in hashes.regions)
        return Signal(cls.name, format_regions(hashes.regions), quality)

    @classmethod
    def transformed(cls, content: Content) -> list[tuple[str, Signal]]:
        """The frames of the video mirrored left to right (from the same decode)."""
        from tessera.signals.vpdq import VpdqSignal

        if content.kind not in cls.media_kinds:
            return []
        hashes = VpdqSignal.hashes(content, regions=True)
        if not hashes.regions_mirrored:
            return []
        quality = max(f.qualities[0] for f in hashes.regions_mirrored)
        return [(MIRROR, Signal(cls.name, format_regions(hashes.regions_mirrored), quality))]

    @classmethod
    def new_index(cls) -> SignalIndex:
        """A frame index over every variant of every reference frame."""
        from tessera.index.frames import FrameIndex

        return FrameIndex(VpdqParams.from_settings(), REGIONS_SCHEME)
