"""Type stub of the compiled kernel (``_hamming_kernel.c``): each search returns the bytes of
int64 query indexes, int64 rows and uint32 distances of its hits."""

from typing import Any

import numpy as np
from numpy.typing import NDArray

def mih_search(
    hashes: NDArray[np.uint64],
    offsets: NDArray[np.signedinteger[Any]],
    perm: NDArray[np.uint32],
    tables: NDArray[np.int64],
    masks: NDArray[np.int64],
    queries: NDArray[np.uint64],
    radius: int,
    /,
) -> tuple[bytes, bytes, bytes]:
    """(query, row, distance) bytes of every row within radius, by multi-index hashing."""

def scan(
    hashes: NDArray[np.uint64], queries: NDArray[np.uint64], radius: int, /
) -> tuple[bytes, bytes, bytes]:
    """(query, row, distance) bytes of every row within radius, by brute force."""

def check(offsets: NDArray[np.signedinteger[Any]], perm: NDArray[np.uint32], rows: int, /) -> None:
    """Raise ValueError unless offsets and perm are coherent."""

def uses_popcnt() -> bool:
    """Whether the POPCNT instruction is in use."""
