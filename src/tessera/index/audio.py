"""The audio index: where in which reference does a query excerpt sit, and how well does it match.

Layout. Each reference keeps only its unshifted sub-fingerprints (word 4 of each frame, 4 bytes
a frame, 10 a second). References live in immutable segments: one array of all their words, and
an inverted index (keys sorted, with each key's frame position) over the low ``KEY_BITS`` bits.
New references go into a new segment built on the next query; segments of similar size are
merged (a log-structured merge, so each frame is re-sorted O(log n) times); removed references
are masked, and a segment is rebuilt once a quarter of it is dead. About 8 bytes a frame, so
10,000 hours take about 2.9 GB.

Query flow:

1. every key of the query, at each of the 9 pitch positions, is looked up; each posting votes
   for (pitch, reference frame - query frame), in bins of ``_BIN`` frames on two staggered
   grids, so a tempo drift of up to ±5% stays in one bin. When the best bin has fewer than
   ``_CONFIDENT`` votes (a hard copy, or nothing known), the keys one bit off are looked up too
   (25 times the postings; in segments of over ``_STRIDE_FROM`` postings, from every third
   query row only, 8 times: that pass is what an unrelated query costs at scale);
2. the ``_CANDIDATES`` bins with the most votes (and at least a tenth of the best's) are
   verified, all in one array: the query's words at that pitch are compared with the
   reference's at every tempo factor in ``TEMPOS`` and every offset around the bin, and the
   best alignment's bit error rate (BER) over its best window of up to ``_WINDOW`` frames
   (10 s) gives the distance, ``round(200 * BER)`` capped at 100;
3. each reference within the threshold is one IndexHit; ``detail`` says where the query starts in
   the reference (``offset_s``), how long the matched stretch is (``duration_s``), the ``score``
   (100 - distance), and the pitch (semitones) and tempo at which it matched.

Silent frames (all filter responses zero, word 0) carry no information: they are neither
indexed nor counted, so silence never matches silence.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from tessera.index.base import IndexHit, SignalIndex
from tessera.signals._audio_features import (
    FRAMES_PER_SECOND,
    KEY_BITS,
    MAX_SHIFT,
    STEPS_PER_OCTAVE,
)
from tessera.signals.tessera_audio import decode_value

__all__ = [
    "QUERY_HOP",
    "QUERY_WINDOW",
    "TEMPOS",
    "Alignment",
    "AudioIndex",
    "Candidate",
    "best_alignment",
    "candidates",
    "windows",
]

U32 = npt.NDArray[np.uint32]
I64 = npt.NDArray[np.int64]
TEMPOS = (0.95, 0.975, 1.0, 1.025, 1.05)
_KEY_MASK = np.uint32((1 << KEY_BITS) - 1)
_FLIPS = (np.uint32(1) << np.arange(KEY_BITS, dtype=np.uint32)).astype(np.uint32)
_BIN = 8  # frames per vote bin (0.8 s)
_CANDIDATES = 24  # vote bins verified per query and segment
_CONFIDENT = 8  # votes of the best bin from exact lookups that spare the one-bit-off lookups
_FLIP_STRIDE = 3  # in large segments the one-bit-off lookups use every third query row
_STRIDE_FROM = 1 << 24  # postings (466 hours) from which a segment is large
_KEEP = 10  # bins with fewer than 1/_KEEP of the best bin's votes are not verified
_SEARCH = 6  # extra offsets searched either side of a bin
_WINDOW = 100  # frames scored (10 s): a long query is scored on its best-matching 10 s
_MIN_ROWS = 20  # fewest informative frames (2 s) a score is based on, when the query has them
_MERGE_RATIO = 2  # merge the newest segment into the one before while that is < 2x bigger
QUERY_WINDOW = 300  # frames (30 s) a query is searched in at once
QUERY_HOP = 200  # frames between query windows: any 10 s of the query lies inside one window
_BIAS = 1 << 24  # added to offsets in vote keys so they stay positive (> any window's rows)
_DENSE_MIN = 1 << 22  # segments with this many postings read a 2**24 offset table (64 MiB)
_CHUNK = 1 << 24  # frames per chunk when building a segment


class Alignment(NamedTuple):
    """The best alignment of a query inside one reference."""

    distance: int
    offset: int  # reference frame of query frame 0
    rows: int  # query frames that overlap the reference
    shift: int  # pitch position, quarter semitones
    tempo: float


@dataclass(frozen=True, slots=True)
class _Segment:
    slots: I64  # slot of each reference, in order
    starts: I64  # first frame of each reference in ``words``; one extra at the end
    words: U32  # unshifted words of every reference, concatenated
    positions: U32  # frames (in ``words``) of the informative words, sorted by key, then frame
    keys: U32 | None  # sorted key of each position (small segments)
    table: npt.NDArray[np.uint32] | None  # positions of key k: table[k]..table[k+1] (large ones)

    @classmethod
    def build(cls, slots: list[int], refs: list[U32]) -> _Segment:
        starts = np.zeros(len(refs) + 1, dtype=np.int64)
        starts[1:] = np.cumsum([len(r) for r in refs])
        words = np.concatenate(refs) if refs else np.zeros(0, dtype=np.uint32)
        return cls.from_words(np.asarray(slots, np.int64), starts, words)

    @classmethod
    def from_words(cls, slots: I64, starts: I64, words: U32, dense: bool | None = None) -> _Segment:
        """Index concatenated references: one sort of (key, frame) pairs packed in 64 bits.

        ``dense`` chooses the offset table (default: from ``_DENSE_MIN`` postings on).
        """
        n = len(words)
        if n >= 1 << 32:
            raise ValueError("a segment holds fewer than 2**32 frames")
        packed = np.empty(n, dtype=np.uint64)
        for a in range(0, n, _CHUNK):  # in chunks, to keep temporaries small
            b = min(n, a + _CHUNK)
            w = words[a:b]
            key = np.where(w != 0, w & _KEY_MASK, np.uint32(1 << KEY_BITS)).astype(np.uint64)
            packed[a:b] = (key << np.uint64(32)) | np.arange(a, b, dtype=np.uint64)
        packed.sort()  # silent words (key 2**KEY_BITS) sort last and are cut
        live = n - int(np.count_nonzero(words == 0))
        positions = (packed[:live] & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        if not (live >= _DENSE_MIN if dense is None else dense):
            keys = (packed[:live] >> np.uint64(32)).astype(np.uint32)
            return cls(slots, starts, words, positions, keys, None)
        counts = np.zeros(1 << KEY_BITS, dtype=np.int64)
        for a in range(0, live, _CHUNK):
            chunk = (packed[a : min(live, a + _CHUNK)] >> np.uint64(32)).astype(np.intp)
            counts += np.bincount(chunk, minlength=1 << KEY_BITS)
        del packed
        table = np.zeros((1 << KEY_BITS) + 1, dtype=np.uint32)
        table[1:] = np.cumsum(counts)
        return cls(slots, starts, words, positions, None, table)

    def lookup(self, probes: U32) -> tuple[I64, I64]:
        """(first, end) position of each probe key's postings: a table read or a binary search."""
        if self.table is not None:
            return self.table[probes].astype(np.int64), self.table[probes + 1].astype(np.int64)
        assert self.keys is not None
        return (
            np.searchsorted(self.keys, probes, side="left").astype(np.int64),
            np.searchsorted(self.keys, probes, side="right").astype(np.int64),
        )

    def reference(self, i: int) -> U32:
        return self.words[self.starts[i] : self.starts[i + 1]]


