"""The ``vpdq`` signal type: Meta's video PDQ, a list of per-frame PDQ hashes, in Meta's format.

Format (python-threatexchange's ``VPDQSignal``, which HMA stores and exchanges): a JSON list of
``"<pdq hex>,<quality>,<timestamp>"`` strings, one per hashed frame, e.g.
``["e271…055c,100,0.0", "c0f1…055c,98,1.0"]``, timestamps in seconds. Tessera writes the
timestamp rounded to milliseconds (``VPDQ_TIMESTAMP_PRECISION`` decimals) in its shortest form,
which python-threatexchange reads with ``float``; it agrees byte for byte with what that library
writes for whole seconds below 100 (its ``{:.3}`` keeps 3 significant digits, so it writes
``1.03`` for 1.033 s and ``1.23e+02`` for 123.4 s; Tessera reads both). ``validate`` also accepts
the file that Meta's C++ ``vpdq-hash-video`` writes (lines ``frame,quality,hex,timestamp``) and
normalises it to the JSON list.

Hashing one video (``hash_video``):

1. ``tessera.media.video.decode_video`` decodes frames within the content's limits, sampled at
   ``video_frames_per_second`` (every frame decoded, loop filter skipped), box-averaged down to
   at least ``DECODE_SIDE`` samples a side;
2. uniform borders (letterbox and pillarbox bars) are measured on informative frames spread over
   the first seconds (``tessera.index.frames.border_crop``) and cut from every frame, so a
   letterboxed copy hashes like its source;
3. each frame gets a PDQ hash and quality from ``tessera.signals.pdq_hasher`` (no second PDQ
   implementation), and its left-right mirror image's hash from the same DCT;
4. a frame whose hash is within ``vpdq_dedupe_bits`` of the last kept frame's is dropped, so
   still scenes do not flood the frame list while motion keeps many frames;
5. with ``regions`` (``VpdqSignal.hashes`` asks when ``vpdq_regions`` is registered), each kept
   frame is also hashed as the centre crops and regions of ``tessera.signals.vpdq_regions``,
   the Tessera-only type that finds cropped and overlaid copies; one decode serves both types.

Queries (``hash_video(query=True)``, or ``VpdqSignal`` inside ``hashing_queries()``) are hashed
sparsely to screen them: step 1 decodes only keyframes, and where they are more than
``query_gap`` seconds apart the reference frames up to evenly spaced points between them
(``decode_video(sparse_gap=...)``): 5-10x less CPU than a dense hash (``python -m bench video``:
137x realtime per core on HD, 419x on SD, against 12x and 31x dense). Bank references stay dense,
so a query frame at any phase finds the reference's frame at the same instant. But a sparse
query's compared-% is low by construction (its frames are seconds apart, each reference
frame needs a partner within 31 bits) and few frames make query-% noisy, so a sparse hash is a
screen, not a verdict: a reference it has anything in common with (distance below 100) is
confirmed with the video's dense hash. On the video benchmark the screen flagged every copy's
own reference (100 of 100 with ``vpdq_regions``) and none of 970 other pairs, so screening
then confirming found exactly what dense queries find, at the sparse cost for an upload that
matches nothing. ``tessera.services.matching.match_content`` does this for every lookup of
content (``vpdq_query_gap`` seconds; 0 hashes queries densely). A sparse hash must never be
stored in a bank, a case, a match record or a journal.

Matching (``tessera.index.frames.FrameIndex``, and ``distance`` here, which agree exactly): as
vPDQ defines it, frames below the quality floor are ignored, repeated hashes counted once, and a
frame matches when some frame of the other video is within ``vpdq_frame_threshold`` bits.
query-% is the share of the query's frames that match, compared-% the share of the reference's.
Distance: ``100 - max(query-%, compared-%)`` rounded up, so the default threshold 20 is vPDQ's
80 %: a match when either video is mostly made of the other (an excerpt of a known video, or a
known clip inside a longer upload). ``vpdq_min_query_pct``/``vpdq_min_compared_pct`` add floors
(distance 100 below them); ``vpdq_min_query_pct = 80`` gives python-threatexchange's rule.
Those shares count frames matched anywhere in the other video, so a trimmed excerpt whose
slow opening resembles later frames can cover nearly all of its source. ``vpdq_min_span_pct``
asks for whole copies in time: the segment the aligned frame pairs span must cover at least
that share of both videos (95 keeps re-coloured and re-encoded copies and turns away copies
that lack the first or last seconds).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import numpy.typing as npt

from tessera.errors import InvalidSignal
from tessera.media.image import Luma
from tessera.media.kinds import MediaKind
from tessera.signals.base import Signal, SignalType
from tessera.signals.pdq_hasher import pdq_mirrored_from_luma

if TYPE_CHECKING:
    from tessera.index.base import SignalIndex
    from tessera.media.content import Content
    from tessera.signals.vpdq_regions import RegionFrame

__all__ = [
    "MIRROR",
    "VPDQ_TIMESTAMP_PRECISION",
    "VpdqFeature",
    "VpdqParams",
    "VpdqSignal",
    "format_features",
    "hashing_queries",
    "json_strings",
    "parse_features",
]

VPDQ_TIMESTAMP_PRECISION = 3
MIRROR = "mirror"  # the transform name of a left-right mirrored query
DECODE_SIDE = 128  # fewest samples a side frames are box-averaged down to before PDQ
MAX_FRAMES = 2_000_000  # a signal with more frames than this is refused (hostile input)
_HEX = re.compile(r"[0-9a-f]{64}")


class VpdqFeature(NamedTuple):
    """One hashed frame: PDQ hash (64 hex digits), quality 0-100, timestamp in seconds."""

    hex: str
    quality: int
    timestamp: float

    def __str__(self) -> str:
        return f"{self.hex},{self.quality},{round(self.timestamp, VPDQ_TIMESTAMP_PRECISION)!r}"


@dataclass(frozen=True, slots=True)
class VpdqParams:
    """How videos are hashed and matched; ``from_settings`` reads them from Settings."""

    frames_per_second: float = 30.0
    dedupe_bits: int = 8
    frame_threshold: int = 31
    quality_floor: int = 50
    min_query_pct: int = 0
    min_compared_pct: int = 0
    query_gap: float | None = 2.0
    min_span_pct: int = 0

    @classmethod
    def from_settings(cls) -> VpdqParams:
        """The operator's settings (environment and TOML file)."""
        from tessera.settings import load_settings

        s = load_settings()
        return cls(
            frames_per_second=s.video_frames_per_second,
            dedupe_bits=s.vpdq_dedupe_bits,
            frame_threshold=s.vpdq_frame_threshold,
            quality_floor=s.vpdq_quality_floor,
            min_query_pct=s.vpdq_min_query_pct,
            min_compared_pct=s.vpdq_min_compared_pct,
            query_gap=s.vpdq_query_gap or None,
            min_span_pct=s.vpdq_min_span_pct,
        )


