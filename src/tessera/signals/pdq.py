"""The ``pdq`` signal type: Meta's PDQ perceptual hash of photos, in Meta's hex format.

Flow for one image:

1. ``tessera.media.image.decode_luma`` decodes the first frame within the content's limits, at
   reduced size when the image is large (JPEG by DCT scaling, others by box averaging), keeping
   at least ``DECODE_SIDE`` samples a side. Measured on the shared reference photos, that costs
   about one bit against a full-resolution decode, below the spread between JPEG decoders;
2. ``tessera.signals.pdq_hasher`` filters that luma down to 64x64, takes the 16x16 DCT and sets
   each bit where a coefficient exceeds the median, giving 256 bits and a quality of 0-100;
3. the signal is the 64 lower-case hex digits, with the quality alongside.

Format and bit order (Meta's, shared by python-threatexchange, HMA and the C++ tools): bit k of
the hash, for DCT coefficient (i, j) with k = 16 i + j, is bit k of the 256-bit big-endian
integer the hex spells, so ``int(value, 16) >> k & 1`` reads it. ``pdq_to_words`` gives the same
integer as four uint64 words, most significant first (word 3 - k // 64 holds bit k % 64).

Distance is the Hamming distance of the 256 bits. The default threshold, 31, is Meta's
``PDQ_CONFIDENT_MATCH_THRESHOLD``. A bank may choose up to 64: PDQ hashes set half their bits, so
unrelated photos sit near 128 bits apart (among the shared reference photos the closest unrelated
pair is 110 bits apart, 108 over all 8 orientations), and above 64 a bank would start matching
unrelated images while the index's range search degrades towards a full scan.

Dihedral matching: ``pdq_dihedral_hashes`` gives the hashes of the 8 rotations and flips from one
decode; ``PdqSignal.transformed`` offers the 7 non-identity ones to the matcher.
"""

from __future__ import annotations

import string
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from tessera.errors import InvalidSignal
from tessera.media.image import decode_luma
from tessera.media.kinds import MediaKind
from tessera.signals.base import Signal, SignalType
from tessera.signals.pdq_hasher import (
    DIHEDRAL_NAMES,
    PdqHash,
    pdq_dihedral_from_luma,
    pdq_from_luma,
)

if TYPE_CHECKING:
    from tessera.index.base import SignalIndex
    from tessera.media.content import Content

__all__ = [
    "DECODE_SIDE",
    "DIHEDRAL_NAMES",
    "PdqHash",
    "PdqSignal",
    "pdq_dihedral_hashes",
    "pdq_from_luma",
    "pdq_hash",
    "pdq_to_words",
    "pdq_words_to_hex",
]

HEX_LENGTH = 64
# Fewest samples a side a large image is decoded down to; chosen by measurement (see the bench
# and tests/signals/test_pdq_conformance.py): 192 keeps the mean distance from full-resolution
# hashes near 1 bit, and JPEGs of a megapixel decode at 1/4 scale.
DECODE_SIDE = 192
_HEX = frozenset(string.hexdigits.lower())


class PdqSignal(SignalType):
    """PDQ: a 256-bit perceptual hash of a photo; near-identical photos have nearby hashes."""

    name = "pdq"
    media_kinds = frozenset({MediaKind.IMAGE})
    default_threshold = 31
    max_threshold = 64

    @classmethod
    def validate(cls, value: str) -> str:
        """64 hex digits, normalised to lower case; InvalidSignal says what is wrong otherwise."""
        if not isinstance(value, str):
            raise InvalidSignal(
                f"pdq must be a string of 64 hex digits, got {type(value).__name__}"
            )
        normal = value.strip().lower()
        if len(normal) != HEX_LENGTH:
            raise InvalidSignal(f"pdq must be {HEX_LENGTH} hex digits, got {len(normal)}")
        if not _HEX.issuperset(normal):
            bad = next(c for c in normal if c not in _HEX)
            raise InvalidSignal(f"pdq must be hexadecimal, found {bad!r}")
        return normal

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        """Hamming distance of the 256 bits."""
        return (int(a, 16) ^ int(b, 16)).bit_count()

    @classmethod
    def hash_content(cls, content: Content) -> Signal | None:
        """The PDQ hash and quality of an image's first frame; None for other media kinds."""
        if content.kind not in cls.media_kinds:
            return None
        result = pdq_hash(content)
        return Signal(cls.name, result.hex, result.quality)

    @classmethod
    def transformed(cls, content: Content) -> list[tuple[str, Signal]]:
        """The hashes of the image rotated and flipped (7 ways), named as in DIHEDRAL_NAMES."""
        if content.kind not in cls.media_kinds:
            return []
        hashes, quality = pdq_dihedral_from_luma(decode_luma(content, reduce_to=DECODE_SIDE))
        return [(name, Signal(cls.name, hashes[name], quality)) for name in DIHEDRAL_NAMES[1:]]

    @classmethod
    def new_index(cls) -> SignalIndex:
        """A Hamming-distance index over 256-bit hashes."""
        # Imported on use: the registry loads every signal type, and that should not load index
        # back ends until an index is needed.
        from tessera.index.hamming import HammingIndex

        return HammingIndex()


def pdq_hash(content: Content) -> PdqHash:
    """Decode an image (raising MediaError when it cannot) and return its PDQ hash and quality."""
    return pdq_from_luma(decode_luma(content, reduce_to=DECODE_SIDE))


def pdq_dihedral_hashes(content: Content) -> dict[str, str]:
    """The PDQ hashes of all 8 orientations of an image, keyed by DIHEDRAL_NAMES."""
    hashes, _ = pdq_dihedral_from_luma(decode_luma(content, reduce_to=DECODE_SIDE))
    return hashes


def pdq_to_words(value: str) -> npt.NDArray[np.uint64]:
    """A normalised hash as 4 uint64 words, most significant first (``int(value, 16)``'s order)."""
    return np.frombuffer(bytes.fromhex(value), dtype=">u8").astype(np.uint64)


def pdq_words_to_hex(words: npt.ArrayLike) -> str:
    """The inverse of ``pdq_to_words``."""
    return np.asarray(words, dtype=np.uint64).astype(">u8").tobytes().hex()
