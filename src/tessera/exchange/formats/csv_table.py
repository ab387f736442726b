"""``csv``: Tessera's bank as a spreadsheet table, one row per signal.

Columns (a header row is required; any order):

    entry_uuid,signal_type,signal,quality,labels,inclusion_criterion,status,created_by,created_at,source,note

- Rows with the same ``entry_uuid`` are one entry (a photo's pdq and md5 rows, say). They must be
  consecutive, as export writes them, and repeat the same entry columns (labels … note); a uuid
  that comes back after another entry is an error rather than a silently split entry.
- A row with an empty ``entry_uuid`` is an entry of its own (the store assigns a uuid).
- Only ``signal_type`` and ``signal`` are required; a missing column, or an empty cell, takes
  NewEntry's default (``status`` active; ``created_by``/``created_at`` filled in by the store).
  Unknown columns are refused.
- ``labels`` are joined with ``;``. Inside a label, ``\\;`` stands for ``;`` and ``\\\\`` for
  ``\\``, so every label round-trips; any other backslash is an error, and so is a blank label.
- ``quality`` is a whole number 0-100 or empty; ``created_at`` is ISO 8601 with its offset.

The dialect is the csv module's default (Excel's): comma-separated, fields quoted when they
contain a comma, quote or line break, rows ending in CRLF. Open files with ``newline=""`` so line
breaks inside notes survive. Each field is limited by the csv module's ``field_size_limit``
(128 KiB by default).
"""

from __future__ import annotations

import csv
import uuid as uuidlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from typing import TextIO

from tessera.errors import InputError
from tessera.exchange.formats.base import (
    CREATED_BY_MAX_CHARS,
    BankFormat,
    at_line,
    check_created_at,
    check_label,
    check_quality,
    check_status,
    check_text,
    check_uuid,
    csv_records,
    format_created_at,
    make_signal,
    shown,
)
from tessera.signals.base import Signal
from tessera.store.records import Entry, EntryStatus, NewEntry

ENTRY_COLUMNS = (
    "labels",
    "inclusion_criterion",
    "status",
    "created_by",
    "created_at",
    "source",
    "note",
)
COLUMNS = ("entry_uuid", "signal_type", "signal", "quality", *ENTRY_COLUMNS)
REQUIRED = ("signal_type", "signal")


class CsvFormat(BankFormat):
    """Tessera's CSV table: one row per signal, rows of one entry_uuid form one entry."""

    name = "csv"
    extensions = (".csv",)
    description = "a spreadsheet table, one row per signal; rows sharing entry_uuid are one entry"

    def read(self, stream: TextIO) -> Iterator[NewEntry]:
        """Parse entries lazily; FormatError("line N: reason") on the first bad row."""
        pending: _Group | None = None
        seen: set[bytes] = set()  # uuids of finished entries, 16 bytes each
        for number, row in csv_records(stream, COLUMNS, REQUIRED):
            with at_line(number):
                entry_uuid, signal, fields = _parse_row(row)
                if pending is not None and entry_uuid and entry_uuid == pending.uuid:
                    pending.extend(signal, fields)
                    continue
                if entry_uuid:
                    key = uuidlib.UUID(entry_uuid).bytes
                    if key in seen:
                        raise InputError(
                            f"entry {entry_uuid} appeared on earlier rows; "
                            "the rows of one entry must be consecutive"
                        )
                    seen.add(key)
                group = _Group(entry_uuid, fields, number, _entry(entry_uuid, fields), [signal])
            if pending is not None:
                yield pending.finish()
            pending = group
            if group.uuid is None:  # nothing can join it: out it goes
                yield group.finish()
                pending = None
        if pending is not None:
            yield pending.finish()

    def write(self, entries: Iterable[Entry], stream: TextIO) -> int:
        """Write the header and one row per signal; returns how many entries were written."""
        writer = csv.writer(stream)
        writer.writerow(COLUMNS)
        n = 0
        for entry in entries:
            common = [
                join_labels(entry.labels),
                entry.inclusion_criterion,
                entry.status.value,
                entry.created_by,
                format_created_at(entry),
                entry.source,
                entry.note,
            ]
            for s in entry.signals:
                quality = "" if s.quality is None else str(s.quality)
                writer.writerow([entry.uuid, s.type, s.value, quality, *common])
            n += 1 if entry.signals else 0
        return n


@dataclass(slots=True)
class _Group:
    """The rows read so far of one entry."""

    uuid: str | None
    fields: tuple[str, ...]
    line: int
    entry: NewEntry
    signals: list[Signal]

    def extend(self, signal: Signal, fields: tuple[str, ...]) -> None:
        if fields != self.fields:
            raise InputError(
                f"entry {self.uuid}: the entry columns ({', '.join(ENTRY_COLUMNS)}) differ from "
                f"its first row on line {self.line}"
            )
        self.signals.append(signal)

    def finish(self) -> NewEntry:
        return replace(self.entry, signals=tuple(self.signals))


def _parse_row(row: dict[str, str]) -> tuple[str | None, Signal, tuple[str, ...]]:
    raw_uuid = row.get("entry_uuid", "").strip()
    entry_uuid = check_uuid(raw_uuid) if raw_uuid else None
    raw_quality = row.get("quality", "").strip()
    try:
        quality = check_quality(int(raw_quality)) if raw_quality else None
    except ValueError:
        raise InputError(
            f"quality must be a whole number 0-100, got {shown(raw_quality)}"
        ) from None
    signal = make_signal(row["signal_type"], row["signal"], quality)
    return entry_uuid, signal, tuple(row.get(c, "") for c in ENTRY_COLUMNS)


def _entry(entry_uuid: str | None, fields: tuple[str, ...]) -> NewEntry:
    labels, criterion, status, created_by, created_at, source, note = fields
    return NewEntry(
        signals=(),
        labels=split_labels(labels),
        inclusion_criterion=check_text("inclusion_criterion", criterion),
        source=check_text("source", source),
        note=check_text("note", note),
        uuid=entry_uuid,
        created_by=check_text("created_by", created_by, CREATED_BY_MAX_CHARS) or None,
        created_at=check_created_at(created_at.strip()) if created_at.strip() else None,
        status=check_status(status.strip()) if status.strip() else EntryStatus.ACTIVE,
    )


def join_labels(labels: Iterable[str]) -> str:
    """Labels as one cell: joined with ';', with '\\' and ';' inside a label escaped by '\\'."""
    return ";".join(label.replace("\\", "\\\\").replace(";", "\\;") for label in labels)


def split_labels(cell: str) -> tuple[str, ...]:
    """The labels of a ``join_labels`` cell; InputError on a bad escape or a blank label."""
    if not cell:
        return ()
    labels: list[str] = []
    current: list[str] = []
    chars = iter(cell)
    for ch in chars:
        if ch == "\\":
            escaped = next(chars, "")
            if escaped not in ("\\", ";"):
                raise InputError(
                    "in labels, a backslash must be followed by ';' or another backslash"
                )
            current.append(escaped)
        elif ch == ";":
            labels.append(check_label("".join(current)))
            current = []
        else:
            current.append(ch)
    labels.append(check_label("".join(current)))
    return tuple(labels)