def format_features(features: Iterable[VpdqFeature]) -> str:
    """The JSON frame list python-threatexchange and HMA exchange."""
    return json.dumps([str(f) for f in features])


def json_strings(text: str, name: str, what: str = "strings") -> list[str]:
    """A JSON list of strings (a frame list); InvalidSignal naming ``name`` otherwise."""
    try:
        items = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as e:
        raise InvalidSignal(f"{name} is not a JSON list: {e}") from e
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise InvalidSignal(f"{name} must be a JSON list of {what}")
    return items


def parse_features(value: str) -> list[VpdqFeature]:
    """Frames of a JSON frame list or of a C++ ``vpdq-hash-video`` file; InvalidSignal if bad."""
    if not isinstance(value, str):
        raise InvalidSignal(f"vpdq must be a string, got {type(value).__name__}")
    text = value.strip()
    if not text:
        raise InvalidSignal("vpdq is empty")
    if text.startswith("["):
        items = json_strings(text, "vpdq", "'hex,quality,timestamp' strings")
        rows = [(i + 1, item.split(",")) for i, item in enumerate(items)]
        features = [_feature(n, parts, 0, 1, 2, 3) for n, parts in rows]
    else:
        lines = [line for line in text.splitlines() if line.strip()]
        features = [_feature(n, line.split(","), 2, 1, 3, 4) for n, line in enumerate(lines, 1)]
    if not features:
        raise InvalidSignal("vpdq has no frames")
    if len(features) > MAX_FRAMES:
        raise InvalidSignal(f"vpdq has {len(features)} frames, over the limit of {MAX_FRAMES}")
    return features