class AudioIndex(SignalIndex):
    """Serves ``tessera_audio``: excerpt search with time-offset voting and BER verification."""

    def __init__(self) -> None:
        self._slot_of: dict[int, int] = {}
        self._id_of: dict[int, int] = {}
        self._next_slot = 0
        self._segments: list[_Segment] = []
        self._pending: dict[int, U32] = {}  # slot -> words, not yet in a segment
        self._removed = False  # whether a reference in a segment was removed since _settle

    def add(self, items: Iterable[tuple[int, str]]) -> None:
        for signal_id, value in items:
            words = decode_value(value)[:, MAX_SHIFT].copy()
            self._forget(signal_id)
            slot = self._next_slot
            self._next_slot += 1
            self._slot_of[signal_id] = slot
            self._id_of[slot] = signal_id
            self._pending[slot] = words

    def remove(self, ids: Iterable[int]) -> None:
        for signal_id in ids:
            self._forget(signal_id)

    def _forget(self, signal_id: int) -> None:
        slot = self._slot_of.pop(signal_id, None)
        if slot is not None:
            del self._id_of[slot]
            if self._pending.pop(slot, None) is None:
                self._removed = True

    def __len__(self) -> int:
        return len(self._slot_of)

    def frames(self) -> int:
        """How many reference frames the index holds (live and not yet compacted)."""
        self._settle()
        return sum(len(s.words) for s in self._segments)

    def _settle(self) -> None:
        """Build pending references into a segment, merge similar sizes, compact dead space."""
        if self._removed:  # checking liveness is O(references): only after a removal
            self._removed = False
            kept: list[_Segment] = []
            for seg in self._segments:
                live = np.array([int(s) in self._id_of for s in seg.slots], dtype=bool)
                if live.all():
                    kept.append(seg)
                elif live.any() and live.sum() * 4 >= len(live) * 3:
                    kept.append(seg)  # under a quarter dead: masked at query time
                elif live.any():
                    idx = np.flatnonzero(live).tolist()
                    kept.append(
                        _Segment.build(
                            [int(seg.slots[i]) for i in idx], [seg.reference(i) for i in idx]
                        )
                    )
            self._segments = kept
        if self._pending:
            slots = sorted(self._pending)
            self._segments.append(_Segment.build(slots, [self._pending[s] for s in slots]))
            self._pending = {}
        while len(self._segments) > 1 and len(self._segments[-2].words) < _MERGE_RATIO * len(
            self._segments[-1].words
        ):
            newer, older = self._segments.pop(), self._segments.pop()
            slots, refs = [], []
            for seg in (older, newer):
                for i, slot in enumerate(seg.slots):
                    if int(slot) in self._id_of:
                        slots.append(int(slot))
                        refs.append(seg.reference(i))
            self._segments.append(_Segment.build(slots, refs))

    def query(self, value: str, threshold: int) -> list[IndexHit]:
        """Every reference that contains the query within ``threshold``, with where it sits."""
        self._settle()
        query = decode_value(value)
        best: dict[int, tuple[Alignment, int]] = {}  # id -> (alignment, query window start)
        for start in windows(len(query)):
            part = query[start : start + QUERY_WINDOW]
            for seg in self._segments:
                for i, found in _search(seg, part):
                    signal_id = self._id_of.get(int(seg.slots[i]))
                    if signal_id is None or found.distance > threshold:
                        continue
                    if signal_id not in best or found.distance < best[signal_id][0].distance:
                        best[signal_id] = (found, start)
        return [IndexHit(i, a.distance, _detail(a, s)) for i, (a, s) in sorted(best.items())]

    def load(self, ids: list[int], starts: I64, words: U32) -> None:
        """Bulk-load references given as unshifted words, concatenated (``starts`` delimit them).

        For rebuilding from a snapshot and for benchmarks at scale: one segment, built with no
        copy of ``words`` and no text encoding.
        """
        self._settle()
        slots = []
        for signal_id in ids:
            self._forget(signal_id)
            self._slot_of[signal_id] = self._next_slot
            self._id_of[self._next_slot] = signal_id
            slots.append(self._next_slot)
            self._next_slot += 1
        self._segments.insert(0, _Segment.from_words(np.asarray(slots, np.int64), starts, words))


