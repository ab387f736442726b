"""Scan sources: the items of a folder or a manifest, each with the organisation's content id.

1. A folder: every file under it in a stable order (sorted, symlinks not followed); an item's
   content id is its path relative to the folder (``/``-separated).
2. A JSONL manifest: one ``{"path": ..., "content_id": ...}`` object a line; relative paths are
   relative to the manifest's folder. Blank lines are skipped.
3. A CSV manifest: a header row naming ``path`` and ``content_id`` columns, then one item a row.

A bad line is an item too (``SourceItem.error`` says why, its key is ``#line N``), so it lands in
the scan's report instead of stopping the scan.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tessera.errors import InputError

MAX_CONTENT_ID_CHARS = 2000
"""Longest content id accepted from a manifest (a URL or a storage key fits)."""


@dataclass(frozen=True, slots=True)
class SourceItem:
    """One item to scan: its place in the source, its key (content id) and path, or an error."""

    position: int
    key: str
    path: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the item can be hashed (a bad manifest line cannot)."""
        return self.error is None


@dataclass(frozen=True, slots=True)
class ScanSource:
    """A folder or a manifest file to scan."""

    path: Path
    kind: str  # "folder", "jsonl" or "csv"

    @property
    def description(self) -> str:
        """How the job names its source: ``folder:<path>`` or ``manifest:<path>``."""
        prefix = "folder" if self.kind == "folder" else "manifest"
        return f"{prefix}:{self.path}"

    def items(self) -> Iterator[SourceItem]:
        """Every item, in the source's stable order."""
        if self.kind == "folder":
            return _folder_items(self.path)
        if self.kind == "jsonl":
            return _jsonl_items(self.path)
        return _csv_items(self.path)

    def count(self) -> int:
        """How many items the source holds (a quick pass, for the progress bar)."""
        return sum(1 for _ in self.items())


def open_source(path: Path, manifest: bool | None = None) -> ScanSource:
    """The source at ``path``: a folder, or a manifest (``--manifest``, or named .jsonl/.csv)."""
    resolved = path.expanduser().resolve()
    if not resolved.exists():
        raise InputError(f"{path}: no such file or folder")
    if resolved.is_dir():
        if manifest:
            raise InputError(f"{path}: is a folder, not a manifest file")
        return ScanSource(resolved, "folder")
    suffix = resolved.suffix.lower()
    if suffix == ".csv":
        return ScanSource(resolved, "csv")
    if suffix in (".jsonl", ".ndjson", ".json") or manifest:
        return ScanSource(resolved, "jsonl")
    raise InputError(
        f"{path}: a file to scan must be a manifest (.jsonl or .csv, or pass --manifest)"
    )


def _folder_items(root: Path) -> Iterator[SourceItem]:
    position = 0
    for folder, dirs, files in os.walk(root):
        dirs.sort()
        for name in sorted(files):
            full = Path(folder) / name
            yield SourceItem(position, full.relative_to(root).as_posix(), str(full))
            position += 1


def _item(base: Path, line: int, path: object, content_id: object) -> SourceItem:
    """An item from one manifest line, or an error item saying what is wrong with it."""
    bad = f"#line {line}"
    if not isinstance(path, str) or not path.strip():
        return SourceItem(line, bad, "", f"line {line}: missing or empty 'path'")
    if not isinstance(content_id, str) or not content_id.strip():
        return SourceItem(line, bad, path, f"line {line}: missing or empty 'content_id'")
    if len(content_id) > MAX_CONTENT_ID_CHARS:
        return SourceItem(
            line, bad, path, f"line {line}: content_id is over {MAX_CONTENT_ID_CHARS} characters"
        )
    if content_id.startswith("#line "):
        return SourceItem(line, bad, path, f"line {line}: content_id may not start with '#line '")
    full = Path(path) if Path(path).is_absolute() else base / path
    return SourceItem(line, content_id, str(full))


def _jsonl_items(manifest: Path) -> Iterator[SourceItem]:
    with manifest.open("rb") as f:
        for line, raw in enumerate(f, 1):
            try:
                text = raw.decode("utf-8").strip()
            except UnicodeDecodeError:
                yield SourceItem(line, f"#line {line}", "", f"line {line}: not UTF-8")
                continue
            if not text:
                continue
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                yield SourceItem(line, f"#line {line}", "", f"line {line}: not JSON ({e.msg})")
                continue
            if not isinstance(obj, dict):
                yield SourceItem(line, f"#line {line}", "", f"line {line}: not a JSON object")
                continue
            yield _item(manifest.parent, line, obj.get("path"), obj.get("content_id"))


def _csv_items(manifest: Path) -> Iterator[SourceItem]:
    with manifest.open(newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None:
            return
        names = [h.strip().lower() for h in header]
        if "path" not in names or "content_id" not in names:
            raise InputError(f"{manifest}: the CSV header must name 'path' and 'content_id'")
        at_path, at_id = names.index("path"), names.index("content_id")
        for row in reader:
            line = reader.line_num
            if not row or all(not cell.strip() for cell in row):
                continue
            if len(row) != len(names):
                yield SourceItem(
                    line,
                    f"#line {line}",
                    "",
                    f"line {line}: {len(row)} fields, the header has {len(names)}",
                )
                continue
            yield _item(manifest.parent, line, row[at_path], row[at_id])