def _feature(
    n: int, parts: list[str], at_hex: int, at_q: int, at_t: int, count: int
) -> VpdqFeature:
    """One frame from its comma-separated fields (positions differ between the two formats)."""
    if len(parts) != count:
        raise InvalidSignal(f"vpdq frame {n}: expected {count} comma-separated fields")
    hex_ = parts[at_hex].strip().lower()
    if not _HEX.fullmatch(hex_):
        raise InvalidSignal(f"vpdq frame {n}: the PDQ hash must be 64 hex digits")
    try:
        quality = int(parts[at_q])
        timestamp = float(parts[at_t])
    except ValueError:
        raise InvalidSignal(f"vpdq frame {n}: quality and timestamp must be numbers") from None
    if not 0 <= quality <= 100:
        raise InvalidSignal(f"vpdq frame {n}: quality must be 0-100, got {quality}")
    if not (math.isfinite(timestamp) and timestamp >= 0):
        raise InvalidSignal(f"vpdq frame {n}: timestamp must be a finite number >= 0")
    return VpdqFeature(hex_, quality, timestamp)


_HASHING_QUERIES: ContextVar[bool] = ContextVar("tessera_vpdq_hashing_queries", default=False)


@contextmanager
def hashing_queries() -> Iterator[None]:
    """Within this block, ``vpdq`` and ``vpdq_regions`` hash videos to be looked up, not stored:
    sparsely, every ``VpdqParams.query_gap`` seconds at most (step 1 of the module docstring)."""
    token = _HASHING_QUERIES.set(True)
    try:
        yield
    finally:
        _HASHING_QUERIES.reset(token)


class VideoHashes(NamedTuple):
    """A video's kept frames, the same frames mirrored left to right, and (when asked for)
    the ``vpdq_regions`` variants of both."""

    frames: list[VpdqFeature]
    mirrored: list[VpdqFeature]
    regions: list[RegionFrame]
    regions_mirrored: list[RegionFrame]


def hash_video(
    content: Content, params: VpdqParams, *, regions: bool = False, query: bool = False
) -> VideoHashes:
    """Hash a video's frames (steps 1-4 of the module docstring); no frames for a silent clip.

    With ``regions``, each kept frame also gets its ``vpdq_regions`` variants (same decode).
    With ``query``, the video is hashed to be looked up, not stored: sparsely (step 1).
    """
    from tessera.index.frames import BORDER_PENDING, border_crop, informative
    from tessera.media.video import decode_video

    hasher = _FrameHasher(params.dedupe_bits, regions)
    pending: list[tuple[float, Luma]] = []
    detailed: list[npt.NDArray[np.float32]] = []
    decoded = decode_video(
        content,
        frames_per_second=params.frames_per_second,
        reduce_to=DECODE_SIDE,
        sparse_gap=params.query_gap if query else None,
    )
    for frame in decoded:
        if hasher.crop is None:
            pending.append((frame.timestamp, frame.luma))
            if informative(frame.luma.pixels):
                detailed.append(frame.luma.pixels)
            if len(pending) < BORDER_PENDING:
                continue
            hasher.crop = border_crop(detailed)
            for at, luma in pending:
                hasher.add(at, luma)
            pending.clear()
        else:
            hasher.add(frame.timestamp, frame.luma)
    if pending:
        hasher.crop = border_crop(detailed)
        for at, luma in pending:
            hasher.add(at, luma)
    return VideoHashes(hasher.frames, hasher.mirrored, hasher.regions, hasher.regions_mirrored)