def windows(frames: int) -> list[int]:
    """Where each query window starts: ``QUERY_WINDOW`` frames every ``QUERY_HOP``, covering all.

    Any stretch of up to ``QUERY_WINDOW - QUERY_HOP`` frames lies wholly inside one window, so a
    long upload is searched in bounded pieces (work grows linearly with its length).
    """
    if frames <= QUERY_WINDOW:
        return [0]
    starts = list(range(0, frames - QUERY_WINDOW + 1, QUERY_HOP))
    if starts[-1] != frames - QUERY_WINDOW:
        starts.append(frames - QUERY_WINDOW)
    return starts


def _detail(a: Alignment, window: int) -> dict[str, float | int]:
    return {
        "offset_s": round(a.offset / FRAMES_PER_SECOND, 1),
        "query_offset_s": round(window / FRAMES_PER_SECOND, 1),
        "duration_s": round(a.rows * a.tempo / FRAMES_PER_SECOND, 1),
        "score": 100 - a.distance,
        "pitch_semitones": round(a.shift * 12 / STEPS_PER_OCTAVE, 2),
        "tempo": a.tempo,
    }


class Candidate(NamedTuple):
    """A vote bin worth verifying: pitch position, centre offset, votes, earliest voter frame."""

    shift: int
    centre: int
    votes: int
    voter: int


