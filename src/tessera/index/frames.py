"""The frame index that serves ``vpdq`` and ``vpdq_regions``: reference frames in a Hamming index.

Layout. A ``FrameScheme`` says how a signal type's value reads as frames: each frame has one
hash per *variant* (``vpdq``: the whole frame only; ``vpdq_regions``: the whole frame, centre
crops and regions) and which (query variant, reference variant) pairs may match. Each stored
video keeps its usable frames (whole-frame quality at or above the floor, repeated hashes once,
as vPDQ prepares them) under a contiguous range of ids, one per (frame, variant), in one
``HammingIndex`` (a variant below the quality floor is left out); a growable array maps each id
back to its video's signal id (-1 once removed), and each video keeps its frames' timestamps.

Query flow (one query video = one batch):

1. the query's frames are prepared the same way; a video with no usable frame matches nothing;
2. all their usable variant hashes go to ``HammingIndex.query_array`` at once, with
   ``vpdq_frame_threshold`` as the radius; a (query frame, reference frame) pair matches when
   some pair of their variants that the scheme allows is within that many bits;
3. pairs are grouped by reference video: query-% is the share of query frames with a partner in
   that video, compared-% the share of that video's frames with a partner in the query;
4. with a scheme that has an ``aligned_threshold`` (``vpdq_regions``), the pairs found so far fix
   the videos' alignment (their most common time offset); along it, a frame also matches a frame
   of the other video that stands within ``ALIGNED_WINDOW`` seconds of the same instant when some
   allowed pair of their variants is within ``aligned_threshold`` bits. Low-texture footage
   (grass, stone, hazy sea) has PDQ hashes that a re-encode moves 32-48 bits, while unrelated
   frames compared the same way (every frame within the window) stayed 66 bits or more apart on
   the video benchmark's clips (190,000 frames); tying the looser radius to one instant of an
   alignment that strict matches found is what keeps it safe (a video with no frame within
   ``vpdq_frame_threshold`` of the other has no alignment and gets no aligned pass);
5. with ``vpdq_min_span_pct``, the aligned pairs' segment must span at least that share of
   each video's time (first to last aligned frame, whatever matched inside), so a trimmed
   excerpt, or a video that holds the other and more, is not a whole copy;
6. distance is ``100 - max(query-%, compared-%)`` rounded up (100 when a floor is not met), and
   each video within the threshold is an IndexHit whose ``detail`` is the matched segment: first
   and last matched times in the query and in the reference, and both percentages.

``compare_videos`` computes the same by brute force for two frame lists; the signal type's
``distance`` uses it, and the tests check the index against it. ``border_crop`` measures the
uniform borders that hashing cuts off (it lives here, beside the other frame-level rules).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from tessera.index.base import IndexHit, SignalIndex
from tessera.index.hamming import HammingIndex, parse_hex
from tessera.signals.vpdq import VpdqFeature, VpdqParams, parse_features

__all__ = [
    "ALIGNED_WINDOW",
    "BORDER_FRAMES",
    "BORDER_PENDING",
    "VPDQ_SCHEME",
    "FrameIndex",
    "FrameScheme",
    "VariantFrames",
    "border_crop",
    "compare_frames",
    "compare_videos",
    "frame_weights",
    "hamming_words",
    "informative",
    "vpdq_frames",
]

Words = npt.NDArray[np.uint64]
Words3 = npt.NDArray[np.uint64]  # (frames, variants, 4)
Ints = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float64]

# Border measurement: a row or column is a bar when the middle 80% of its samples span at most
# _FLAT levels; a frame is informative when its luma varies more than _INFORMATIVE_STD. Hashing
# holds the first BORDER_PENDING sampled frames (8 s at 30 fps), and the bars are measured on
# BORDER_FRAMES informative frames spread evenly among them, so one shot with a dark edge does not
# decide for the whole video; no side loses more than _MAX_CUT of its axis.
BORDER_FRAMES = 8
BORDER_PENDING = 240
_FLAT = 24.0
_INFORMATIVE_STD = 12.0
_MAX_CUT = 0.4
_BAR_PERCENTILES = (10, 90)
# The matched segment: the frame pairs within _OFFSET_SLACK bins of _OFFSET_BIN seconds of the
# most common time offset, placed in the reference by their median offset.
_OFFSET_BIN = 0.5
_OFFSET_SLACK = 1
# The aligned pass (query flow step 4): frames whose spans (a kept frame of a deduplicated list
# stands until the next one) come within this many seconds, once aligned, stand at one instant.
ALIGNED_WINDOW = 0.5
_ALIGNED_CHUNK = 4096  # frame pairs compared at once (bounds the temporaries for long videos)


def hamming_words(value: str) -> Words:
    """A 64-hex-digit PDQ hash as 4 uint64 words."""
    words: Words = parse_hex([value])[0]
    return words


def informative(pixels: npt.NDArray[np.float32]) -> bool:
    """Whether a frame has enough detail to tell its borders from its picture."""
    return float(pixels.std()) > _INFORMATIVE_STD


def border_crop(lumas: Sequence[npt.NDArray[np.float32]]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) samples of uniform border to cut from frames like these.

    ``lumas`` are informative frames (see ``informative``); a side is cut only as far as it is
    uniform in every one of ``BORDER_FRAMES`` of them spread evenly, and an axis is left whole
    when a side would lose more than ``_MAX_CUT`` of it. No frames, no cut.
    """
    if not lumas:
        return (0, 0, 0, 0)
    picks = np.linspace(0, len(lumas) - 1, min(len(lumas), BORDER_FRAMES)).round().astype(int)
    sides = np.array([_bars(lumas[i]) for i in sorted(set(picks.tolist()))]).min(axis=0)
    rows, cols = lumas[0].shape
    top, bottom, left, right = (int(side) for side in sides)
    if top > _MAX_CUT * rows or bottom > _MAX_CUT * rows:
        top = bottom = 0
    if left > _MAX_CUT * cols or right > _MAX_CUT * cols:
        left = right = 0
    return (top, bottom, left, right)


