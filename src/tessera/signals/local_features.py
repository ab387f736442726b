"""Local features for ``pdq_orb``: border trimming, ORB keypoints, and geometric verification.

Extraction flow for one image's luma (``extract``):

1. ``trim_box`` finds the content rectangle: it strips outer rows and columns that are flat (a
   letterbox, a pad, a screenshot's window frame) and of one colour with the side's first line,
   never more than ``MAX_TRIM`` of a side, and not at all when less than a quarter would remain;
2. the trimmed luma is resized so its longer side is ``WORK_SIDE`` pixels (the *work frame*, the
   one coordinate system every stored keypoint lives in, whatever the upload's size);
3. ORB finds oriented FAST corners on a small pyramid (again with a lower FAST threshold when a
   soft or small image gives fewer than ``MIN_DETECTED``); the strongest are kept spread over a
   ``GRID`` x ``GRID`` grid (round robin over cells by response) so that every part of the image
   speaks, not only its most textured corner, up to ``MAX_KEYPOINTS``;
4. each keypoint is kept as (x, y) in the work frame and its 256-bit rBRIEF descriptor, in that
   round-robin order, so the first ``KEY_POINTS`` are the strongest of every cell.

Verification (``verify``) of two feature sets, with nothing but the two signals:

1. mutual nearest neighbours by descriptor Hamming distance, at most ``MAX_DESCRIPTOR_BITS``;
2. RANSAC fits a similarity (rotation, uniform scale, shift) to those correspondences
   (OpenCV's ``estimateAffinePartial2D``, whose RANSAC is seeded the same on every call, so
   the result is deterministic); a scale outside 1/4..4 is refused;
3. the *inlier ratio*: the share of the mutual correspondences that RANSAC keeps. A copy,
   cropped, framed or overlaid, keeps most of them (what does not correspond is cut or covered,
   and finds no partner at all); a template sibling aligns on its layout (header, logo, frame),
   but its own picture and text, drawn in the same fonts and shapes, pair corners with look-alike
   descriptors in the wrong places, which RANSAC rejects. Measured on the bench's cards and
   photos (bench/bench_images.py), it separates copies from siblings better than the share of
   co-located keypoints that agree or of shared-area keypoints that match (*coverage*, reported
   as evidence), which fall as a crop or rescale moves corners;
4. the *balanced ratio*: the inlier ratio with each half of the shared area counting equally
   (top and bottom halves, then left and right, each half judged when it holds
   ``MIN_HALF_CORRESPONDENCES``; the lower of the two splits, never above the inlier ratio).
   A layout is often one corner-dense band (a header with a logo and a title): in a sibling it
   keeps nearly all its correspondences and outvotes the half where the picture and text
   differ, whose correspondences are mostly rejected; a copy agrees in both halves. On the
   bench's 3M card pairs, the 9 siblings whose inlier ratio reached a copy's (0.75-0.77) have a
   balanced ratio of 0.73 at most, while every photo copy the inlier ratio accepts keeps 0.76+.
   A layout that agrees in every half (a header and a footer band, the same words at the same
   places) is not caught by this; its siblings share most of what ORB sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np
import numpy.typing as npt

WORK_SIDE = 320
MAX_KEYPOINTS = 256
# The first KEY_POINTS keypoints (the strongest 4 of each grid cell, as ``_spread`` orders them)
# are an image's key points: the only ones an index needs to hold and query with (see
# ``index/pdq_orb.py``); ``Verification.key_inliers`` counts the inliers between key points.
KEY_POINTS = 64
GRID = 4
MAX_TRIM = 0.45
_TRIM_CHUNK = 16
# A border line is flat when its samples' standard deviation is below this (0-255 luma), JPEG
# noise included, and of one colour with the side's first line when its mean is this close.
FLAT_STD = 3.0
SAME_COLOUR = 14.0
# Fewer corners than this at the normal FAST threshold: detect again with the low one.
MIN_DETECTED = MAX_KEYPOINTS
FAST_THRESHOLD, LOW_FAST_THRESHOLD = 12, 4
# Correspondences are mutual nearest neighbours this close (of 256 bits). A copy's corners match
# at 10-40 bits; at 64, unrelated images share 16+ chance pairs and every one becomes a candidate.
MAX_DESCRIPTOR_BITS = 48
MIN_CORRESPONDENCES = 6
# RANSAC reprojection error, in work-frame pixels (1.5% of the work side).
REPROJECTION_PX = 5.0
MIN_SCALE, MAX_SCALE = 0.25, 4.0
# A half of the shared area with fewer correspondences than this is too small to judge alone.
MIN_HALF_CORRESPONDENCES = 16

_ORB, _LOW_ORB = (
    cv2.ORB.create(
        nfeatures=MAX_KEYPOINTS * 4,
        scaleFactor=1.3,
        nlevels=5,
        edgeThreshold=15,
        patchSize=31,
        fastThreshold=threshold,
    )
    for threshold in (FAST_THRESHOLD, LOW_FAST_THRESHOLD)
)


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
    """What local features say about two images: mutual correspondences, RANSAC inliers, the
    inlier ratio (inliers per correspondence), coverage (inliers per keypoint in the shared
    area), the fitted scale, the inliers between key points and the balanced ratio (the inlier
    ratio with both halves of the shared area weighted equally)."""

    correspondences: int
    inliers: int
    inlier_ratio: float
    coverage: float
    scale: float
    key_inliers: int = 0
    balanced_ratio: float = 0.0

    def as_json(self) -> dict[str, float | int]:
        """The evidence as JSON-ready values (``Match.detail``)."""
        return {
            "correspondences": self.correspondences,
            "inliers": self.inliers,
            "inlier_ratio": round(self.inlier_ratio, 3),
            "coverage": round(self.coverage, 3),
            "scale": round(self.scale, 3),
            "key_inliers": self.key_inliers,
            "balanced_ratio": round(self.balanced_ratio, 3),
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
    first = None
    # A chunk of lines at a time: most images have no border, and stop at the first chunk.
    for start in range(0, most, _TRIM_CHUNK):
        head = lines[start : min(most, start + _TRIM_CHUNK)]
        means = head.mean(axis=1)
        first = means[0] if first is None else first
        flat = (head.std(axis=1) < FLAT_STD) & (np.abs(means - first) < SAME_COLOUR)
        not_flat = np.flatnonzero(~flat)
        if len(not_flat):
            return start + int(not_flat[0])
    return most


def work_image(luma: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    """The luma resized so its longer side is ``WORK_SIDE``, as 8-bit samples."""
    rows, cols = luma.shape
    scale = WORK_SIDE / max(rows, cols)
    size = (max(1, round(cols * scale)), max(1, round(rows * scale)))
    # Bicubic, not bilinear, when enlarging: a small copy (a third of a 256-pixel photo) then
    # keeps corners sharp enough for ORB to find the ones the full-size original has.
    method = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(luma, size, interpolation=method)
    work: npt.NDArray[np.uint8] = np.clip(resized + 0.5, 0, 255).astype(np.uint8)
    return work


def extract(image: npt.NDArray[np.uint8]) -> Features:
    """ORB keypoints of a work image, spread over a grid, strongest first within each cell."""
    return extract_detected(image, detect(image))


class Corners(NamedTuple):
    """ORB corners as arrays, one row each: position (n, 2), size, angle, response, octave."""

    xy: npt.NDArray[np.float32]
    size: npt.NDArray[np.float32]
    angle: npt.NDArray[np.float32]
    response: npt.NDArray[np.float32]
    octave: npt.NDArray[np.int64]


def detect(image: npt.NDArray[np.uint8]) -> Corners:
    """The ORB corners of a work image (again at the low FAST threshold when they are few)."""
    keypoints = _ORB.detect(image, None)
    if len(keypoints) < MIN_DETECTED:
        keypoints = _LOW_ORB.detect(image, None)
    rows = np.array([(*k.pt, k.size, k.angle, k.response) for k in keypoints], np.float32).reshape(
        -1, 5
    )
    octave = np.array([k.octave for k in keypoints], np.int64)
    return Corners(rows[:, :2], rows[:, 2], rows[:, 3], rows[:, 4], octave)


def extract_detected(image: npt.NDArray[np.uint8], corners: Corners) -> Features:
    """``extract`` with the corners ``detect`` found (or ``mirrored`` ones) given."""
    chosen = _spread(corners.xy, corners.response, image.shape[1], image.shape[0])
    keypoints = [
        cv2.KeyPoint(
            float(corners.xy[i, 0]),
            float(corners.xy[i, 1]),
            float(corners.size[i]),
            float(corners.angle[i]),
            float(corners.response[i]),
            int(corners.octave[i]),
        )
        for i in chosen
    ]
    return _describe(image, keypoints)


def mirrored(corners: Corners, width: int) -> Corners:
    """What ``detect`` finds in the left-right mirror of a work image ``width`` wide, from what it
    found in the image: FAST and the Harris score are mirror symmetric, so each corner moves to
    its mirror position in its own pyramid level (``round(width / scale)`` wide) and its angle
    turns to 180 degrees minus it. On the bench photos: the same corners as detecting again, to
    1e-4 pixel, for a fraction of the cost (and the mirror needs no trimming or resizing)."""
    scales = [_ORB.getScaleFactor() ** level for level in range(_ORB.getNLevels())]
    right = np.array([(round(width / s) - 1) * s for s in scales], np.float64)[corners.octave]
    xy = corners.xy.copy()
    xy[:, 0] = (right - corners.xy[:, 0].astype(np.float64)).astype(np.float32)
    angle = ((180.0 - corners.angle.astype(np.float64)) % 360.0).astype(np.float32)
    return Corners(xy, corners.size, angle, corners.response, corners.octave)


def _describe(image: npt.NDArray[np.uint8], keypoints: list[cv2.KeyPoint]) -> Features:
    height, width = image.shape
    if not keypoints:
        return _empty(width, height)
    for rank, k in enumerate(keypoints):
        k.class_id = rank
    kept, descriptors = _ORB.compute(image, keypoints)
    if descriptors is None or not kept:
        return _empty(width, height)
    # ORB groups the keypoints by pyramid level: put them back in the chosen (round-robin) order.
    order = np.argsort([k.class_id for k in kept], kind="stable")
    points = np.array([kept[i].pt for i in order], dtype=np.float32).reshape(-1, 2)
    return Features(width, height, points, descriptors[order].astype(np.uint8))


def _empty(width: int, height: int) -> Features:
    return Features(width, height, np.empty((0, 2), np.float32), np.empty((0, 32), np.uint8))


def _spread(
    xy: npt.NDArray[np.float32], strength: npt.NDArray[np.float32], width: int, height: int
) -> npt.NDArray[np.intp]:
    """The rows of up to MAX_KEYPOINTS corners, taken round robin over grid cells by response."""
    if not len(xy):
        return np.empty(0, np.intp)
    points = xy.astype(np.float64)
    response = strength.astype(np.float64)
    cx = np.minimum(GRID - 1, (points[:, 0] * GRID / width).astype(np.int64))
    cy = np.minimum(GRID - 1, (points[:, 1] * GRID / height).astype(np.int64))
    cell = cy * GRID + cx
    # Within a cell: strongest first, ties by position; then rank r of every cell before r + 1.
    order = np.lexsort((points[:, 1], points[:, 0], -response, cell))
    sorted_cells = cell[order]
    starts = np.searchsorted(sorted_cells, sorted_cells, side="left")
    rank = np.arange(len(order)) - starts
    chosen: npt.NDArray[np.intp] = order[np.lexsort((sorted_cells, rank))][:MAX_KEYPOINTS]
    return chosen


def verify(a: Features, b: Features) -> Verification:
    """How far two images' local features agree under one similarity transform."""
    if len(a) < MIN_CORRESPONDENCES or len(b) < MIN_CORRESPONDENCES:
        return NO_EVIDENCE
    query, train = mutual_neighbours(a.descriptors, b.descriptors)
    if len(query) < MIN_CORRESPONDENCES:
        return Verification(len(query), 0, 0.0, 0.0, 0.0)
    found, mask = cv2.estimateAffinePartial2D(
        a.points[query],
        b.points[train],
        method=cv2.RANSAC,
        ransacReprojThreshold=REPROJECTION_PX,
        maxIters=400,
        confidence=0.995,
        refineIters=0,
    )
    if found is None or mask is None:
        return Verification(len(query), 0, 0.0, 0.0, 0.0)
    transform = np.asarray(found, dtype=np.float64)
    scale = float(np.sqrt(abs(np.linalg.det(transform[:, :2]))))
    if not MIN_SCALE <= scale <= MAX_SCALE:
        return Verification(len(query), 0, 0.0, 0.0, scale)
    inlier = mask.ravel().astype(bool)
    inliers = int(inlier.sum())
    keys = int((inlier & (query < KEY_POINTS) & (train < KEY_POINTS)).sum())
    inverse = np.asarray(cv2.invertAffineTransform(transform), np.float64)
    inside_b = _inside(_apply(transform, a.points), b)
    inside_a = _inside(_apply(inverse, b.points), a)
    shared = max(1, min(int(inside_a.sum()), int(inside_b.sum())))
    coverage = min(1.0, inliers / shared)
    ratio = inliers / len(query)
    balanced = _balanced_ratio(a.points[query], inlier, _shared_centre(inverse, a, b), ratio)
    return Verification(len(query), inliers, ratio, coverage, scale, keys, balanced)


