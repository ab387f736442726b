"""The published state of a HammingIndex, the sorted-array helpers that edit it, and its file form.

A ``Snapshot`` is what a query reads: the main segment, its tombstones, the delta buffer and how
many of its rows are published. Writers never change one; they build the next and publish it.

The file form (``write_snapshot`` / ``read_snapshot``) is one uncompressed ``.npz``:

1. the main segment's arrays, tables included, so loading needs no rebuild (reading is
   ``np.load``, not a memory map, so the arrays land in anonymous memory that can use huge pages);
2. the main tombstones;
3. the live delta rows (ids and hashes) only;
4. a format number, checked on load.

Loading checks that the arrays fit together (shapes, bucket offsets, rows named by the tables)
before the compiled kernel reads them, so a damaged file raises ``StoreError``, never a crash.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tessera.errors import StoreError
from tessera.index import _hamming_kernel
from tessera.index._mih import MihSegment, split_widths, table_bytes
from tessera.index._words import WORDS, Int64s, Words

SNAPSHOT_FORMAT = 1
EMPTY_IDS = np.empty(0, dtype=np.int64)


@dataclass(frozen=True, eq=False)
class Snapshot:
    """What a query reads: never mutated once published (delta rows beyond ``delta_rows`` aside)."""

    main: MihSegment
    main_dead: Int64s  # sorted main rows removed or replaced since the segment was built
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


def write_snapshot(path: str | os.PathLike[str], st: Snapshot) -> None:
    """Write ``st`` to one ``.npz`` file, atomically (a partial file, then a rename)."""
    live = live_delta(st)
    arrays: dict[str, Any] = {
        "format": np.array([SNAPSHOT_FORMAT]),
        "hashes": st.main.hashes,
        "ids": st.main.ids,
        "widths": np.array(st.main.widths, dtype=np.int64),
        "offsets": st.main.offsets,
        "perm": st.main.perm,
        "occupancy": np.array(st.main.occupancy, dtype=np.float64),
        "main_dead": st.main_dead,
        "delta_hashes": st.delta_hashes[live],
        "delta_ids": st.delta_ids[live],
    }
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    with partial.open("wb") as f:
        np.savez(f, **arrays)
    partial.replace(target)


def read_snapshot(path: str | os.PathLike[str]) -> tuple[MihSegment, Int64s, Int64s, Words]:
    """(main segment, main tombstones, delta ids, delta hashes) from a ``write_snapshot`` file."""
    with np.load(path, allow_pickle=False) as data:
        found = int(data["format"][0])
        if found != SNAPSHOT_FORMAT:
            raise StoreError(f"{path}: Hamming index snapshot format {found}, expected 1")
        main = MihSegment(
            data["hashes"],
            data["ids"],
            tuple(int(b) for b in data["widths"]),
            data["offsets"],
            data["perm"],
            tuple(float(x) for x in data["occupancy"]),
        )
        dead, delta_ids, delta_hashes = data["main_dead"], data["delta_ids"], data["delta_hashes"]
    problem = _problem(main, dead, delta_ids, delta_hashes)
    if problem:
        raise StoreError(f"{path}: damaged Hamming index snapshot: {problem}")
    return main, dead, delta_ids, delta_hashes


def _problem(main: MihSegment, dead: Int64s, delta_ids: Int64s, delta_hashes: Words) -> str:
    """What makes a read snapshot unsafe to search, or "" when its arrays fit together."""
    rows, tables = len(main.ids), len(main.widths)
    shapes: list[tuple[NDArray[Any], type[np.generic], tuple[int, ...]]] = [
        (main.hashes, np.uint64, (rows, WORDS)),
        (main.ids, np.int64, (rows,)),
        (main.perm, np.uint32, (tables * rows,)),
        (dead, np.int64, dead.shape[:1]),
        (delta_ids, np.int64, delta_ids.shape[:1]),
        (delta_hashes, np.uint64, (len(delta_ids), WORDS)),
    ]
    if any(a.dtype != dtype or a.shape != shape for a, dtype, shape in shapes):
        return "array shapes or types do not match"
    if tables and main.widths != split_widths(tables):
        return f"table widths {main.widths} do not split {tables} tables"
    slots = table_bytes(main.widths, rows) - tables * rows * 4
    if main.offsets.dtype not in (np.int32, np.int64) or main.offsets.nbytes != slots:
        return "bucket offsets do not match the tables"
    if dead.size and (dead.min() < 0 or dead.max() >= rows or np.any(np.diff(dead) <= 0)):
        return "tombstones are not sorted rows"
    if rows and np.any(np.diff(main.ids) <= 0):
        return "ids are not sorted and unique"
    try:
        _hamming_kernel.check(main.offsets, main.perm, rows)
    except ValueError as e:
        return str(e)
    return ""
