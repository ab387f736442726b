"""Video matching: Tessera's ``vpdq`` against Meta's vPDQ (the ``vpdq`` package), side by side.

Flow (all media made offline with PyAV, fixed seeds; the shared sample clips when present):

1. references: ``SYNTH_REFS`` generated clips (three shots of photographs that scikit-image and
   ../shared/data ship, each shot a slow pan and zoom, 10 s at 30 fps, 320x240) and the shared
   originals ``chair-orig-22-sd-bar`` and ``pattern-hd-no-bar``;
2. queries: every reference under each of the ``TRANSFORMS`` (re-encoded by PyAV, libx264), the
   shared edits of the originals (``SHARED_EDITS``), and unrelated clips (``SYNTH_UNRELATED``
   more generated clips from other photographs, and ``doorknob-hd-no-bar``) that match nothing;
3. both methods hash every clip: vPDQ through ``vpdq.computeHash`` at its default 1 frame a
   second, matched with python-threatexchange's rule (frames within 31 bits, quality >= 50,
   query-% >= 80); Tessera through ``hash_video`` with its default settings, matched by
   ``FrameIndex`` at the default threshold, again with the mirrored query as
   ``tessera match --dihedral`` sends it, and at the loosest threshold a bank may set; and
   through ``vpdq_regions`` (the same frames also hashed as centre crops and regions, from the
   same decode), matched by its ``FrameIndex`` at the default threshold with the mirrored query,
   and once more without its aligned pass (vPDQ's 31-bit frame rule alone) to show what the
   pass adds;
4. recall per transform (a copy is found when its own reference matches) and false positives
   (any other reference matching a copy, any reference matching an unrelated clip); hashes held
   per reference and query time per method;
5. screen, then confirm: every query is also hashed sparsely (``hash_video(query=True)``, a
   frame at least every ``query_gap`` seconds, ``TESSERA_BENCH_VIDEO_QUERY_GAP`` overrides);
   which references the sparse hash has anything in common with, and what the dense query finds
   among those alone (the scanning path: only flagged references are confirmed densely);
6. hashing speed on the same files, one thread each: media seconds per CPU second, dense (as
   references are hashed) and sparse (a query's screen), beside FFmpeg decoding every frame and
   doing nothing with it (the decoder set up as the dense hash sets it up): the most any hash
   that looks at every frame can reach (``TESSERA_BENCH_VIDEO_SPEED=0`` skips it, to check recall
   alone).
"""

from __future__ import annotations

import io
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

import av
import cv2
import numpy as np
import numpy.typing as npt

from bench.common import SHARED_DATA, console, md_table, progress
from tessera.index.frames import FrameIndex
from tessera.media.content import Content, MediaLimits
from tessera.media.video import open_decoder
from tessera.signals.vpdq import (
    VideoHashes,
    VpdqFeature,
    VpdqParams,
    VpdqSignal,
    format_features,
    hash_video,
)
from tessera.signals.vpdq_regions import (
    ALIGNED_FRAME_THRESHOLD,
    REGIONS_SCHEME,
    RegionFrame,
    format_regions,
)

Rgb = npt.NDArray[np.uint8]
SYNTH_REFS = int(os.environ.get("TESSERA_BENCH_VIDEO_REFS", "8"))
SYNTH_UNRELATED = int(os.environ.get("TESSERA_BENCH_VIDEO_UNRELATED", "6"))
TIME_HASHING = os.environ.get("TESSERA_BENCH_VIDEO_SPEED", "1") != "0"
FPS = 30
SECONDS = 10
SIZE = (320, 240)
VIDEOS = SHARED_DATA / "videos"
SHARED_REFS = ("chair-orig-22-sd-bar", "pattern-hd-no-bar")
SHARED_EDITS = {  # edit -> (its original, what it is)
    "chair-22-sd-grey-bar": ("chair-orig-22-sd-bar", "greyscale"),
    "chair-22-sd-sepia-bar": ("chair-orig-22-sd-bar", "sepia"),
    "chair-22-with-small-logo-bar": ("chair-orig-22-sd-bar", "small logo"),
    "chair-22-with-large-logo-bar": ("chair-orig-22-sd-bar", "large logo"),
    "chair-20-sd-bar": ("chair-orig-22-sd-bar", "the same footage from 2.0 s"),
    "chair-19-sd-bar": ("chair-orig-22-sd-bar", "the same footage from 3.7 s"),
    "pattern-sd-grey-bar": ("pattern-hd-no-bar", "greyscale, SD, bars"),
    "pattern-sd-with-small-logo-bar": ("pattern-hd-no-bar", "small logo, SD, bars"),
    "pattern-sd-with-large-logo-bar": ("pattern-hd-no-bar", "large logo, SD, bars"),
    "pattern-longer-no-bar": ("pattern-hd-no-bar", "a longer take"),
}
SHARED_UNRELATED = ("doorknob-hd-no-bar",)
# python-threatexchange's vPDQ rule
VPDQ_BITS, VPDQ_QUALITY, VPDQ_QUERY_PCT = 31, 50, 80.0