def candidates(seg: _Segment, query: U32, flips: bool = True) -> list[Candidate]:
    """The ``_CANDIDATES`` vote bins with the most votes (ties: lower shift, then offset).

    Every posting of a probe key (a query key at some pitch position, or, with ``flips``, that
    key with one bit flipped) votes for (shift, reference frame - query row). Votes are counted
    in bins of ``_BIN`` frames on two grids staggered by half a bin; a bin's voter is the
    earliest frame that voted for it and tells which reference it lies in. One sort of packed
    64-bit postings does the counting for both grids.
    """
    if len(query) >= 1 << 20:
        raise ValueError("query windows are shorter than 2**20 frames")
    rows = np.flatnonzero(query[:, MAX_SHIFT] != 0)
    if len(rows) == 0 or len(seg.positions) == 0:
        return []
    n_shifts = query.shape[1]
    base = (query[rows] & _KEY_MASK).reshape(-1)  # row-major: (row, shift)
    if flips:
        probes = np.concatenate([base[None, :], base[None, :] ^ _FLIPS[:, None]]).reshape(-1)
    else:
        probes = base
    lo, hi = seg.lookup(probes)
    counts = hi - lo
    hit = np.flatnonzero(counts)
    lo, counts = lo[hit], counts[hit]
    total = int(counts.sum())
    if total == 0:
        return []
    flat = hit % len(base)
    # Per probe: shift in bits 33.., plus a bias keeping offsets positive, minus the query row.
    probe_base = (flat % n_shifts) * (1 << 33) + _BIAS - rows[flat // n_shifts]
    first = np.repeat(lo - (np.cumsum(counts) - counts), counts) + np.arange(total)
    frame = seg.positions[first].astype(np.int64)
    biased = np.repeat(probe_base, counts) + frame  # shift * 2**33 + _BIAS + offset
    half = biased >> 2  # half bins of _BIN // 2 frames
    below = frame - ((half << 2) - ((biased >> 33) << 33) - _BIAS)  # frame - first offset of half
    packed = np.sort((half << 21) | below)
    keys = packed >> 21
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    uniq = keys[starts]
    votes = np.diff(np.r_[starts, len(packed)])
    voter = (packed[starts] & ((1 << 21) - 1)) + (uniq << 2) - ((uniq >> 31) << 33) - _BIAS
    found: dict[tuple[int, int], tuple[int, int]] = {}
    for stagger in (0, 1):
        grid = (uniq + stagger) >> 1  # shift * 2**30 + (_BIAS + offset + 4 * stagger) // 8
        g_starts = np.flatnonzero(np.r_[True, grid[1:] != grid[:-1]])
        g_keys = grid[g_starts]
        g_votes = np.add.reduceat(votes, g_starts)
        g_voter = np.minimum.reduceat(voter, g_starts)
        top = np.lexsort((g_keys, -g_votes))[:_CANDIDATES]
        for k, v, f in zip(
            g_keys[top].tolist(), g_votes[top].tolist(), g_voter[top].tolist(), strict=True
        ):
            s, b = divmod(k, 1 << 30)
            centre = b * _BIN - _BIAS - stagger * (_BIN // 2) + _BIN // 2
            if v > found.get((s, centre), (0, 0))[0]:
                found[(s, centre)] = (v, f)
    ranked = sorted(found.items(), key=lambda kv: (-kv[1][0], kv[0]))[:_CANDIDATES]
    return [Candidate(s, c, v, f) for (s, c), (v, f) in ranked]


def _search(seg: _Segment, query: U32) -> list[tuple[int, Alignment]]:
    """(reference index in ``seg``, best alignment) for the references the votes point to.

    Exact key lookups come first; the 25 times dearer one-bit-off lookups run only when the
    best bin they find has fewer than ``_CONFIDENT`` votes (a hard query, or none in the index),
    and then, in a large segment, from every ``_FLIP_STRIDE``-th query row only (neighbouring
    rows overlap by 60% and vote for the same bins), which cuts their cost by as much.
    """
    cands = candidates(seg, query, flips=False)
    if not cands or cands[0].votes < _CONFIDENT:
        sparse = query
        if len(seg.positions) >= _STRIDE_FROM:
            sparse = query.copy()
            sparse[np.arange(len(query)) % _FLIP_STRIDE != 0] = 0  # silent rows: not looked up
        cands = candidates(seg, sparse, flips=True)
    if not cands:
        return []
    kept: list[Candidate] = []
    for c in cands:  # the staggered grids give overlapping bins: verify each place once
        if c.votes * _KEEP >= cands[0].votes and not any(
            k.shift == c.shift and abs(k.centre - c.centre) <= _BIN // 2 for k in kept
        ):
            kept.append(c)
    cands = kept
    refs = np.searchsorted(seg.starts, [c.voter for c in cands], side="right") - 1
    found: dict[int, Alignment] = {}
    for i, a in zip(refs.tolist(), _verify(seg, query, cands, refs), strict=True):
        if a is not None and (i not in found or a.distance < found[i].distance):
            found[i] = a
    return list(found.items())


@cache
def _plan(frames: int) -> tuple[I64, npt.NDArray[np.float64]]:
    """The rows ``_verify`` scores for a query of ``frames``: reference frame of each query row
    relative to the bin centre, one row per (tempo, offset), and the tempo of each row."""
    rows = np.arange(frames)
    span = _BIN // 2 + _SEARCH
    # Votes come from wherever query and reference agree, often mid-query: widen the search by
    # the drift a tempo factor implies over the query's length.
    drift = int(np.ceil(frames * 0.05)) + 1
    parts, tempos = [], []
    for tempo in TEMPOS:
        extra = drift if tempo != 1.0 else 0
        offsets = np.arange(-span - extra, span + extra + 1)
        parts.append(offsets[:, None] + np.round(rows * tempo).astype(np.int64)[None, :])
        tempos.append(np.full(len(offsets), tempo))
    return np.concatenate(parts), np.concatenate(tempos)


def _verify(seg: _Segment, query: U32, cands: list[Candidate], refs: I64) -> list[Alignment | None]:
    """The best alignment near each candidate's centre over tempo factors and offsets, or None.

    Every (candidate, tempo, offset) triple is one row of a single array, scored at once.
    """
    relative, tempos = _plan(len(query))
    centres = np.array([c.centre for c in cands], dtype=np.int64)
    q = query[:, [c.shift for c in cands]].T  # candidates x query rows
    at = relative[None, :, :] + centres[:, None, None]
    first, end = seg.starts[refs][:, None, None], seg.starts[refs + 1][:, None, None]
    valid = (at >= first) & (at < end) & (q != 0)[:, None, :]
    words = seg.words[np.clip(at, 0, max(len(seg.words) - 1, 0))]
    errors = np.where(valid, np.bitwise_count(words ^ q[:, None, :]), np.uint8(0))
    out: list[Alignment | None] = []
    for k, cand in enumerate(cands):
        scored = _score(errors[k], valid[k])
        if scored is None:
            out.append(None)
            continue
        distance, j, used = scored
        offset = int(centres[k] - first[k, 0, 0] + relative[j, 0])
        out.append(Alignment(distance, offset, used, cand.shift - MAX_SHIFT, float(tempos[j])))
    return out


def _score(
    errors: npt.NDArray[np.uint8], valid: npt.NDArray[np.bool_]
) -> tuple[int, int, int] | None:
    """(distance, best row of ``errors``, its overlapping frames), or None when none overlaps.

    Each row (one candidate offset) is scored on its best window of ``_WINDOW`` frames: the bit
    error rate over the informative frames in it, of which there must be ``_MIN_ROWS``.
    """
    n = errors.shape[1]
    window = min(_WINDOW, n)
    if window == n:  # the usual 10 s query: one window, plain sums
        err = errors.sum(axis=1, dtype=np.int32)[:, None]
        count = valid.sum(axis=1, dtype=np.int32)[:, None]
        total = count[:, 0]
    else:
        zero = np.zeros((errors.shape[0], 1), dtype=np.int32)
        e = np.concatenate([zero, np.cumsum(errors, axis=1, dtype=np.int32)], axis=1)
        c = np.concatenate([zero, np.cumsum(valid, axis=1, dtype=np.int32)], axis=1)
        err = e[:, window:] - e[:, :-window]
        count = c[:, window:] - c[:, :-window]
        total = c[:, -1]
    # A query shorter than _MIN_ROWS informative frames (only from --signal: hashing needs 3 s)
    # must overlap wholly.
    need = min(int(valid.any(axis=0).sum()), max(_MIN_ROWS, int(0.5 * window)))
    if need == 0:
        return None
    ok = count >= need
    if not ok.any():
        return None
    ber = np.where(ok, err / np.maximum(32 * count, 1), 1.0)
    j, w = np.unravel_index(int(np.argmin(ber)), ber.shape)
    return min(100, round(200 * float(ber[j, w]))), int(j), int(total[j])


def best_alignment(query: U32, ref: U32) -> Alignment | None:
    """The best alignment of one fingerprint inside another (for ``distance``), or None.

    The query is searched in the same windows as by the index, so the two agree.
    """
    index = _Segment.build([0], [ref[:, MAX_SHIFT].copy()])
    best: Alignment | None = None
    for start in windows(len(query)):
        for _, a in _search(index, query[start : start + QUERY_WINDOW]):
            if best is None or a.distance < best.distance:
                best = a
    return best
