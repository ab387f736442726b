"""The published state of a HammingIndex, the sorted-array helpers that edit it, and its file form.

A ``Snapshot`` is what a query reads: the main segment, the recent segment, their tombstones, the
delta buffer and how many of its rows are published. Writers never change one; they build the
next and publish it.

The file form (``write_snapshot`` / ``read_snapshot``) is one uncompressed ``.npz``:

1. the main segment's arrays, tables included, so loading needs no rebuild (reading is
   ``np.load``, not a memory map, so the arrays land in anonymous memory that can use huge pages);
2. the main tombstones;
3. the recent segment's arrays and tombstones, under ``recent_`` names (format 2);
4. the live delta rows (ids and hashes) only;
5. a format number, checked on load: format 1 (before the recent segment) loads with an empty one.

Loading checks that the arrays fit together (shapes, bucket offsets, rows named by the tables)
before the compiled kernel reads them, so a damaged file raises ``StoreError``, never a crash.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import NDArray

from tessera.errors import StoreError
from tessera.index import _hamming_kernel
from tessera.index._mih import MihSegment, split_widths, table_bytes
from tessera.index._words import WORDS, Int64s, Words

SNAPSHOT_FORMAT = 2
READABLE_FORMATS = (1, 2)
EMPTY_IDS = np.empty(0, dtype=np.int64)
# Rows of the main segment copied per step of ``merge_live``: bounds its temporaries (~40 MB).
_MERGE_CHUNK = 1 << 20


@dataclass(frozen=True, eq=False)
class Snapshot:
    """What a query reads: never mutated once published (delta rows beyond ``delta_rows`` aside)."""

    main: MihSegment
    main_dead: Int64s  # sorted main rows removed or replaced since the segment was built
    recent: MihSegment  # rows merged from full deltas since main was built (maybe empty)
    recent_dead: Int64s  # sorted recent rows removed or replaced
    delta_hashes: Words  # buffer: rows [0, delta_rows) are published, later ones are not
    delta_ids: Int64s
    delta_rows: int
    delta_dead: Int64s  # sorted delta rows removed or replaced
    size: int  # live signals


def sorted_member(sorted_values: Int64s, values: NDArray[np.integer]) -> NDArray[np.bool_]:
    """Which ``values`` occur in ``sorted_values``."""
    if sorted_values.size == 0:
        return np.zeros(len(values), dtype=np.bool_)
    pos = np.searchsorted(sorted_values, values).clip(max=sorted_values.size - 1)
    return np.asarray(sorted_values[pos] == values)


def rows_of(sorted_ids: Int64s, ids: Int64s) -> Int64s:
    """Rows of ``sorted_ids`` that hold any of ``ids`` (absent ids are skipped)."""
    if sorted_ids.size == 0:
        return EMPTY_IDS
    rows: Int64s = np.searchsorted(sorted_ids, ids).clip(max=sorted_ids.size - 1)
    found: Int64s = rows[sorted_ids[rows] == ids]
    return found


def sorted_unique(ids: Int64s, words: Words) -> tuple[Int64s, Words]:
    """The rows sorted by id, keeping the last row given for an id that repeats."""
    if ids.size < 2 or bool(np.all(ids[1:] > ids[:-1])):
        return ids, words  # the store hands ids in order: skip the sort and the copy
    order = np.argsort(ids, kind="stable")
    ordered = ids[order]
    last = np.ones(ids.size, dtype=np.bool_)
    last[:-1] = ordered[1:] != ordered[:-1]
    order = order[last]
    return ids[order], words[order]


def live_delta(st: Snapshot) -> NDArray[np.intp]:
    """Published delta rows that are not tombstoned."""
    return np.setdiff1d(np.arange(st.delta_rows), st.delta_dead)


def live_rows(seg: MihSegment, dead: Int64s) -> tuple[Int64s, Words]:
    """Copies of the ids and hashes of the rows of ``seg`` not in ``dead``, sorted by id."""
    return np.delete(seg.ids, dead), np.delete(seg.hashes, dead, axis=0)


def merge_live(
    seg: MihSegment, dead: Int64s, new_ids: Int64s, new_hashes: Words, chunk: int = _MERGE_CHUNK
) -> tuple[Int64s, Words]:
    """The live rows of ``seg`` and the new rows (sorted, ids absent from ``seg``), sorted by id.

    Writes the result in place, a chunk of ``seg`` at a time, so the only memory beyond the
    result is one chunk: merging into a 10M-row main segment needs no second copy of it.
    """
    total = len(seg.ids) - dead.size + len(new_ids)
    out_ids = np.empty(total, dtype=np.int64)
    out_hashes = np.empty((total, WORDS), dtype=np.uint64)
    at = taken = 0
    for lo in range(0, len(seg.ids), chunk):
        hi = min(lo + chunk, len(seg.ids))
        gone = dead[np.searchsorted(dead, lo) : np.searchsorted(dead, hi)] - lo
        ids = np.delete(seg.ids[lo:hi], gone)
        hashes = np.delete(seg.hashes[lo:hi], gone, axis=0)
        upto = len(new_ids) if hi == len(seg.ids) else int(np.searchsorted(new_ids, seg.ids[hi]))
        if upto > taken:
            where = np.searchsorted(ids, new_ids[taken:upto])
            ids = np.insert(ids, where, new_ids[taken:upto])
            hashes = np.insert(hashes, where, new_hashes[taken:upto], axis=0)
            taken = upto
        out_ids[at : at + len(ids)], out_hashes[at : at + len(ids)] = ids, hashes
        at += len(ids)
    out_ids[at:], out_hashes[at:] = new_ids[taken:], new_hashes[taken:]
    return out_ids, out_hashes


def write_snapshot(path: str | os.PathLike[str], st: Snapshot) -> None:
    """Write ``st`` to one ``.npz`` file, atomically (a partial file, then a rename)."""
    live = live_delta(st)
    arrays: dict[str, Any] = {
        "format": np.array([SNAPSHOT_FORMAT]),
        **_segment_arrays("", st.main),
        "main_dead": st.main_dead,
        **_segment_arrays("recent_", st.recent),
        "recent_dead": st.recent_dead,
        "delta_hashes": st.delta_hashes[live],
        "delta_ids": st.delta_ids[live],
    }
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    with partial.open("wb") as f:
        np.savez(f, **arrays)
    partial.replace(target)


class SnapshotFile(NamedTuple):
    """What ``read_snapshot`` returns: the segments and their tombstones, and the live delta."""

    main: MihSegment
    main_dead: Int64s
    recent: MihSegment
    recent_dead: Int64s
    delta_ids: Int64s
    delta_hashes: Words


def read_snapshot(path: str | os.PathLike[str], empty: MihSegment) -> SnapshotFile:
    """The contents of a ``write_snapshot`` file; ``empty`` stands for a format 1 recent segment."""
    with np.load(path, allow_pickle=False) as data:
        found = int(data["format"][0])
        if found not in READABLE_FORMATS:
            raise StoreError(
                f"{path}: Hamming index snapshot format {found}, expected one of "
                f"{READABLE_FORMATS}: rebuild the index from the store"
            )
        recent, recent_dead = empty, EMPTY_IDS
        if found >= 2:
            recent, recent_dead = _read_segment(data, "recent_"), data["recent_dead"]
        read = SnapshotFile(
            _read_segment(data, ""),
            data["main_dead"],
            recent,
            recent_dead,
            data["delta_ids"],
            data["delta_hashes"],
        )
    problem = (
        _segment_problem(read.main, read.main_dead)
        or _segment_problem(read.recent, read.recent_dead)
        or _delta_problem(read.delta_ids, read.delta_hashes)
    )
    if problem:
        raise StoreError(f"{path}: damaged Hamming index snapshot: {problem}")
    return read


def _segment_arrays(prefix: str, seg: MihSegment) -> dict[str, NDArray[Any]]:
    return {
        f"{prefix}hashes": seg.hashes,
        f"{prefix}ids": seg.ids,
        f"{prefix}widths": np.array(seg.widths, dtype=np.int64),
        f"{prefix}offsets": seg.offsets,
        f"{prefix}perm": seg.perm,
        f"{prefix}occupancy": np.array(seg.occupancy, dtype=np.float64),
    }


def _read_segment(data: Any, prefix: str) -> MihSegment:
    return MihSegment(
        data[f"{prefix}hashes"],
        data[f"{prefix}ids"],
        tuple(int(b) for b in data[f"{prefix}widths"]),
        data[f"{prefix}offsets"],
        data[f"{prefix}perm"],
        tuple(float(x) for x in data[f"{prefix}occupancy"]),
    )


def _delta_problem(delta_ids: Int64s, delta_hashes: Words) -> str:
    """What makes the read delta rows unsafe to search, or "" when they fit together."""
    if delta_ids.dtype != np.int64 or delta_ids.ndim != 1:
        return "array shapes or types do not match"
    if delta_hashes.dtype != np.uint64 or delta_hashes.shape != (len(delta_ids), WORDS):
        return "array shapes or types do not match"
    return ""


def _segment_problem(seg: MihSegment, dead: Int64s) -> str:
    """What makes a read segment unsafe to search, or "" when its arrays fit together."""
    rows, tables = len(seg.ids), len(seg.widths)
    shapes: list[tuple[NDArray[Any], type[np.generic], tuple[int, ...]]] = [
        (seg.hashes, np.uint64, (rows, WORDS)),
        (seg.ids, np.int64, (rows,)),
        (seg.perm, np.uint32, (tables * rows,)),
        (dead, np.int64, dead.shape[:1]),
    ]
    if any(a.dtype != dtype or a.shape != shape for a, dtype, shape in shapes):
        return "array shapes or types do not match"
    if tables and seg.widths != split_widths(tables):
        return f"table widths {seg.widths} do not split {tables} tables"
    slots = table_bytes(seg.widths, rows) - tables * rows * 4
    if seg.offsets.dtype not in (np.int32, np.int64) or seg.offsets.nbytes != slots:
        return "bucket offsets do not match the tables"
    if dead.size and (dead.min() < 0 or dead.max() >= rows or np.any(np.diff(dead) <= 0)):
        return "tombstones are not sorted rows"
    if rows and np.any(np.diff(seg.ids) <= 0):
        return "ids are not sorted and unique"
    try:
        _hamming_kernel.check(seg.offsets, seg.perm, rows)
    except ValueError as e:
        return str(e)
    return ""
