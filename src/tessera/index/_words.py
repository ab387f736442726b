"""256-bit hashes as arrays of four uint64 words, and the array operations the Hamming index needs.

A PDQ hash travels as 64 hex characters; the index holds it as a row of four native uint64 words,
word 0 being the most significant 64 bits of the 256-bit big-endian integer the hex spells. The
Hamming distance does not depend on that order, but MIH keys and the hex round trip do, so every
conversion goes through this module:

1. ``parse_hex`` turns millions of hex strings into an ``(N, 4)`` uint64 array in a few C-level
   passes (join, ``bytes.fromhex``, byte swap), checking every string's length;
2. ``as_words`` accepts what callers already hold (``(N, 4)`` uint64 words or ``(N, 32)`` uint8
   big-endian bytes) and returns words;
3. ``brute_force`` compares every stored row with every query in the compiled kernel
   (``_hamming_kernel.scan``), which walks the rows in cache-sized blocks so each block is reused
   across the queries of a batch; ``as_hits`` turns the kernel's output (sorted, with ids) into
   arrays.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from tessera.errors import InvalidSignal
from tessera.index import _hamming_kernel

HASH_BITS = 256
WORDS = HASH_BITS // 64
HEX_CHARS = HASH_BITS // 4

Words = NDArray[np.uint64]
Int64s = NDArray[np.int64]
Int32s = NDArray[np.int32]
# (query index, id, distance) of every hit, sorted by query, distance and id.
Hits = tuple[Int64s, Int64s, Int32s]

# Parse this many strings per chunk: bounds the joined string and byte buffers to ~100 MB.
_PARSE_CHUNK = 1 << 20


def parse_one(value: str) -> Words:
    """``parse_hex([value])`` without the batch machinery (a single query's fast path)."""
    if not isinstance(value, str) or len(value) != HEX_CHARS:
        return parse_hex([value])  # raises with the batch's message
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        return parse_hex([value])
    if len(raw) != HEX_CHARS // 2:
        return parse_hex([value])
    return np.frombuffer(raw, dtype=">u8").astype(np.uint64).reshape(1, WORDS)


def parse_hex(values: Sequence[str]) -> Words:
    """Parse 64-character hex strings (either case) into an ``(N, 4)`` uint64 word array."""
    out = np.empty((len(values), WORDS), dtype=np.uint64)
    for lo in range(0, len(values), _PARSE_CHUNK):
        chunk = values[lo : lo + _PARSE_CHUNK]
        lengths = np.fromiter(map(len, chunk), dtype=np.int64, count=len(chunk))
        bad = np.flatnonzero(lengths != HEX_CHARS)
        if bad.size:
            i = lo + int(bad[0])
            raise InvalidSignal(f"hash #{i} has {lengths[bad[0]]} characters, expected {HEX_CHARS}")
        try:
            raw = bytes.fromhex("".join(chunk))
        except (ValueError, TypeError) as e:
            raise InvalidSignal(f"not a hexadecimal hash: {e}") from None
        # fromhex skips whitespace, so a string with spaces yields fewer bytes than its length says.
        if len(raw) != len(chunk) * HEX_CHARS // 2:
            raise InvalidSignal("a hash contains whitespace or is not hexadecimal")
        out[lo : lo + len(chunk)] = np.frombuffer(raw, dtype=">u8").reshape(-1, WORDS)
    return out


def format_hex(words: Words) -> list[str]:
    """The lower-case hex strings of an ``(N, 4)`` word array (inverse of ``parse_hex``)."""
    raw = np.ascontiguousarray(words, dtype=">u8").tobytes().hex()
    return [raw[i : i + HEX_CHARS] for i in range(0, len(raw), HEX_CHARS)]


def as_words(hashes: NDArray[np.generic]) -> Words:
    """Coerce ``(N, 4)`` uint64 words or ``(N, 32)`` big-endian uint8 bytes to contiguous words."""
    arr = np.asarray(hashes)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise InvalidSignal(f"hash arrays must be 2-D, got shape {arr.shape}")
    if arr.dtype == np.uint8 and arr.shape[1] == HASH_BITS // 8:
        return np.ascontiguousarray(arr).view(">u8").astype(np.uint64)
    if arr.dtype == np.uint64 and arr.shape[1] == WORDS:
        return np.ascontiguousarray(arr)
    raise InvalidSignal(
        f"hash arrays must be (N, {WORDS}) uint64 or (N, {HASH_BITS // 8}) uint8, "
        f"got {arr.shape} {arr.dtype}"
    )


def as_hits(found: tuple[bytes, bytes, bytes]) -> Hits:
    """The kernel's (query index, id, distance) bytes as numpy arrays (read-only views)."""
    q, ids, dist = found
    return np.frombuffer(q, np.int64), np.frombuffer(ids, np.int64), np.frombuffer(dist, np.int32)


def brute_force(stored: Words, ids: Int64s, dead: Int64s, queries: Words, radius: int) -> Hits:
    """Every (query index, id, distance) within ``radius`` by a blocked exhaustive scan, sorted.

    ``ids`` holds one id per stored row; rows listed in ``dead`` (sorted) are left out.
    """
    return as_hits(_hamming_kernel.scan(stored, ids, dead, queries, radius))