# 1. Generated clips -------------------------------------------------------------------------


def _photos() -> list[Rgb]:
    from bench.image_set import references

    return [np.asarray(im.convert("RGB")) for _, im in references()]


def _shot(photo: Rgb, frames: int, seed: int) -> Iterator[Rgb]:
    """A slow pan and zoom over a photograph (a camera moving over a still)."""
    rng = np.random.default_rng(seed)
    h, w = photo.shape[:2]
    aspect = SIZE[0] / SIZE[1]
    z0, z1 = rng.uniform(0.55, 0.75), rng.uniform(0.8, 1.0)
    (x0, y0), (x1, y1) = rng.uniform(0, 1, 2), rng.uniform(0, 1, 2)
    for i in range(frames):
        t = i / max(1, frames - 1)
        zoom = z0 + (z1 - z0) * t
        ch = min(h, w / aspect) * zoom
        cw = ch * aspect
        cx = (w - cw) * (x0 + (x1 - x0) * t)
        cy = (h - ch) * (y0 + (y1 - y0) * t)
        crop = photo[int(cy) : int(cy + ch), int(cx) : int(cx + cw)]
        yield cv2.resize(crop, SIZE, interpolation=cv2.INTER_AREA)


def _synthetic(photos: list[Rgb], seed: int) -> Iterator[Rgb]:
    """Three shots of three photographs, ``SECONDS`` long in all."""
    per_shot = FPS * SECONDS // 3
    for k, photo in enumerate(photos):
        yield from _shot(photo, per_shot + (FPS * SECONDS % 3 if k == 2 else 0), seed * 10 + k)


def _encode(frames: Iterator[Rgb], fps: float, bit_rate: int | None = None) -> bytes:
    """H.264 in MP4 (even frame sizes, as yuv420p needs)."""
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        stream = None
        for rgb in frames:
            h, w = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
            if stream is None:
                stream = out.add_stream("libx264", rate=round(fps))
                stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
                # Reproducible copies: x264's macroblock tree gives a process's first encode
                # other bytes than the same encode later, and its threads vary from run to run
                # (measured); without both, the same frames give the same bytes every time.
                stream.options = {"preset": "veryfast", "x264-params": "mbtree=0"}
                stream.codec_context.thread_count = 1
                if bit_rate:
                    stream.bit_rate = bit_rate
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:h, :w]), format="rgb24")
            out.mux(stream.encode(frame))
        if stream is not None:
            out.mux(stream.encode(None))
    return buf.getvalue()


# 2. Transforms (frames of the decoded reference -> frames of the copy) ----------------------


@dataclass(frozen=True)
class Transform:
    frame: Callable[[Rgb], Rgb] = lambda rgb: rgb
    keep: Callable[[float, float], bool] = lambda _t, _duration: True  # (time, duration)
    fps: float | None = None  # output rate when frames are dropped
    bits_per_pixel: float | None = None


def _grey(rgb: Rgb) -> Rgb:
    return cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)


