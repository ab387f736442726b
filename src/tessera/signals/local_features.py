"""Local features for ``pdq_orb``: border trimming, ORB keypoints, and geometric verification.

Extraction flow for one image's luma (``extract``):

1. ``trim_box`` finds the content rectangle: it strips outer rows and columns that are flat (a
   letterbox, a pad, a screenshot's window frame) and of one colour with the side's first line,
   never more than ``MAX_TRIM`` of a side, and not at all when less than a quarter would remain;
2. the trimmed luma is resized so its longer side is ``WORK_SIDE`` pixels (the *work frame*, the
   one coordinate system every stored keypoint lives in, whatever the upload's size);
3. ORB finds oriented FAST corners on a small pyramid; the strongest are kept spread over a
   ``GRID`` x ``GRID`` grid (round robin over cells by response) so that every part of the image
   speaks, not only its most textured corner, up to ``MAX_KEYPOINTS``;
4. each keypoint is kept as (x, y) in the work frame and its 256-bit rBRIEF descriptor.

Verification (``verify``) of two feature sets, with nothing but the two signals:

1. mutual nearest neighbours by descriptor Hamming distance, at most ``MAX_DESCRIPTOR_BITS``;
2. RANSAC fits a similarity (rotation, uniform scale, shift) to those correspondences
   (OpenCV's ``estimateAffinePartial2D``, whose RANSAC is seeded the same on every call, so
   the result is deterministic); a scale outside 1/4..4 is refused;
3. *agreement*: once aligned, the places where both images have a keypoint (within the RANSAC
   tolerance) are where their content can be compared; agreement is the share of those whose
   descriptors are inlier correspondences. A copy, cropped, framed or overlaid, agrees at most
   of them; a template sibling agrees only on its layout (header, logo, frame), and its own
   picture and text put co-located corners with different descriptors next to them. Measured
   (bench/bench_images.py) this separates copies from siblings far better than the share of all
   shared-area keypoints that match (*coverage*, reported too), which keypoint selection caps.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np
import numpy.typing as npt

WORK_SIDE = 320
MAX_KEYPOINTS = 256
GRID = 4
MAX_TRIM = 0.45
# A border line is flat when its samples spread less than this (0-255 luma), JPEG noise included.
FLAT_SPREAD = 10.0
SAME_COLOUR = 14.0
MAX_DESCRIPTOR_BITS = 64
MIN_CORRESPONDENCES = 6
# RANSAC reprojection error, in work-frame pixels (1.5% of the work side).
REPROJECTION_PX = 5.0
MIN_SCALE, MAX_SCALE = 0.25, 4.0

_ORB = cv2.ORB.create(
    nfeatures=MAX_KEYPOINTS * 4,
    scaleFactor=1.3,
    nlevels=5,
    edgeThreshold=15,
    patchSize=31,
    fastThreshold=12,
)
_MATCHER = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True)


@dataclass(frozen=True, slots=True)
class Features:
    """Keypoints of one image in its work frame: ``points`` (n, 2) float32, ``descriptors``
    (n, 32) uint8; ``width`` x ``height`` is the work frame's size."""

    width: int
    height: int
    points: npt.NDArray[np.float32]
    descriptors: npt.NDArray[np.uint8]

    def __len__(self) -> int:
        return len(self.points)


class Verification(NamedTuple):
    """What local features say about two images: correspondences, RANSAC inliers, coverage
    (inliers per keypoint in the shared area) and agreement (inliers per co-located keypoint:
    of the places where both images have a corner once aligned, the share whose descriptors
    agree)."""

    correspondences: int
    inliers: int
    coverage: float
    agreement: float
    scale: float

    def as_json(self) -> dict[str, float | int]:
        """The evidence as JSON-ready values (``Match.detail``)."""
        return {
            "correspondences": self.correspondences,
            "inliers": self.inliers,
            "coverage": round(self.coverage, 3),
            "agreement": round(self.agreement, 3),
            "scale": round(self.scale, 3),
        }


NO_EVIDENCE = Verification(0, 0, 0.0, 0.0, 0.0)


def trim_box(luma: npt.NDArray[np.float32]) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) bounds of the content inside flat uniform borders."""
    rows, cols = luma.shape
    top = _flat_run(luma, MAX_TRIM)
    bottom = rows - _flat_run(luma[::-1], MAX_TRIM)
    left = _flat_run(luma.T, MAX_TRIM)
    right = cols - _flat_run(luma.T[::-1], MAX_TRIM)
    if (bottom - top) * (right - left) * 4 < rows * cols or bottom - top < 8 or right - left < 8:
        return 0, rows, 0, cols
    return top, bottom, left, right


def _flat_run(lines: npt.NDArray[np.float32], limit: float) -> int:
    """How many leading lines (rows of ``lines``) are flat and of the first line's colour."""
    most = int(len(lines) * limit)
    if most == 0:
        return 0
    head = lines[:most]
    low, high = np.percentile(head, [2, 98], axis=1)
    colour = float(np.median(head[0]))
    flat = ((high - low) < FLAT_SPREAD) & (np.abs(np.median(head, axis=1) - colour) < SAME_COLOUR)
    not_flat = np.flatnonzero(~flat)
    return most if len(not_flat) == 0 else int(not_flat[0])


