"""PDQ of video frames: the mirrored and batched hashes agree with the eight-orientation ones."""

from __future__ import annotations

import numpy as np

from tessera.media.content import Content
from tessera.media.image import Luma
from tessera.media.video import decode_video
from tessera.signals.pdq_hasher import (
    ZERO_HASH,
    PdqHash,
    pdq_dihedral_from_luma,
    pdq_mirrored_from_luma,
    pdq_mirrored_from_lumas,
)
from tests.media.video_synth import encode, scene


def _regions(luma: Luma) -> list[Luma]:
    """The frame, its halves and a centre crop: regions of unlike sizes, as region hashing cuts."""
    rows, cols = luma.pixels.shape
    boxes = [(0, rows, 0, cols), (0, rows // 2, 0, cols), (0, rows, cols // 2, cols)]
    boxes.append((rows // 10, rows - rows // 10, cols // 10, cols - cols // 10))
    return [luma.crop(*box) for box in boxes]


def test_mirrored_hashes_are_the_original_and_flipy_orientations() -> None:
    data = encode(20, scene(4, 320, 240), fps=10)
    for frame in decode_video(Content.from_bytes(data), reduce_to=64):
        regions = _regions(frame.luma)
        expected = []
        for region in regions:
            hashes, quality = pdq_dihedral_from_luma(region)
            expected.append((PdqHash(hashes["original"], quality), hashes["flipy"]))
        assert pdq_mirrored_from_lumas(regions) == expected
        assert [pdq_mirrored_from_luma(region) for region in regions] == expected


def test_too_small_regions_hash_to_zero_among_the_others() -> None:
    tiny = Luma.from_array(np.zeros((4, 40), dtype=np.float32))
    wide = Luma.from_array(np.tile(np.arange(40, dtype=np.float32) * 6, (40, 1)))
    zero, hashed = pdq_mirrored_from_lumas([tiny, wide])
    assert zero == (PdqHash(ZERO_HASH, 0), ZERO_HASH)
    assert hashed == pdq_mirrored_from_luma(wide)
    assert pdq_mirrored_from_lumas([]) == []