def _half(rgb: Rgb) -> Rgb:
    h, w = rgb.shape[:2]
    return cv2.resize(rgb, (w // 2, h // 2), interpolation=cv2.INTER_AREA)


def _letterbox(rgb: Rgb) -> Rgb:
    """Bars above and below making up 20% of a taller frame (the picture is untouched)."""
    h, w = rgb.shape[:2]
    bar = round(h / 0.8 * 0.1)
    return cv2.copyMakeBorder(rgb, bar, bar, 0, 0, cv2.BORDER_CONSTANT, value=(0, 0, 0))


def _crop(rgb: Rgb) -> Rgb:
    """10% of the width and of the height cut away, half on each side."""
    h, w = rgb.shape[:2]
    dy, dx = round(h * 0.05), round(w * 0.05)
    return np.ascontiguousarray(rgb[dy : h - dy, dx : w - dx])


def _logo(rgb: Rgb) -> Rgb:
    """An opaque channel logo, a fifth of the width, in the top-right corner."""
    out = rgb.copy()
    h, w = out.shape[:2]
    side = w // 5
    x, y = w - side - w // 40, h // 40
    cv2.rectangle(out, (x, y), (x + side, y + side // 2), (200, 30, 30), -1)
    cv2.circle(out, (x + side // 4, y + side // 4), side // 6, (250, 250, 250), -1)
    cv2.putText(
        out, "TV", (x + side // 2, y + side // 3), cv2.FONT_HERSHEY_SIMPLEX, side / 80, (255,) * 3
    )
    return out


def _retime(t: float, _duration: float) -> bool:
    return math.floor(t * 10 + 1e-6) != math.floor((t - 1 / FPS) * 10 + 1e-6) or t == 0


TRANSFORMS: dict[str, Transform] = {
    "low bitrate": Transform(bits_per_pixel=0.02),
    "half resolution": Transform(frame=_half),
    "greyscale": Transform(frame=_grey),
    "middle 50%": Transform(keep=lambda t, d: d / 4 <= t < 3 * d / 4),
    "10 fps": Transform(keep=_retime, fps=10),
    "letterbox 20%": Transform(frame=_letterbox),
    "crop 10%": Transform(frame=_crop),
    "horizontal flip": Transform(frame=lambda rgb: np.ascontiguousarray(rgb[:, ::-1])),
    "logo overlay": Transform(frame=_logo),
}


def _decoded(data: bytes) -> tuple[list[tuple[float, Rgb]], float]:
    """(time, RGB) of every frame, and the stream's frame rate."""
    with av.open(io.BytesIO(data)) as src:
        stream = src.streams.video[0]
        rate = float(stream.average_rate or FPS)
        frames = [(float(f.time or 0.0), f.to_ndarray(format="rgb24")) for f in src.decode(stream)]
    return frames, rate


def apply(transform: Transform, frames: list[tuple[float, Rgb]], rate: float) -> bytes:
    """The copy of a decoded reference that ``transform`` makes, as an MP4."""
    duration = frames[-1][0] + 1 / rate
    kept = [transform.frame(rgb) for t, rgb in frames if transform.keep(t, duration)]
    bit_rate = None
    if transform.bits_per_pixel is not None:
        h, w = kept[0].shape[:2]
        bit_rate = int(transform.bits_per_pixel * w * h * rate)
    return _encode(iter(kept), transform.fps or rate, bit_rate)


# 3. The two methods -------------------------------------------------------------------------


@dataclass
class Hashed:
    vpdq: list[VpdqFeature]  # Meta's vPDQ, 1 frame a second
    ours: list[VpdqFeature]
    mirrored: list[VpdqFeature]
    regions: list[RegionFrame]
    regions_mirrored: list[RegionFrame]
    sparse: VideoHashes | None = None  # a query's sparse hashes (the screening pass)


def _meta_vpdq(data: bytes) -> list[VpdqFeature]:
    import vpdq

    with tempfile.NamedTemporaryFile(suffix=".mp4") as f:
        f.write(data)
        f.flush()
        features = vpdq.computeHash(f.name, seconds_per_hash=1, thread_count=1)
    return [VpdqFeature(x.hex, int(x.quality), float(x.timestamp)) for x in features]


def _hash(data: bytes, params: VpdqParams, *, query: bool = False) -> Hashed:
    """Both methods' hashes; a query also gets Tessera's sparse hashes (``query=True``)."""
    content = Content.from_bytes(data)
    ours = hash_video(content, params, regions=True)
    sparse = hash_video(content, params, regions=True, query=True) if query else None
    return Hashed(_meta_vpdq(data), *ours, sparse=sparse)


def _vpdq_matches(query: list[VpdqFeature], refs: dict[str, list[VpdqFeature]]) -> set[str]:
    """References vPDQ matches: python-threatexchange's brute matcher and default rule."""
    from threatexchange.extensions.vpdq.vpdq_brute_matcher import match_VPDQ_hash_brute
    from threatexchange.extensions.vpdq.vpdq_util import VpdqCompactFeature

    q = [VpdqCompactFeature(*f) for f in query]
    found = set()
    for name, ref in refs.items():
        r = [VpdqCompactFeature(*f) for f in ref]
        result = match_VPDQ_hash_brute(q, r, VPDQ_QUALITY, VPDQ_BITS)
        if result.query_match_percent >= VPDQ_QUERY_PCT:
            found.add(name)
    return found


class _Matchers:
    """Both methods' references, queried by name."""

    def __init__(self, refs: dict[str, Hashed], params: VpdqParams) -> None:
        self.names = list(refs)
        self.meta = {n: h.vpdq for n, h in refs.items()}
        self.index = FrameIndex(params)
        self.index.add((i, format_features(refs[n].ours)) for i, n in enumerate(self.names))
        self.regions = FrameIndex(params, REGIONS_SCHEME)
        self.regions.add((i, format_regions(refs[n].regions)) for i, n in enumerate(self.names))
        self.strict = FrameIndex(params, replace(REGIONS_SCHEME, aligned_threshold=None))
        self.strict.add((i, format_regions(refs[n].regions)) for i, n in enumerate(self.names))
        self.query_seconds: dict[str, list[float]] = {"vpdq": [], "regions": [], "strict": []}

    def ours(self, index: FrameIndex, value: str, kind: str) -> dict[str, int]:
        """Each reference within the loosest threshold a bank may set, with its distance."""
        t0 = time.perf_counter()
        hits = index.query(value, LOOSE)
        self.query_seconds[kind].append(time.perf_counter() - t0)
        return {self.names[h.id]: h.distance for h in hits}

    def results(self, q: Hashed) -> dict[str, set[str]]:
        plain, mirrored, regions, strict = {}, {}, {}, {}
        if q.ours:
            plain = self.ours(self.index, format_features(q.ours), "vpdq")
            mirrored = self.ours(self.index, format_features(q.mirrored), "vpdq")
            values = format_regions(q.regions), format_regions(q.regions_mirrored)
            regions = _nearest(*(self.ours(self.regions, v, "regions") for v in values))
            strict = _nearest(*(self.ours(self.strict, v, "strict") for v in values))
        both = _nearest(plain, mirrored)
        return {
            "vpdq": _vpdq_matches(q.vpdq, self.meta),
            "ours": {n for n, d in plain.items() if d <= DEFAULT},
            "dihedral": {n for n, d in both.items() if d <= DEFAULT},
            "loose": set(both),
            "strict": {n for n, d in strict.items() if d <= DEFAULT},
            "regions": {n for n, d in regions.items() if d <= DEFAULT},
        }

    def screened(self, q: Hashed) -> dict[str, set[str]]:
        """References the query's sparse hashes have anything in common with (distance below
        100), plain or mirrored: the candidates a scanner confirms with a dense hash."""
        if q.sparse is None or not q.sparse.frames:
            return {"vpdq": set(), "regions": set()}
        plain = (q.sparse.frames, q.sparse.mirrored)
        regions = (q.sparse.regions, q.sparse.regions_mirrored)
        return {
            "vpdq": {
                self.names[h.id]
                for value in plain
                for h in self.index.query(format_features(value), SCREEN)
            },
            "regions": {
                self.names[h.id]
                for value in regions
                for h in self.regions.query(format_regions(value), SCREEN)
            },
        }


WHOLE_PCT = 95


class _WholeCopies:
    """Both Tessera signals at the strict setting: the references a query is a whole copy of."""

    def __init__(self, refs: dict[str, Hashed], params: VpdqParams) -> None:
        strict = replace(
            params, min_query_pct=WHOLE_PCT, min_compared_pct=WHOLE_PCT, min_span_pct=WHOLE_PCT
        )
        self.names = list(refs)
        self.plain = FrameIndex(strict)
        self.plain.add((i, format_features(refs[n].ours)) for i, n in enumerate(self.names))
        self.regions = FrameIndex(strict, REGIONS_SCHEME)
        self.regions.add((i, format_regions(refs[n].regions)) for i, n in enumerate(self.names))

    def found(self, q: Hashed) -> tuple[set[str], set[str]]:
        """The references found by ``vpdq`` and by ``vpdq_regions``, plain or mirrored."""
        plain = [format_features(q.ours), format_features(q.mirrored)]
        regions = [format_regions(q.regions), format_regions(q.regions_mirrored)]
        return (
            {self.names[h.id] for v in plain for h in self.plain.query(v, DEFAULT)},
            {self.names[h.id] for v in regions for h in self.regions.query(v, DEFAULT)},
        )


def _nearest(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    """Each reference in either answer, at the nearer of its distances."""
    return {n: min(a.get(n, 100), b.get(n, 100)) for n in a.keys() | b.keys()}


DEFAULT = VpdqSignal.default_threshold
LOOSE = VpdqSignal.max_threshold
SCREEN = 99  # anything in common: at least one frame pair within the frame threshold
SCREENED_BY = {"ours": "vpdq", "dihedral": "vpdq", "loose": "vpdq"}  # others: "regions"
METHODS = {
    "vpdq": "vPDQ (1 fps, pytx rule)",
    "ours": f"Tessera vpdq ({DEFAULT})",
    "dihedral": f"Tessera --dihedral ({DEFAULT})",
    "loose": f"Tessera --dihedral ({LOOSE})",
    "strict": f"Tessera vpdq_regions --dihedral ({DEFAULT}), no aligned pass",
    "regions": f"Tessera vpdq_regions --dihedral ({DEFAULT})",
}


# 4-5. Run -----------------------------------------------------------------------------------


def _clips() -> tuple[dict[str, bytes], dict[str, bytes]]:
    """(references, unrelated clips) by name."""
    photos = _photos()
    rng = np.random.default_rng(7)
    order = rng.permutation(len(photos))
    groups = [order[i : i + 3] for i in range(0, len(order) - 2, 3)]
    needed = SYNTH_REFS + SYNTH_UNRELATED
    groups = [groups[i % len(groups)] for i in range(needed)]  # reuse photos only if short
    refs: dict[str, bytes] = {}
    unrelated: dict[str, bytes] = {}
    with progress() as bars:
        for i in bars.track(range(needed), description="generating clips"):
            group = [photos[j] for j in groups[i]]
            data = _encode(_synthetic(group, seed=i), FPS)
            (refs if i < SYNTH_REFS else unrelated)[f"synthetic-{i}"] = data
    if VIDEOS.is_dir():
        for name in SHARED_REFS:
            refs[name] = (VIDEOS / f"{name}.mp4").read_bytes()
        for name in SHARED_UNRELATED:
            unrelated[name] = (VIDEOS / f"{name}.mp4").read_bytes()
    else:
        console.print(f"[yellow]{VIDEOS} absent: generated clips only")
    return refs, unrelated


def _decode_only(data: bytes) -> int:
    """Decode every frame of the first video stream and drop it (what a dense hash must at
    least do); the number of frames."""
    count = 0
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        open_decoder(stream, MediaLimits().max_video_pixels, fast=True)
        for _ in container.decode(stream):
            count += 1
    return count


def _speed(files: dict[str, bytes], params: VpdqParams, repeats: int = 3) -> list[list[str]]:
    """Media seconds hashed per CPU second, per file, for both methods and the decode alone
    (median over repeats)."""
    rows = []
    ratios: list[float] = []
    sparse_ratios: list[float] = []
    floor_ratios: list[float] = []
    with progress() as bars:
        task = bars.add_task("timing", total=len(files) * repeats)
        for name, data in files.items():
            with av.open(io.BytesIO(data)) as c:
                s = c.streams.video[0]
                seconds = float(s.duration * s.time_base) if s.duration else 0.0
            theirs, ours, both, sparse, decode = [], [], [], [], []
            for _ in range(repeats):
                t0 = time.process_time()
                _decode_only(data)
                decode.append(seconds / (time.process_time() - t0))
                t0 = time.process_time()
                _meta_vpdq(data)
                theirs.append(seconds / (time.process_time() - t0))
                t0 = time.process_time()
                hash_video(Content.from_bytes(data), params)
                ours.append(seconds / (time.process_time() - t0))
                t0 = time.process_time()
                hash_video(Content.from_bytes(data), params, regions=True)
                both.append(seconds / (time.process_time() - t0))
                t0 = time.process_time()
                hash_video(Content.from_bytes(data), params, regions=True, query=True)
                sparse.append(seconds / (time.process_time() - t0))
                bars.advance(task)
            ratios.append(statistics.median(ours) / statistics.median(theirs))
            sparse_ratios.append(statistics.median(sparse) / statistics.median(theirs))
            floor_ratios.append(statistics.median(ours) / statistics.median(decode))
            rows.append(
                [
                    name,
                    f"{seconds:.1f} s",
                    _spread(decode),
                    _spread(theirs),
                    _spread(ours),
                    _spread(both),
                    _spread(sparse),
                ]
            )
    rows.append(
        [
            "ratio Tessera / vPDQ (median)",
            "",
            "",
            "",
            f"{statistics.median(ratios):.2f}x",
            "",
            f"{statistics.median(sparse_ratios):.2f}x",
        ]
    )
    rows.append(
        [
            "ratio Tessera vpdq / decode alone (median)",
            "",
            "",
            "",
            f"{statistics.median(floor_ratios):.2f}x",
            "",
            "",
        ]
    )
    return rows


def _spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):.0f}x ({min(xs):.0f}–{max(xs):.0f})"


@dataclass
class _Cascade:
    """Screen then confirm: what the sparse screening flags, and what confirming only flagged
    references finds (per Tessera method, against the dense query's own answer)."""

    flagged_true: dict[str, int] = field(default_factory=lambda: {"vpdq": 0, "regions": 0})
    flagged_other: dict[str, int] = field(default_factory=lambda: {"vpdq": 0, "regions": 0})
    true_pairs: int = 0
    other_pairs: int = 0
    found: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METHODS, 0))
    confirmed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(METHODS, 0))

    def count(
        self, own: str | None, results: dict[str, set[str]], screened: dict[str, set[str]]
    ) -> None:
        """One query: ``own`` is its reference (None for an unrelated clip)."""
        self.true_pairs += own is not None
        for kind, flagged in screened.items():
            self.flagged_true[kind] += own in flagged
            self.flagged_other[kind] += len(flagged - {own})
        for m, hits in results.items():
            if m == "vpdq" or own is None:
                continue
            self.found[m] += own in hits
            self.confirmed[m] += own in hits and own in screened[SCREENED_BY.get(m, "regions")]

    def rows(self, n_refs: int) -> list[list[str]]:
        """One row per Tessera method: found, and found when only flagged ones are confirmed."""
        self.other_pairs = self.true_pairs * (n_refs - 1)
        return [
            [
                METHODS[m],
                f"{self.found[m]} / {self.true_pairs}",
                f"{self.confirmed[m]} / {self.true_pairs}",
            ]
            for m in METHODS
            if m != "vpdq"
        ]


def run() -> str:
    """Generate, hash, match and time; returns the Markdown section."""
    gap = os.environ.get("TESSERA_BENCH_VIDEO_QUERY_GAP")
    params = VpdqParams() if gap is None else VpdqParams(query_gap=float(gap))
    refs, unrelated = _clips()
    hashed: dict[str, Hashed] = {}
    copies: dict[tuple[str, str], Hashed] = {}
    with progress() as bars:
        for name in bars.track(refs, description="hashing references"):
            hashed[name] = _hash(refs[name], params)
        jobs = [(t, r) for t in TRANSFORMS for r in refs]
        for t, r in bars.track(jobs, description="transforming and hashing copies"):
            frames, rate = _decoded(refs[r])
            copies[(t, r)] = _hash(apply(TRANSFORMS[t], frames, rate), params, query=True)
        others = {n: _hash(d, params, query=True) for n, d in unrelated.items()}
        edits = {
            n: _hash((VIDEOS / f"{n}.mp4").read_bytes(), params, query=True)
            for n in bars.track(
                [n for n in SHARED_EDITS if VIDEOS.is_dir()], description="hashing shared edits"
            )
        }
    matchers = _Matchers(hashed, params)
    found = {(t, m): 0 for t in TRANSFORMS for m in METHODS}
    false = dict.fromkeys(METHODS, 0)
    cascade = _Cascade()
    for (t, r), q in copies.items():
        results = matchers.results(q)
        cascade.count(r, results, matchers.screened(q))
        for m, hits in results.items():
            found[(t, m)] += r in hits
            false[m] += len(hits - {r})
    unrelated_false = dict.fromkeys(METHODS, 0)
    for q in others.values():
        results = matchers.results(q)
        cascade.count(None, results, matchers.screened(q))
        for m, hits in results.items():
            unrelated_false[m] += len(hits)
    edit_rows = []
    whole = _WholeCopies(hashed, params)
    for clip, q in edits.items():
        original, what = SHARED_EDITS[clip]
        results = matchers.results(q)
        cascade.count(original, results, matchers.screened(q))
        edit_rows.append(
            [f"`{clip}` ({what})"]
            + ["yes" if original in results[m] else "**no**" for m in METHODS]
            + ["yes" if original in found_ else "no" for found_ in whole.found(q)]
        )
        for m, hits in results.items():
            false[m] += len(hits - {original})
    n = len(refs)
    rows = [[t] + [f"{found[(t, m)] / n:.0%}" for m in METHODS] for t in TRANSFORMS]
    total = len(TRANSFORMS) * n
    rows.append(
        ["**all**"] + [f"**{sum(found[(t, m)] for t in TRANSFORMS) / total:.0%}**" for m in METHODS]
    )
    fp_rows = [
        [
            METHODS[m],
            f"{false[m]} / {(len(copies) + len(edits)) * (n - 1)}",
            f"{unrelated_false[m]} / {len(others) * n}",
        ]
        for m in METHODS
    ]
    speed_files = dict(list(refs.items())[-3:])  # the shared originals and one generated clip
    speed_files.update({k: v for k, v in unrelated.items() if not k.startswith("synthetic")})
    speed = _speed(speed_files, params) if TIME_HASHING else []
    frames_per_ref = statistics.median(len(h.ours) for h in hashed.values())
    frames_per_ref_meta = statistics.median(len(h.vpdq) for h in hashed.values())
    region_hashes = statistics.median(
        sum(q >= params.quality_floor for f in h.regions for q in f.qualities)
        for h in hashed.values()
    )
    query_ms = {k: 1000 * statistics.median(v) for k, v in matchers.query_seconds.items()}
    cascade_rows = cascade.rows(n)
    other_pairs = (len(copies) + len(edits)) * (n - 1) + len(others) * n
    sparse_frames = statistics.median(
        len(q.sparse.frames) for q in [*copies.values(), *edits.values()] if q.sparse
    )
    dense_frames = statistics.median(len(q.ours) for q in [*copies.values(), *edits.values()])
    return "\n\n".join(
        [
            "## Video matching: Tessera vpdq and Meta's vPDQ (bench/bench_video.py)",
            f"{n} references ({SYNTH_REFS} generated clips of {SECONDS} s, pans and zooms over "
            "photographs, and the shared originals "
            + ", ".join(f"`{r}`" for r in SHARED_REFS)
            + f"), each under {len(TRANSFORMS)} transforms re-encoded by PyAV (libx264); "
            f"{len(others)} unrelated clips. vPDQ: the `vpdq` package at 1 frame a second, "
            f"python-threatexchange's rule (frames within {VPDQ_BITS} bits, quality >= "
            f"{VPDQ_QUALITY}, query-% >= {VPDQ_QUERY_PCT:g}). Tessera: default settings "
            f"({params.frames_per_second:g} fps, dedupe {params.dedupe_bits} bits, frames within "
            f"{params.frame_threshold} bits) at the default distance threshold {DEFAULT} (80 % of "
            f"either video matched) and at {LOOSE}, the loosest a bank may set (50 %); "
            "`--dihedral` also sends the mirrored query. Frames kept per reference (median): "
            f"vPDQ {frames_per_ref_meta:g}, Tessera {frames_per_ref:g}; `vpdq_regions` holds "
            f"{len(REGIONS_SCHEME.pairs)} hashes per kept frame, {region_hashes:g} per reference "
            "(median, variants under the quality floor left out). `vpdq_regions` adds an aligned "
            "pass: once frames within "
            f"{params.frame_threshold} bits fix the videos' time offset, frames at the same "
            f"instant also match within {ALIGNED_FRAME_THRESHOLD} bits (the column 'no aligned "
            "pass' leaves it out). One query (median over all "
            f"queries, index of {n} references): vpdq {query_ms['vpdq']:.1f} ms, vpdq_regions "
            f"{query_ms['regions']:.1f} ms (without the aligned pass {query_ms['strict']:.1f} "
            "ms).",
            "Recall per transform (the copy's own reference matches):",
            md_table(["transform"] + list(METHODS.values()), rows),
            "The shared sample edits against their originals; the last two columns at the "
            f"strict setting, whole copies only (`vpdq_min_query_pct`, `vpdq_min_compared_pct` "
            f"and `vpdq_min_span_pct` {WHOLE_PCT}, default threshold, with the mirror): "
            "`chair-19` and `chair-20` are `chair-22` from 3.7 s and 2.0 s, so not whole copies:",
            md_table(
                ["clip", *METHODS.values(), "vpdq, whole copies", "vpdq_regions, whole copies"],
                edit_rows,
            )
            if edit_rows
            else "(absent)",
            "False positives (another reference matching a copy or a shared edit; any reference "
            "matching an unrelated clip):",
            md_table(["method", "wrong references / pairs", "unrelated clips / pairs"], fp_rows),
            "Screen, then confirm (the scanning path: a query is first hashed sparsely, "
            f"a frame at least every {params.query_gap:g} s, from keyframes and the reference "
            "frames before spaced points, against dense references; a reference it has anything "
            "in common with, a frame pair within the frame threshold, is confirmed with the "
            f"dense hash). Frames per query (median): sparse {sparse_frames:g}, dense "
            f"{dense_frames:g}. The sparse screen flagged {cascade.flagged_true['vpdq']} "
            f"(vpdq) and {cascade.flagged_true['regions']} (vpdq_regions) of the "
            f"{cascade.true_pairs} copies and edits' own references, and "
            f"{cascade.flagged_other['vpdq']} (vpdq) and {cascade.flagged_other['regions']} "
            f"(vpdq_regions) of the {other_pairs} other pairs (wrong references and unrelated "
            "clips: each costs a dense hash of the query). Matches found, the dense query's own "
            "against those left after screening:",
            md_table(["method", "dense query", "screened, then dense"], cascade_rows),
            "Hashing speed, one thread each, media seconds per CPU second (median and min–max of "
            "3 runs; measured on a loaded 2-core machine shared with other jobs). References are "
            "hashed densely; a query's screening hash is sparse (the last column, with "
            "vpdq_regions). 'Decode alone' is FFmpeg (PyAV) decoding every frame with the dense "
            "hash's decoder settings (one thread, loop filter skipped) and doing nothing with it: "
            "the ceiling for any hash that looks at every frame, vPDQ's 1 frame a second "
            "included (it decodes every frame to pick one a second):",
            md_table(
                [
                    "clip",
                    "length",
                    "decode alone, every frame",
                    "vPDQ (1 fps)",
                    "Tessera vpdq",
                    "Tessera vpdq + vpdq_regions",
                    "Tessera query screen, sparse",
                ],
                speed,
            )
            if speed
            else "(not measured: TESSERA_BENCH_VIDEO_SPEED=0)",
        ]
    )