def work_image(luma: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    """The luma resized so its longer side is ``WORK_SIDE``, as 8-bit samples."""
    rows, cols = luma.shape
    scale = WORK_SIDE / max(rows, cols)
    size = (max(1, round(cols * scale)), max(1, round(rows * scale)))
    method = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(luma, size, interpolation=method)
    work: npt.NDArray[np.uint8] = np.clip(resized + 0.5, 0, 255).astype(np.uint8)
    return work


def extract(image: npt.NDArray[np.uint8]) -> Features:
    """ORB keypoints of a work image, spread over a grid, strongest first within each cell."""
    keypoints = _ORB.detect(image, None)
    chosen = _spread(keypoints, image.shape[1], image.shape[0])
    return _describe(image, chosen)


def _describe(image: npt.NDArray[np.uint8], keypoints: list[cv2.KeyPoint]) -> Features:
    height, width = image.shape
    if not keypoints:
        return _empty(width, height)
    kept, descriptors = _ORB.compute(image, keypoints)
    if descriptors is None or not kept:
        return _empty(width, height)
    points = np.array([k.pt for k in kept], dtype=np.float32).reshape(-1, 2)
    return Features(width, height, points, descriptors.astype(np.uint8))


def _empty(width: int, height: int) -> Features:
    return Features(width, height, np.empty((0, 2), np.float32), np.empty((0, 32), np.uint8))


def _spread(keypoints: Sequence[cv2.KeyPoint], width: int, height: int) -> list[cv2.KeyPoint]:
    """Up to MAX_KEYPOINTS keypoints, taken round robin over grid cells by response."""
    cells: dict[int, list[cv2.KeyPoint]] = {}
    for k in keypoints:
        cx = min(GRID - 1, int(k.pt[0] * GRID / width))
        cy = min(GRID - 1, int(k.pt[1] * GRID / height))
        cells.setdefault(cy * GRID + cx, []).append(k)
    queues = [sorted(c, key=lambda k: (-k.response, k.pt)) for _, c in sorted(cells.items())]
    chosen: list[cv2.KeyPoint] = []
    depth = 0
    while len(chosen) < MAX_KEYPOINTS and any(depth < len(q) for q in queues):
        chosen += [q[depth] for q in queues if depth < len(q)][: MAX_KEYPOINTS - len(chosen)]
        depth += 1
    return chosen


def verify(a: Features, b: Features) -> Verification:
    """How far two images' local features agree under one similarity transform."""
    if len(a) < MIN_CORRESPONDENCES or len(b) < MIN_CORRESPONDENCES:
        return NO_EVIDENCE
    pairs = [
        m for m in _MATCHER.match(a.descriptors, b.descriptors) if m.distance <= MAX_DESCRIPTOR_BITS
    ]
    if len(pairs) < MIN_CORRESPONDENCES:
        return Verification(len(pairs), 0, 0.0, 0.0, 0.0)
    src = a.points[[m.queryIdx for m in pairs]]
    dst = b.points[[m.trainIdx for m in pairs]]
    found, mask = cv2.estimateAffinePartial2D(
        src,
        dst,
        method=cv2.RANSAC,
        ransacReprojThreshold=REPROJECTION_PX,
        maxIters=400,
        confidence=0.995,
        refineIters=0,
    )
    if found is None or mask is None:
        return Verification(len(pairs), 0, 0.0, 0.0, 0.0)
    transform = np.asarray(found, dtype=np.float64)
    scale = float(np.sqrt(abs(np.linalg.det(transform[:, :2]))))
    if not MIN_SCALE <= scale <= MAX_SCALE:
        return Verification(len(pairs), 0, 0.0, 0.0, scale)
    inlier = mask.ravel().astype(bool)
    inliers = int(inlier.sum())
    inside_b = _inside(_apply(transform, a.points), b)
    inside_a = _inside(
        _apply(np.asarray(cv2.invertAffineTransform(transform), np.float64), b.points), a
    )
    shared = max(1, min(int(inside_a.sum()), int(inside_b.sum())))
    moved = _apply(transform, a.points)
    gaps = np.sqrt(((moved[:, None, :] - b.points[None, :, :]) ** 2).sum(axis=2))
    near = gaps <= REPROJECTION_PX
    colocated = min(int(near.any(axis=1).sum()), int(near.any(axis=0).sum()))
    agreement = min(1.0, inliers / max(1, colocated))
    return Verification(len(pairs), inliers, min(1.0, inliers / shared), agreement, scale)


def _apply(
    transform: npt.NDArray[np.float64], points: npt.NDArray[np.float32]
) -> npt.NDArray[np.float64]:
    moved: npt.NDArray[np.float64] = points @ transform[:, :2].T + transform[:, 2]
    return moved


def _inside(points: npt.NDArray[np.float64], frame: Features) -> npt.NDArray[np.bool_]:
    x, y = points[:, 0], points[:, 1]
    inside: npt.NDArray[np.bool_] = (x >= 0) & (x < frame.width) & (y >= 0) & (y < frame.height)
    return inside