class _FrameHasher:
    """Steps 2-4 for one frame at a time: cut the borders, hash, keep it unless a near repeat."""

    def __init__(self, dedupe_bits: int, regions: bool) -> None:
        from tessera.signals.vpdq_regions import region_hashes  # imports this module

        self.dedupe_bits = dedupe_bits
        self.region_hashes = region_hashes if regions else None
        self.crop: tuple[int, int, int, int] | None = None
        self.frames: list[VpdqFeature] = []
        self.mirrored: list[VpdqFeature] = []
        self.regions: list[RegionFrame] = []
        self.regions_mirrored: list[RegionFrame] = []
        self._last: int | None = None

    def add(self, timestamp: float, luma: Luma) -> None:
        """Hash one frame's luma (after the crop is decided)."""
        top, bottom, left, right = self.crop or (0, 0, 0, 0)
        rows, cols = luma.pixels.shape
        cut = luma.crop(top, rows - bottom, left, cols - right)
        (frame_hash, quality), mirror = pdq_mirrored_from_luma(cut)
        value = int(frame_hash, 16)
        if self._last is not None and (value ^ self._last).bit_count() <= self.dedupe_bits:
            return
        self._last = value
        self.frames.append(VpdqFeature(frame_hash, quality, timestamp))
        self.mirrored.append(VpdqFeature(mirror, quality, timestamp))
        if self.region_hashes is not None:
            whole = (frame_hash, mirror, quality)
            plain, mirrored = self.region_hashes(cut, whole, timestamp)
            self.regions.append(plain)
            self.regions_mirrored.append(mirrored)


class VpdqSignal(SignalType):
    """vPDQ: per-frame PDQ hashes of a video; finds copies, excerpts and clips inside uploads."""

    name = "vpdq"
    media_kinds = frozenset({MediaKind.VIDEO})
    default_threshold = 20
    max_threshold = 50
    # the last video hashed (see hashes): its bytes, hashes, with regions?, as a query?
    _cache: tuple[bytes, VideoHashes, bool, bool] | None = None

    @classmethod
    def validate(cls, value: str) -> str:
        """The JSON frame list, lower-case hex, timestamps to the millisecond."""
        return format_features(parse_features(value))

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        """100 - max(query-%, compared-%), rounded up; 100 when a floor is not met."""
        from tessera.index.frames import compare_videos

        return compare_videos(parse_features(a), parse_features(b), VpdqParams.from_settings())[0]

    @classmethod
    def hash_content(cls, content: Content) -> Signal | None:
        """The frame list of a video; None for other media and for a container without video."""
        if content.kind not in cls.media_kinds:
            return None
        hashes = cls.hashes(content)
        if not hashes.frames:
            return None
        quality = max(f.quality for f in hashes.frames)
        return Signal(cls.name, format_features(hashes.frames), quality)

    @classmethod
    def transformed(cls, content: Content) -> list[tuple[str, Signal]]:
        """The frame list of the video mirrored left to right (from the same decode)."""
        if content.kind not in cls.media_kinds:
            return []
        hashes = cls.hashes(content)
        if not hashes.mirrored:
            return []
        quality = max(f.quality for f in hashes.mirrored)
        return [(MIRROR, Signal(cls.name, format_features(hashes.mirrored), quality))]

    @classmethod
    def hashes(cls, content: Content, *, regions: bool | None = None) -> VideoHashes:
        """Hash a video once: ``transformed`` and ``vpdq_regions``, asked right after
        ``hash_content``, reuse the decode. ``regions`` adds the ``vpdq_regions`` variants
        (default: when that type is registered, so ``vpdq`` alone does not pay for them)."""
        if regions is None:
            from tessera.signals.registry import all_signal_types

            regions = "vpdq_regions" in all_signal_types()
        query = _HASHING_QUERIES.get()
        cached = cls._cache
        if (
            cached is not None
            and cached[0] is content.data
            and (cached[2] or not regions)
            and cached[3] == query
        ):
            return cached[1]
        hashes = hash_video(content, VpdqParams.from_settings(), regions=regions, query=query)
        cls._cache = (content.data, hashes, regions, query)
        return hashes

    @classmethod
    def new_index(cls) -> SignalIndex:
        """A frame index: every reference frame in a Hamming index, votes per video."""
        from tessera.index.frames import FrameIndex

        return FrameIndex(VpdqParams.from_settings())