def _bars(pixels: npt.NDArray[np.float32]) -> tuple[int, int, int, int]:
    """Uniform rows at the top and bottom, and uniform columns at the left and right."""
    # A row or column counts as bar when its middle 80% of samples is flat, so a logo or caption
    # reaching into a bar (a channel logo in the corner) does not stop the bar being cut.
    low_r, high_r = np.percentile(pixels, _BAR_PERCENTILES, axis=1)
    low_c, high_c = np.percentile(pixels, _BAR_PERCENTILES, axis=0)
    flat_rows = (high_r - low_r) <= _FLAT
    flat_cols = (high_c - low_c) <= _FLAT
    return (
        _run(flat_rows),
        _run(flat_rows[::-1]),
        _run(flat_cols),
        _run(flat_cols[::-1]),
    )


def _run(flags: npt.NDArray[np.bool_]) -> int:
    """Length of the leading run of True."""
    stops = np.flatnonzero(~flags)
    return int(stops[0]) if stops.size else int(flags.size)


class VariantFrames(NamedTuple):
    """A video's frames as a scheme reads them: one hash per variant of each frame.

    ``words`` is (frames, variants, 4) uint64, ``quality`` (frames, variants), ``times`` (frames,)
    in seconds; variant 0 is the whole frame, whose quality decides whether the frame is usable.
    """

    words: Words3
    quality: Ints
    times: Floats


@dataclass(frozen=True, slots=True)
class FrameScheme:
    """How a signal type's value reads as frames, and which variants may match which.

    ``pairs[i, j]`` is True when variant i of a query frame may match variant j of a reference
    frame; a scheme is used for both sides, so ``pairs`` is symmetric. ``aligned_threshold``,
    when set, is the radius of the aligned pass (query flow step 4); ``None`` keeps vPDQ's rule.
    """

    parse: Callable[[str], VariantFrames]
    pairs: npt.NDArray[np.bool_]
    aligned_threshold: int | None = None


def vpdq_frames(features: Sequence[VpdqFeature]) -> VariantFrames:
    """A vPDQ frame list as frames of one variant, the whole frame."""
    hexes = [f.hex for f in features]
    words = parse_hex(hexes) if hexes else np.empty((0, 4), np.uint64)
    return VariantFrames(
        words.reshape(-1, 1, 4),
        np.array([[f.quality] for f in features], dtype=np.int64).reshape(-1, 1),
        np.array([f.timestamp for f in features], dtype=np.float64),
    )


