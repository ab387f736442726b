"""vpdq_regions on low-texture footage: a slow pan over a hazy sea photograph.

Such frames hash with quality near the floor, and a copy at half resolution moves their PDQ
hashes 32-48 bits: vPDQ's 31-bit frame rule loses most of them, and the aligned pass (frames
at the same instant of two aligned videos, within ``ALIGNED_FRAME_THRESHOLD`` bits) finds them.
A different pan over the same photograph stays apart.
"""

from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from tessera.index.frames import FrameIndex, compare_frames
from tessera.media.content import Content
from tessera.signals.vpdq import VpdqParams, hash_video
from tessera.signals.vpdq_regions import (
    REGIONS_SCHEME,
    RegionFrame,
    VpdqRegionsSignal,
    format_regions,
    region_frames,
)
from tests.media.video_synth import encode

P = VpdqParams()
STRICT_ONLY = dataclasses.replace(REGIONS_SCHEME, aligned_threshold=None)  # vPDQ's frame rule
SIZE = (320, 240)
Rgb = npt.NDArray[np.uint8]
# (zoom, x, y) at the first and the last frame of a pan, as fractions of the photograph
PANS = {
    "a": ((0.65, 0.1, 0.2), (0.9, 0.6, 0.5)),
    "b": ((0.6, 0.9, 0.9), (0.85, 0.2, 0.3)),
}


def _pan(photo: Rgb, pan: str, frames: int = 60) -> list[Rgb]:
    """A slow pan and zoom over the photograph, ``frames`` frames of ``SIZE``."""
    (z0, x0, y0), (z1, x1, y1) = PANS[pan]
    h, w = photo.shape[:2]
    out = []
    for i in range(frames):
        t = i / (frames - 1)
        ch = min(h, w * SIZE[1] / SIZE[0]) * (z0 + (z1 - z0) * t)
        cw = ch * SIZE[0] / SIZE[1]
        cx, cy = (w - cw) * (x0 + (x1 - x0) * t), (h - ch) * (y0 + (y1 - y0) * t)
        crop = photo[int(cy) : int(cy + ch), int(cx) : int(cx + cw)]
        out.append(cv2.resize(crop, SIZE, interpolation=cv2.INTER_AREA))
    return out


def _half(rgb: Rgb) -> Rgb:
    return cv2.resize(rgb, (SIZE[0] // 2, SIZE[1] // 2), interpolation=cv2.INTER_AREA)


@cache
def _clip(folder: Path, pan: str, half: bool) -> tuple[RegionFrame, ...]:
    """The vpdq_regions frames of a pan over the hazy sea photograph, or of its half-size copy."""
    photo = Image.open(folder / "pdq-reference" / "labelme-subset" / "q0122.jpg")
    frames = _pan(np.asarray(photo.convert("RGB")), pan)
    if half:
        frames = [_half(f) for f in frames]
    data = encode(len(frames), lambda i: np.ascontiguousarray(frames[i]), fps=30)
    return tuple(hash_video(Content.from_bytes(data), P, regions=True).regions)


def _distance(
    folder: Path, query: tuple[str, bool], reference: tuple[str, bool], strict_only: bool = False
) -> tuple[int, dict[str, Any] | None]:
    """compare_frames between two clips (pan, half) with or without the aligned pass."""
    frames = [region_frames(list(_clip(folder, *clip))) for clip in (query, reference)]
    return compare_frames(*frames, P, STRICT_ONLY if strict_only else REGIONS_SCHEME)


def test_a_half_resolution_copy_of_a_hazy_pan_matches_through_the_aligned_pass(
    shared_data: Path,
) -> None:
    for pan in PANS:
        copy, source = (pan, True), (pan, False)
        assert _distance(shared_data, copy, source, strict_only=True)[0] > 20  # vPDQ's rule: missed
        distance, detail = _distance(shared_data, copy, source)
        assert distance <= VpdqRegionsSignal.default_threshold
        assert detail is not None and detail["query_end_s"] - detail["query_start_s"] > 1.4


def test_the_index_finds_the_copy_and_another_pan_over_the_same_photo_stays_apart(
    shared_data: Path,
) -> None:
    assert _distance(shared_data, ("a", False), ("b", False))[0] == 100
    assert _distance(shared_data, ("a", True), ("b", False))[0] == 100
    index = FrameIndex(P, REGIONS_SCHEME)
    index.add(
        (i, format_regions(_clip(shared_data, pan, False))) for i, pan in [(1, "a"), (2, "b")]
    )
    query = format_regions(_clip(shared_data, "b", True))
    hits = index.query(query, VpdqRegionsSignal.max_threshold)
    assert [h.id for h in hits] == [2]
    assert hits[0].distance <= VpdqRegionsSignal.default_threshold
