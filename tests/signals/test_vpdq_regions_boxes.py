"""Regions hashed with shared passes give exactly the hashes of each region hashed on its own."""

from __future__ import annotations

import numpy as np
import pytest

from tessera.media.image import Luma
from tessera.signals.pdq_hasher import downsample_64, downsample_64_boxes, pdq_mirrored_from_lumas
from tessera.signals.vpdq_regions import VARIANTS, region_hashes, region_hashes_many


def _luma(rows: int, cols: int, scale: int, seed: int = 0) -> Luma:
    rng = np.random.default_rng(seed)
    pixels = (rng.random((rows, cols), dtype=np.float32) * 255).astype(np.float32)
    return Luma(pixels, cols * scale, rows * scale, scale, scale)


def _each_on_its_own(cut: Luma) -> list[tuple[tuple[str, int], str]]:
    rows, cols = cut.pixels.shape
    regions = [
        cut.crop(round(t * rows), round(b * rows), round(lf * cols), round(r * cols))
        for t, b, lf, r in list(VARIANTS.values())[1:]
    ]
    return [((h.hex, h.quality), m) for h, m in pdq_mirrored_from_lumas(regions)]


@pytest.mark.parametrize(("rows", "cols", "scale"), [(240, 160, 3), (144, 256, 5), (130, 97, 1)])
def test_boxes_downsample_like_crops(rows: int, cols: int, scale: int) -> None:
    luma = _luma(rows, cols, scale)
    boxes = [(0, rows, 0, cols), (10, rows - 7, 3, cols - 20), (0, rows // 2, 0, cols)]
    blocks = downsample_64_boxes(luma, boxes)
    for block, (t, b, lf, r) in zip(blocks, boxes, strict=True):
        assert np.allclose(block, downsample_64(luma.crop(t, b, lf, r)), atol=1e-4)


@pytest.mark.parametrize(("rows", "cols", "scale"), [(240, 160, 3), (144, 256, 5), (8, 9, 1)])
def test_region_hashes_equal_each_region_hashed_on_its_own(
    rows: int, cols: int, scale: int
) -> None:
    frames = [(_luma(rows, cols, scale, seed), ("a" * 64, "b" * 64, 77), 0.5) for seed in (1, 2)]
    many = region_hashes_many(frames)
    for (cut, _, _), (plain, mirrored) in zip(frames, many, strict=True):
        own = _each_on_its_own(cut)
        assert list(zip(plain.hexes[1:], plain.qualities[1:], strict=True)) == [h for h, _ in own]
        assert plain.hexes[0] == "a" * 64 and mirrored.hexes[0] == "b" * 64
        assert (plain, mirrored) == region_hashes(cut, ("a" * 64, "b" * 64, 77), 0.5)
