"""``jsonl``: Tessera's own bank file, lossless. One entry per line, as one JSON object:

    {"uuid": "0b6f…", "labels": ["propaganda"], "inclusion_criterion": "…",
     "status": "active", "created_by": "org-a", "created_at": "2026-01-02T03:04:05.000006+00:00",
     "source": "…", "note": "…",
     "signals": [{"type": "pdq", "value": "f8f8…", "quality": 100}]}

Export writes every field, so export then import gives back every field ``NewEntry`` carries.
Import needs only ``signals``; a missing field takes NewEntry's default (``uuid``,
``created_by`` and ``created_at`` null: the store fills them in). The change log's entry
snapshots (with ``bank``, ``updated_at`` and signal ``id``) are accepted too; those fields are
ignored. Any other field is refused, so a misspelt ``lables`` is an error, not lost data.

Reading one line: ``json.loads`` → type checks of each field → each signal through its signal
type's ``validate`` → NewEntry. Non-ASCII text is written as is (the file is UTF-8).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

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
    format_created_at,
    json_type,
    load_json,
    make_signal,
    numbered_lines,
    shown,
)
from tessera.signals.base import Signal
from tessera.store.records import Entry, EntryStatus, NewEntry

_FIELDS = frozenset(
    {
        "uuid",
        "labels",
        "inclusion_criterion",
        "status",
        "created_by",
        "created_at",
        "source",
        "note",
        "signals",
    }
)
# What an entry snapshot of the change log carries besides: accepted, not imported.
_SNAPSHOT_ONLY = frozenset({"bank", "updated_at"})
_SIGNAL_FIELDS = frozenset({"type", "value", "quality"})
_SIGNAL_SNAPSHOT_ONLY = frozenset({"id"})


class JsonlFormat(BankFormat):
    """Tessera's lossless JSON Lines bank file: one entry per line."""

    name = "jsonl"
    extensions = (".jsonl", ".ndjson")
    description = "Tessera's own, lossless: one JSON entry per line (JSON Lines)"

    def read(self, stream: TextIO) -> Iterator[NewEntry]:
        """Parse entries lazily; FormatError("line N: reason") on the first bad line."""
        for number, line in numbered_lines(stream):
            if not line.strip():
                continue
            with at_line(number):
                entry = parse_entry(load_json(line))
            yield entry

    def write(self, entries: Iterable[Entry], stream: TextIO) -> int:
        """Write one JSON object per entry; returns how many entries were written."""
        n = 0
        for entry in entries:
            stream.write(json.dumps(entry_record(entry), ensure_ascii=False))
            stream.write("\n")
            n += 1
        return n


def entry_record(entry: Entry) -> dict[str, Any]:
    """The JSON object that stands for ``entry`` in a jsonl file."""
    return {
        "uuid": entry.uuid,
        "labels": list(entry.labels),
        "inclusion_criterion": entry.inclusion_criterion,
        "status": entry.status.value,
        "created_by": entry.created_by,
        "created_at": format_created_at(entry),
        "source": entry.source,
        "note": entry.note,
        "signals": [
            {"type": s.type, "value": s.value, "quality": s.quality} for s in entry.signals
        ],
    }


def parse_entry(record: Any) -> NewEntry:
    """The NewEntry a parsed jsonl object stands for; InputError says what is wrong."""
    if not isinstance(record, dict):
        raise InputError(f"an entry must be a JSON object, not {json_type(record)}")
    unknown = sorted(set(record) - _FIELDS - _SNAPSHOT_ONLY)
    if unknown:
        raise InputError(f"unknown field(s) {', '.join(map(shown, unknown))}")
    if "signals" not in record:
        raise InputError("an entry needs a 'signals' list")
    labels = record.get("labels", [])
    if not isinstance(labels, list):
        raise InputError(f"labels must be a list, not {json_type(labels)}")
    raw_uuid = record.get("uuid")
    created_by = record.get("created_by")
    created_at = record.get("created_at")
    return NewEntry(
        signals=_signals(record["signals"]),
        labels=tuple(check_label(label) for label in labels),
        inclusion_criterion=check_text(
            "inclusion_criterion", record.get("inclusion_criterion", "")
        ),
        source=check_text("source", record.get("source", "")),
        note=check_text("note", record.get("note", "")),
        uuid=None if raw_uuid is None else check_uuid(check_text("uuid", raw_uuid)),
        created_by=(
            None
            if created_by is None
            else check_text("created_by", created_by, CREATED_BY_MAX_CHARS)
        ),
        created_at=(
            None if created_at is None else check_created_at(check_text("created_at", created_at))
        ),
        status=check_status(check_text("status", record.get("status", EntryStatus.ACTIVE.value))),
    )


def _signals(value: Any) -> tuple[Signal, ...]:
    if not isinstance(value, list):
        raise InputError(f"signals must be a list, not {json_type(value)}")
    if not value:
        raise InputError("an entry needs at least one signal")
    out: list[Signal] = []
    for item in value:
        if not isinstance(item, dict):
            raise InputError(f"a signal must be an object, not {json_type(item)}")
        unknown = sorted(set(item) - _SIGNAL_FIELDS - _SIGNAL_SNAPSHOT_ONLY)
        if unknown:
            raise InputError(f"unknown signal field(s) {', '.join(map(shown, unknown))}")
        if "type" not in item or "value" not in item:
            raise InputError("a signal needs a 'type' and a 'value'")
        type_name = check_text("a signal's type", item["type"])
        value_text = check_text(f"a {type_name} signal's value", item["value"])
        out.append(make_signal(type_name, value_text, check_quality(item.get("quality"))))
    return tuple(out)