VPDQ_SCHEME = FrameScheme(lambda value: vpdq_frames(parse_features(value)), np.ones((1, 1), bool))


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A video's usable frames: hashes per variant as words, which variants are usable (quality
    at or above the floor), their timestamps, and the time each frame stands for."""

    words: Words3
    usable: npt.NDArray[np.bool_]
    times: Floats
    weights: Floats


def frame_weights(times: Floats) -> Floats:
    """The time each listed frame stands for: until the next frame, the last the median step.

    Frames of a list sampled at a fixed rate (vPDQ's) all weigh the same, so time-weighted shares
    equal vPDQ's frame shares; a kept frame of a deduplicated list stands for its still scene.
    A list whose frames all share one time weighs each frame 1.
    """
    order = np.argsort(times, kind="stable")
    steps = np.diff(times[order])
    tail = float(np.median(steps)) if steps.size else 0.0
    weights = np.empty_like(times)
    weights[order] = np.append(steps, tail)
    if not weights.sum() > 0:
        weights[:] = 1.0
    return weights


def _prepare(frames: VariantFrames, params: VpdqParams) -> _Prepared:
    """Frames whose whole-frame quality is at or above the floor, each whole-frame hash once
    (first occurrence), as vPDQ does; a variant under the floor is not usable."""
    weights = frame_weights(frames.times)
    good = np.flatnonzero(frames.quality[:, 0] >= params.quality_floor)
    _, first = np.unique(frames.words[good, 0], axis=0, return_index=True)
    kept = good[np.sort(first)]
    kept_weights = weights[kept]
    if kept.size and not kept_weights.sum() > 0:
        kept_weights[:] = 1.0
    return _Prepared(
        frames.words[kept],
        frames.quality[kept] >= params.quality_floor,
        frames.times[kept],
        kept_weights,
    )


def _score(
    query: _Prepared,
    ref: _Prepared,
    pair_query: npt.NDArray[np.int64],
    pair_ref: npt.NDArray[np.int64],
    params: VpdqParams,
    scheme: FrameScheme,
) -> tuple[int, dict[str, Any] | None]:
    """Distance and segment from every (query row, reference row) pair of matching frames."""
    if len(query.times) == 0 or len(ref.times) == 0 or pair_query.size == 0:
        return 100, None
    # The alignment: the pairs that agree with the most common time offset (reference time minus
    # query time, in bins; every bin tied for most), so a stray look-alike frame elsewhere does
    # not stretch the segment; their median offset places the query in the reference. Bins are
    # rounded half to even and ties all kept, so swapping the videos negates the offset exactly.
    q_times, r_times = query.times[pair_query], ref.times[pair_ref]
    bins = np.rint((r_times - q_times) / _OFFSET_BIN).astype(np.int64)
    values, counts = np.unique(bins, return_counts=True)
    modes = values[counts == counts.max()]
    aligned = (np.abs(bins[:, None] - modes[None, :]) <= _OFFSET_SLACK).any(axis=1)
    offset = float(np.median(r_times[aligned] - q_times[aligned]))
    seg_query, seg_ref = pair_query[aligned], pair_ref[aligned]
    if scheme.aligned_threshold is not None:
        more_query, more_ref = _aligned_pairs(
            query, ref, offset, pair_query, pair_ref, scheme, scheme.aligned_threshold
        )
        pair_query, pair_ref = np.r_[pair_query, more_query], np.r_[pair_ref, more_ref]
        seg_query, seg_ref = np.r_[seg_query, more_query], np.r_[seg_ref, more_ref]
    query_rows, ref_rows = np.unique(pair_query), np.unique(pair_ref)
    query_share = float(query.weights[query_rows].sum() / query.weights.sum())
    compared_share = float(ref.weights[ref_rows].sum() / ref.weights.sum())
    query_pct, compared_pct = _percent(query_share), _percent(compared_share)
    if query_pct < params.min_query_pct or compared_pct < params.min_compared_pct:
        return 100, None
    if params.min_span_pct and (
        _percent(_span_share(query, seg_query)) < params.min_span_pct
        or _percent(_span_share(ref, seg_ref)) < params.min_span_pct
    ):
        return 100, None
    # The segment: the query's first and last aligned frames, shifted by the offset.
    start, end = float(query.times[seg_query].min()), float(query.times[seg_query].max())
    last = float(ref.times.max())
    detail = {
        "query_start_s": round(start, 3),
        "query_end_s": round(end, 3),
        "reference_start_s": round(min(max(start + offset, 0.0), last), 3),
        "reference_end_s": round(min(max(end + offset, 0.0), last), 3),
        "query_match_pct": round(100 * query_share, 1),
        "compared_match_pct": round(100 * compared_share, 1),
    }
    return 100 - max(query_pct, compared_pct), detail


def _aligned_pairs(
    query: _Prepared,
    ref: _Prepared,
    offset: float,
    pair_query: npt.NDArray[np.int64],
    pair_ref: npt.NDArray[np.int64],
    scheme: FrameScheme,
    threshold: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The aligned pass (query flow step 4): more (query row, reference row) pairs of frames
    that stand at the same instant once the query is shifted by ``offset`` and have an allowed
    pair of usable variants within ``threshold`` bits. A frame stands from its time for its
    weight (a kept frame of a deduplicated list, until the next one); two frames stand at the
    same instant when their spans come within ``ALIGNED_WINDOW`` seconds, which is symmetric in
    the two videos. Only pairs with a frame not yet matched are compared."""
    order = np.argsort(ref.times, kind="stable")
    starts, ends = ref.times[order], (ref.times + ref.weights)[order]  # both ascending
    begin = query.times + offset
    lo = np.searchsorted(ends, begin - ALIGNED_WINDOW, side="left")
    hi = np.searchsorted(starts, begin + query.weights + ALIGNED_WINDOW, side="right")
    counts = np.maximum(hi - lo, 0)
    rows = np.repeat(np.arange(len(query.times), dtype=np.int64), counts)
    shift = np.repeat(lo - (np.cumsum(counts) - counts), counts)
    cols = order[np.arange(int(counts.sum()), dtype=np.int64) + shift]
    query_done = np.zeros(len(query.times), dtype=bool)
    query_done[pair_query] = True
    ref_done = np.zeros(len(ref.times), dtype=bool)
    ref_done[pair_ref] = True
    open_ = ~(query_done[rows] & ref_done[cols])
    rows, cols = rows[open_], cols[open_]
    q_variant, r_variant = np.nonzero(scheme.pairs)
    near = np.zeros(len(rows), dtype=bool)
    for start in range(0, len(rows), _ALIGNED_CHUNK):
        q, r = rows[start : start + _ALIGNED_CHUNK], cols[start : start + _ALIGNED_CHUNK]
        words = query.words[q][:, q_variant] ^ ref.words[r][:, r_variant]
        close = np.bitwise_count(words).sum(axis=2) <= threshold
        usable = query.usable[q][:, q_variant] & ref.usable[r][:, r_variant]
        near[start : start + _ALIGNED_CHUNK] = (close & usable).any(axis=1)
    return rows[near], cols[near]


def _span_share(video: _Prepared, rows: npt.NDArray[np.int64]) -> float:
    """The share of a video's time (its frames' weights) from its first to its last frame among
    ``rows`` (the aligned pairs' frames), both included: how much of it the matched segment
    spans, whatever matched inside it."""
    times = video.times[rows]
    inside = (video.times >= times.min()) & (video.times <= times.max())
    return float(video.weights[inside].sum() / video.weights.sum())


def _percent(share: float) -> int:
    """A share as whole percent, rounded down (a share within float error of a whole counts)."""
    return min(100, int(share * 100 + 1e-9))


def compare_videos(
    query: Sequence[VpdqFeature], reference: Sequence[VpdqFeature], params: VpdqParams
) -> tuple[int, dict[str, Any] | None]:
    """Distance and matched segment of two vPDQ frame lists, by brute force over frame pairs."""
    return compare_frames(vpdq_frames(query), vpdq_frames(reference), params, VPDQ_SCHEME)


def compare_frames(
    query: VariantFrames, reference: VariantFrames, params: VpdqParams, scheme: FrameScheme
) -> tuple[int, dict[str, Any] | None]:
    """Distance and matched segment of two videos' frames, by brute force over all pairs of
    frames and of the variants ``scheme`` lets match."""
    q, r = _prepare(query, params), _prepare(reference, params)
    if len(q.times) == 0 or len(r.times) == 0:
        return 100, None
    near = np.zeros((len(q.times), len(r.times)), dtype=bool)
    for q_variant, r_variant in zip(*np.nonzero(scheme.pairs), strict=True):
        refs, ref_usable = r.words[None, :, r_variant], r.usable[None, :, r_variant]
        for start in range(0, len(q.times), 256):
            stop = start + 256
            bits = np.bitwise_count(q.words[start:stop, None, q_variant] ^ refs).sum(axis=2)
            near[start:stop] |= (
                (bits <= params.frame_threshold)
                & q.usable[start:stop, None, q_variant]
                & ref_usable
            )
    pair_query, pair_ref = np.nonzero(near)
    return _score(q, r, pair_query.astype(np.int64), pair_ref.astype(np.int64), params, scheme)


@dataclass(frozen=True, slots=True)
class _Video:
    first: int  # id of (frame 0, variant 0); (frame f, variant v) is first + f * variants + v
    frames: _Prepared

    def ids(self) -> npt.NDArray[np.int64]:
        """The ids of its usable (frame, variant) hashes."""
        return self.first + np.flatnonzero(self.frames.usable.ravel()).astype(np.int64)


class FrameIndex(SignalIndex):
    """vPDQ matching over a Hamming index of every reference frame (and its variants)."""

    def __init__(self, params: VpdqParams | None = None, scheme: FrameScheme = VPDQ_SCHEME):
        self.params = params or VpdqParams()
        self.scheme = scheme
        self._frames = HammingIndex()
        self._videos: dict[int, _Video] = {}
        self._owner = np.full(1024, -1, dtype=np.int64)
        self._next = 0

    def add(self, items: Iterable[tuple[int, str]]) -> None:
        """Add (signal id, frame list) pairs; an id already present is replaced."""
        latest = dict(items)
        self.remove(latest)
        ids: list[npt.NDArray[np.int64]] = []
        words: list[Words] = []
        for video_id, value in latest.items():
            prepared = _prepare(self.scheme.parse(value), self.params)
            first = self._allocate(video_id, prepared.usable.size)
            video = _Video(first, prepared)
            self._videos[video_id] = video
            ids.append(video.ids())
            words.append(prepared.words[prepared.usable])
        if ids:
            self._frames.add_array(np.concatenate(ids), np.concatenate(words))

    def _allocate(self, video_id: int, count: int) -> int:
        """A contiguous range of ``count`` ids owned by ``video_id``."""
        first = self._next
        self._next += count
        if self._next > len(self._owner):
            grown = np.full(max(self._next, 2 * len(self._owner)), -1, dtype=np.int64)
            grown[: len(self._owner)] = self._owner
            self._owner = grown
        self._owner[first : self._next] = video_id
        return first

    def remove(self, ids: Iterable[int]) -> None:
        """Remove videos by signal id; absent ids are ignored."""
        gone: list[npt.NDArray[np.int64]] = []
        for video_id in ids:
            video = self._videos.pop(video_id, None)
            if video is None:
                continue
            self._owner[video.first : video.first + video.frames.usable.size] = -1
            gone.append(video.ids())
        if gone:
            self._frames.remove_array(np.concatenate(gone))

    def query(self, value: str, threshold: int) -> list[IndexHit]:
        """Every stored video within ``threshold`` of the query video, nearest first.

        Distance 100 means nothing in common (or a floor not met) and is never a hit.
        """
        query = _prepare(self.scheme.parse(value), self.params)
        if len(query.times) == 0 or not self._videos:
            return []
        variants = query.usable.shape[1]
        flat = np.flatnonzero(query.usable.ravel())
        found = self._frames.query_array(query.words[query.usable], self.params.frame_threshold)
        query_frame, query_variant = np.divmod(flat[found.query_index], variants)
        owners = self._owner[found.ids]
        hits: list[IndexHit] = []
        order = np.argsort(owners, kind="stable")
        owners, query_frame, query_variant, ids = (
            owners[order],
            query_frame[order],
            query_variant[order],
            found.ids[order],
        )
        bounds = np.flatnonzero(np.diff(owners)) + 1
        for lo, hi in zip(
            np.r_[0, bounds].tolist(), np.r_[bounds, len(owners)].tolist(), strict=True
        ):
            if lo == hi or owners[lo] < 0:
                continue
            video_id = int(owners[lo])
            video = self._videos[video_id]
            ref_frame, ref_variant = np.divmod(ids[lo:hi] - video.first, variants)
            allowed = self.scheme.pairs[query_variant[lo:hi], ref_variant]
            pair_query, pair_ref = _unique_pairs(
                query_frame[lo:hi][allowed], ref_frame[allowed], len(video.frames.times)
            )
            distance, detail = _score(
                query, video.frames, pair_query, pair_ref, self.params, self.scheme
            )
            if distance <= min(threshold, 99):
                hits.append(IndexHit(video_id, distance, detail))
        hits.sort(key=lambda h: (h.distance, h.id))
        return hits

    def __len__(self) -> int:
        return len(self._videos)


def _unique_pairs(
    query_frame: npt.NDArray[np.int64], ref_frame: npt.NDArray[np.int64], ref_frames: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Each (query frame, reference frame) pair once, however many variant pairs matched."""
    unique = np.unique(query_frame * ref_frames + ref_frame)
    return unique // ref_frames, unique % ref_frames
