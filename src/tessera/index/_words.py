"""256-bit hashes as arrays of four uint64 words, and the array operations the Hamming index needs.

A PDQ hash travels as 64 hex characters; the index holds it as a row of four native uint64 words,
word 0 being the most significant 64 bits of the 256-bit big-endian integer the hex spells. The
Hamming distance does not depend on that order, but MIH keys and the hex round trip do, so every
conversion goes through this module:

1. ``parse_hex`` turns millions of hex strings into an ``(N, 4)`` uint64 array in a few C-level
   passes (join, ``bytes.fromhex``, byte swap), checking every string's length;
2. ``as_words`` accepts what callers already hold (``(N, 4)`` uint64 words or ``(N, 32)`` uint8
   big-endian bytes) and returns words;
3. ``within`` and ``brute_force`` compute exact distances with ``np.bitwise_count``; the brute
   force walks the stored rows in cache-sized blocks so each block is reused across queries.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from tessera.errors import InvalidSignal

HASH_BITS = 256
WORDS = HASH_BITS // 64
HEX_CHARS = HASH_BITS // 4

Words = NDArray[np.uint64]
Int64s = NDArray[np.int64]

# Parse this many strings per chunk: bounds the joined string and byte buffers to ~100 MB.
_PARSE_CHUNK = 1 << 20
# Rows per brute-force block: 32k rows x 32 bytes = 1 MiB, which stays in a core's L2 cache while
# every query of the batch is compared against it.
_BLOCK_ROWS = 1 << 15
# Multiplying four byte counts packed in a uint32 by this sums them into the top byte.
_BYTE_SUM = np.uint32(0x01010101)


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


def within(diff: Words, radius: int) -> tuple[NDArray[np.intp], NDArray[np.uint32]]:
    """Rows of ``diff`` (stored XOR query) whose popcount is at most ``radius``, and that count."""
    packed = np.bitwise_count(diff).view(np.uint32).ravel()
    total = packed * _BYTE_SUM
    total >>= np.uint32(24)
    hit = np.flatnonzero(total <= radius)
    dist = total[hit]
    # The byte sum is taken modulo 256: only a complement (four words of 64 bits) reads as 0.
    complement = (dist == 0) & (packed[hit] != 0)
    if complement.any():
        dist[complement] = HASH_BITS
        keep = dist <= radius
        hit, dist = hit[keep], dist[keep]
    return hit, dist


def distances(rows: Words, query: Words) -> NDArray[np.uint32]:
    """Exact Hamming distances between each row of ``rows`` and ``query``."""
    total: NDArray[np.uint32] = np.bitwise_count(rows ^ query).sum(axis=1, dtype=np.uint32)
    return total


def brute_force(
    stored: Words, queries: Words, radius: int
) -> tuple[Int64s, Int64s, NDArray[np.uint32]]:
    """Every (query index, stored row, distance) within ``radius``, by blocked exhaustive scan."""
    q_parts: list[Int64s] = []
    row_parts: list[Int64s] = []
    dist_parts: list[NDArray[np.uint32]] = []
    for lo in range(0, len(stored), _BLOCK_ROWS):
        block = stored[lo : lo + _BLOCK_ROWS]
        for qi in range(len(queries)):
            hit, dist = within(block ^ queries[qi], radius)
            if hit.size:
                q_parts.append(np.full(hit.size, qi, dtype=np.int64))
                row_parts.append(hit + lo)
                dist_parts.append(dist)
    if not q_parts:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.uint32)
    return np.concatenate(q_parts), np.concatenate(row_parts), np.concatenate(dist_parts)