def _shared_centre(
    inverse: npt.NDArray[np.float64], a: Features, b: Features
) -> npt.NDArray[np.float64]:
    """The centre, in ``a``'s frame, of the box where ``a`` and ``b`` (mapped back) overlap."""
    corners = np.array([[0, 0], [b.width, 0], [0, b.height], [b.width, b.height]], np.float64)
    mapped = corners @ inverse[:, :2].T + inverse[:, 2]
    low = np.maximum(mapped.min(axis=0), 0.0)
    high = np.minimum(mapped.max(axis=0), [a.width, a.height])
    centre: npt.NDArray[np.float64] = (low + high) / 2
    return centre


def _balanced_ratio(
    points: npt.NDArray[np.float32],
    inlier: npt.NDArray[np.bool_],
    centre: npt.NDArray[np.float64],
    ratio: float,
) -> float:
    """The inlier ratio with each half of the shared area (split at ``centre``, across each
    axis) counting equally: the lower of the two splits, and never above ``ratio``."""
    balanced = ratio
    for axis in (0, 1):
        first = points[:, axis] < centre[axis]
        halves = [
            float(inlier[side].mean())
            for side in (first, ~first)
            if int(side.sum()) >= MIN_HALF_CORRESPONDENCES
        ]
        if halves:
            balanced = min(balanced, sum(halves) / len(halves))
    return balanced


