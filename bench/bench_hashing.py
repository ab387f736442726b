"""PDQ hashing throughput: Tessera against python-threatexchange, on real photos of about 1 MP.

Flow:

1. build the image set once into bench/.cache/pdq-1mp/: the real photos in
   ../shared/data/pdq-reference (four 12 MP phone photos of a desk and the bridge photo, both
   edited and not) cropped and resized to about one megapixel, saved as JPEG quality 90, the way
   a platform's uploads usually arrive. No photo of that size ships with the installed packages;
2. pin the process, every thread of it, to one CPU, so both hashers run on one core;
3. time end-to-end hashing (read the file, decode, hash) of the whole set, repeated, for
   ``tessera.signals.pdq.pdq_hash`` and for python-threatexchange's ``pdq_from_file`` (Pillow's
   full decode, then Meta's C++ code through ``pdqhash``);
4. measure conformance in the same run: the mean distance from the hashes Meta published in
   reference.csv, for both hashers.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from statistics import mean

from PIL import Image

from bench.common import CACHE_DIR, SHARED_DATA, Timing, console, md_table, repeat
from tessera.media.content import Content
from tessera.signals.pdq import DECODE_SIDE, PdqSignal, pdq_hash

REFERENCE = SHARED_DATA / "pdq-reference"
IMAGE_DIR = CACHE_DIR / "pdq-1mp"
TARGET_PIXELS = 1_000_000
QUALITY = 90
# (source photo, crop box as fractions of its width and height, aspect of the output)
SOURCES = [
    (f"exif-rotn/exif-rotn-{n}.jpg", box, aspect)
    for n in (1, 3, 6, 8)
    for box, aspect in (
        ((0.0, 0.0, 1.0, 1.0), 4 / 3),
        ((0.1, 0.05, 0.7, 0.85), 3 / 4),
        ((0.3, 0.2, 1.0, 0.9), 1.0),
    )
] + [
    (f"bridge-mods/{name}.jpg", (0.0, 0.0, 1.0, 1.0), 1600 / 1004)
    for name in ("aaa-orig", "high-contrast", "sharpen-a-little", "blur-a-little")
]


def build_image_set() -> list[Path]:
    """The ~1 MP JPEGs, made once from the reference photos."""
    IMAGE_DIR.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, (source, box, aspect) in enumerate(SOURCES):
        path = IMAGE_DIR / f"{i:02d}-{Path(source).stem}.jpg"
        if not path.exists():
            with Image.open(REFERENCE / source) as photo:
                w, h = photo.size
                crop = photo.convert("RGB").crop(
                    (int(box[0] * w), int(box[1] * h), int(box[2] * w), int(box[3] * h))
                )
            height = round((TARGET_PIXELS / aspect) ** 0.5)
            size = (round(height * aspect), height)
            crop.resize(size, Image.Resampling.LANCZOS).save(path, "JPEG", quality=QUALITY)
        paths.append(path)
    return paths


@contextmanager
def one_cpu() -> Iterator[int]:
    """Pin every thread of this process to one CPU for the duration."""
    tasks = (
        [int(t) for t in os.listdir("/proc/self/task")] if Path("/proc/self/task").is_dir() else [0]
    )
    before = os.sched_getaffinity(0)
    cpu = max(before)
    for tid in tasks:
        try:
            os.sched_setaffinity(tid, {cpu})
        except OSError:
            pass  # a thread that ended meanwhile
    try:
        yield cpu
    finally:
        for tid in tasks:
            try:
                os.sched_setaffinity(tid, before)
            except OSError:
                pass


def pytx_hasher() -> tuple[Callable[[Path], str], str] | None:
    """python-threatexchange's file hasher and its version, if it is installed."""
    try:
        from importlib.metadata import version

        from threatexchange.signal_type.pdq.pdq_hasher import pdq_from_file
    except ImportError:
        return None
    return (lambda path: str(pdq_from_file(path)[0])), version("threatexchange")


def pixels(path: Path) -> int:
    with Image.open(path) as image:
        return image.width * image.height


def ours(path: Path) -> str:
    return pdq_hash(Content.from_path(path)).hex


def conformance(hasher: Callable[[Path], str]) -> float:
    """Mean distance, in bits, from the hashes published in reference.csv."""
    with (REFERENCE / "reference.csv").open() as f:
        rows = list(csv.DictReader(f))
    return mean(PdqSignal.distance(hasher(REFERENCE / r["file"]), r["pdq"]) for r in rows)


def throughput(timing: Timing, count: int) -> str:
    return f"{count / timing.median:.0f} ({count / timing.high:.0f}–{count / timing.low:.0f})"


def run() -> str:
    """The Markdown section for bench/RESULTS.md."""
    title = "## PDQ hashing: decode + hash of ~1 MP JPEGs, one core\n\n"
    if not (REFERENCE / "reference.csv").is_file():
        return title + f"Skipped: the reference photos are not at {REFERENCE}.\n"
    peer = pytx_hasher()
    paths = build_image_set()
    for path in paths:  # warm the page cache and Tessera's per-size filter weights
        ours(path)
    mean_kb = mean(p.stat().st_size for p in paths) / 1024
    mean_mp = mean(pixels(p) for p in paths) / 1e6
    with one_cpu() as cpu:
        console.print(f"timing Tessera on {len(paths)} images (CPU {cpu})")
        tessera_time = repeat(lambda: [ours(p) for p in paths], repeats=9)
        peer_time = None
        if peer is not None:
            console.print("timing python-threatexchange")
            peer[0](paths[0])
            peer_time = repeat(lambda: [peer[0](p) for p in paths], repeats=5)
    rows = [
        [
            "Tessera (`pdq_hash`)",
            throughput(tessera_time, len(paths)),
            f"{tessera_time.median / len(paths) * 1e3:.2f}",
            f"{conformance(ours):.2f}",
        ]
    ]
    ratio = ""
    if peer is not None and peer_time is not None:
        rows.append(
            [
                f"python-threatexchange {peer[1]} (`pdq_from_file`)",
                throughput(peer_time, len(paths)),
                f"{peer_time.median / len(paths) * 1e3:.2f}",
                f"{conformance(peer[0]):.2f}",
            ]
        )
        ratio = (
            f"**Ratio: {peer_time.median / tessera_time.median:.1f}x** (median over median).\n\n"
        )
    header = ["hasher", "images/s, median (min–max)", "ms per image", "mean bits from reference"]
    return (
        title
        + f"{len(paths)} real photos from ../shared/data/pdq-reference (4 phone photos of 12 MP, "
        f"cropped and resized, and 4 edits of a 1.6 MP photo, resized), mean {mean_mp:.2f} MP, "
        f"JPEG quality {QUALITY}, mean {mean_kb:.0f} KB; built into bench/.cache/pdq-1mp/. "
        f"Each pass reads, decodes and hashes every file; {tessera_time.repeats} passes for "
        f"Tessera, {peer_time.repeats if peer_time else 0} for the peer, one pinned CPU. "
        f"Tessera decodes JPEGs by DCT scaling to at least {DECODE_SIDE} samples a side. "
        "The last column is the mean Hamming distance from Meta's published hashes of the 20 "
        "reference files (reference.csv).\n\n" + ratio + md_table(header, rows) + "\n"
    )
