"""Type stub of the compiled kernel (``_hamming_kernel.c``): each search returns the bytes of
int64 query indexes, int64 ids and int32 distances of its hits, sorted by query, distance and id,
leaving out the rows listed in ``dead`` (sorted int64 rows)."""

from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

T = TypeVar("T", bound=tuple[Any, ...])

def mih_search(
    hashes: NDArray[np.uint64],
    ids: NDArray[np.int64],
    dead: NDArray[np.int64],
    offsets: NDArray[np.signedinteger[Any]],
    perm: NDArray[np.uint32],
    tables: NDArray[np.int64],
    masks: NDArray[np.int64],
    queries: NDArray[np.uint64],
    radius: int,
    /,
) -> tuple[bytes, bytes, bytes]:
    """(query, id, distance) bytes of every live row within radius, by multi-index hashing."""

def scan(
    hashes: NDArray[np.uint64],
    ids: NDArray[np.int64],
    dead: NDArray[np.int64],
    queries: NDArray[np.uint64],
    radius: int,
    /,
) -> tuple[bytes, bytes, bytes]:
    """(query, id, distance) bytes of every live row within radius, by brute force."""

def check(offsets: NDArray[np.signedinteger[Any]], perm: NDArray[np.uint32], rows: int, /) -> None:
    """Raise ValueError unless offsets and perm are coherent."""

def index_hits(
    cls: type[T], ids: NDArray[np.int64], distances: NDArray[np.int32], lo: int, hi: int, /
) -> list[T]:
    """[cls(id, distance, None) for hits lo..hi], cls a tuple subclass (IndexHit)."""

def uses_popcnt() -> bool:
    """Whether the POPCNT instruction is in use."""