def mutual_neighbours(
    a: npt.NDArray[np.uint8], b: npt.NDArray[np.uint8]
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """(rows of ``a``, rows of ``b``): descriptor pairs that are each other's nearest neighbour
    by Hamming distance (the first on ties, as OpenCV's cross-checked matcher), at most
    ``MAX_DESCRIPTOR_BITS`` apart, in ``a``'s order.

    The whole distance matrix comes from hardware popcounts of 64-bit words, one word column at a
    time (small temporaries); both directions' neighbours are read off it, where a cross-checked
    ``BFMatcher`` computes it twice: this halves the cost of verifying a pair."""
    words_a = np.ascontiguousarray(a).view(np.uint64)
    words_b = np.ascontiguousarray(b).view(np.uint64)
    bits = np.bitwise_count(words_a[:, None, 0] ^ words_b[None, :, 0]).astype(np.uint16)
    for word in range(1, words_a.shape[1]):
        bits += np.bitwise_count(words_a[:, None, word] ^ words_b[None, :, word])
    nearest_b = bits.argmin(axis=1)
    nearest_a = bits.argmin(axis=0)
    rows = np.arange(len(a))
    mutual = (nearest_a[nearest_b] == rows) & (bits[rows, nearest_b] <= MAX_DESCRIPTOR_BITS)
    query = np.flatnonzero(mutual)
    return query, nearest_b[query]


def _apply(
    transform: npt.NDArray[np.float64], points: npt.NDArray[np.float32]
) -> npt.NDArray[np.float64]:
    moved: npt.NDArray[np.float64] = points @ transform[:, :2].T + transform[:, 2]
    return moved


def _inside(points: npt.NDArray[np.float64], frame: Features) -> npt.NDArray[np.bool_]:
    x, y = points[:, 0], points[:, 1]
    inside: npt.NDArray[np.bool_] = (x >= 0) & (x < frame.width) & (y >= 0) & (y < frame.height)
    return inside
