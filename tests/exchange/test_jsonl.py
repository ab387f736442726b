"""``jsonl``: lossless round trips, and a clear error for each way a line can be wrong."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.errors import FormatError
from tessera.exchange.formats import get_format
from tessera.signals.base import Signal
from tessera.store.records import Entry, EntryStatus, NewEntry
from tests.exchange.strategies import MD5, PDQ, as_new, entries, entry, read_text, round_trip

JSONL = get_format("jsonl")
SIGNALS = [{"type": "md5", "value": MD5}]


@settings(max_examples=200)
@given(st.lists(entries(), max_size=5, unique_by=lambda e: e.uuid))  # as in a store
def test_every_field_survives_write_then_read(items: list[Entry]) -> None:
    n, text, got = round_trip(JSONL, items)
    assert n == len(items) == text.count("\n")  # line breaks inside text are escaped
    assert got == [as_new(e) for e in items]
    # equal datetimes may differ in offset: the offset written must come back too
    assert [g.created_at.isoformat() for g in got if g.created_at] == [
        e.created_at.isoformat() for e in items
    ]


def test_a_written_line_holds_every_field() -> None:
    e = entry(("pdq", PDQ), ("md5", MD5), labels=("émigré", "x"), note="a\nb")
    _, text, _ = round_trip(JSONL, [e])
    (line,) = text.splitlines()
    assert json.loads(line) == {
        "uuid": e.uuid,
        "labels": ["émigré", "x"],
        "inclusion_criterion": "",
        "status": "active",
        "created_by": "org-a",
        "created_at": "2026-01-02T03:04:05+00:00",
        "source": "",
        "note": "a\nb",
        "signals": [
            {"type": "pdq", "value": PDQ, "quality": None},
            {"type": "md5", "value": MD5, "quality": None},
        ],
    }
    assert "émigré" in line  # UTF-8 as is, not \\u escapes


def test_only_signals_are_required() -> None:
    (got,) = read_text(JSONL, json.dumps({"signals": SIGNALS}))
    assert got == NewEntry(signals=(Signal("md5", MD5),))


def test_a_change_log_snapshot_is_accepted() -> None:
    e = entry(("md5", MD5), labels=("x",))
    snapshot = e.snapshot()
    (got,) = read_text(JSONL, json.dumps(snapshot))
    assert got == as_new(e)


def test_uuid_and_created_at_are_normalised_and_kept() -> None:
    record = {
        "signals": SIGNALS,
        "uuid": "{0B6F8E9A-1C2D-4E5F-8A9B-0C1D2E3F4A5B}",
        "created_at": "2026-03-04T05:06:07Z",
    }
    (got,) = read_text(JSONL, json.dumps(record))
    assert got.uuid == "0b6f8e9a-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
    assert got.created_at == datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


BAD: list[tuple[Any, str]] = [
    ("not json", "not valid JSON"),
    ([1, 2], "an entry must be a JSON object, not a list"),
    ({"labels": ["x"]}, "an entry needs a 'signals' list"),
    ({"signals": "md5:abc"}, "signals must be a list, not a string"),
    ({"signals": []}, "an entry needs at least one signal"),
    ({"signals": [MD5]}, "a signal must be an object, not a string"),
    ({"signals": [{"value": MD5}]}, "a signal needs a 'type' and a 'value'"),
    ({"signals": [{"type": "md5", "value": 5}]}, "md5 signal's value must be a string, not a n"),
    ({"signals": [{"type": 5, "value": MD5}]}, "signal's type must be a string, not a number"),
    ({"signals": [{**SIGNALS[0], "hash": 1}]}, "unknown signal field(s) 'hash'"),
    ({"signals": [{**SIGNALS[0], "quality": 101}]}, "quality must be a whole number from 0 to"),
    ({"signals": [{**SIGNALS[0], "quality": True}]}, "quality must be a whole number"),
    ({"signals": [{**SIGNALS[0], "quality": 9.5}]}, "quality must be a whole number"),
    ({"signals": SIGNALS, "labels": "x"}, "labels must be a list, not a string"),
    ({"signals": SIGNALS, "labels": [7]}, "a label must be a string, not a number"),
    ({"signals": SIGNALS, "labels": ["  "]}, "a label must not be blank"),
    ({"signals": SIGNALS, "lables": ["x"]}, "unknown field(s) 'lables'"),
    ({"signals": SIGNALS, "note": None}, "note must be a string, not null"),
    ({"signals": SIGNALS, "note": "a\x00b"}, "note contains a NUL character"),
    ({"signals": SIGNALS, "source": {"a": 1}}, "source must be a string, not an object"),
    ({"signals": SIGNALS, "status": "gone"}, "status must be one of active, disputed, retired"),
    ({"signals": SIGNALS, "status": 1}, "status must be a string, not a number"),
    ({"signals": SIGNALS, "uuid": "12345"}, "uuid must be a UUID, got '12345'"),
    ({"signals": SIGNALS, "uuid": 12345}, "uuid must be a string, not a number"),
    ({"signals": SIGNALS, "created_by": "o" * 201}, "created_by is longer than 200"),
    ({"signals": SIGNALS, "created_at": "yesterday"}, "created_at must be an ISO 8601 time"),
    ({"signals": SIGNALS, "created_at": "2026-01-02T03:04:05"}, "created_at needs a UTC offset"),
]


@pytest.mark.parametrize(("record", "reason"), BAD, ids=[reason for _, reason in BAD])
def test_a_wrong_line_is_refused_with_its_number_and_reason(record: Any, reason: str) -> None:
    line = record if isinstance(record, str) else json.dumps(record)
    text = "\n".join([json.dumps({"signals": SIGNALS}), "", line])
    with pytest.raises(FormatError) as caught:
        read_text(JSONL, text)
    assert str(caught.value).startswith("line 3: ") and reason in str(caught.value)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),
        ('{"signals": [{"type": "md5", "value": "x", "quality": 1' + "0" * 5000 + "}]}", "JSON"),
        ('{"signals": [{"type": "' + "t" * 5000 + '", "value": "x"}]}', "unknown signal type"),
    ],
    ids=["deep", "huge-number", "huge-type-name"],
)
def test_hostile_json_is_a_format_error_not_a_crash(line: str, reason: str) -> None:
    with pytest.raises(FormatError, match=f"^line 1: .*{reason}") as caught:
        read_text(JSONL, line)
    assert len(str(caught.value)) < 300


def test_status_and_provenance_are_read() -> None:
    record = {
        "signals": SIGNALS,
        "status": "disputed",
        "created_by": "org-c",
        "labels": ["a", "a"],
        "inclusion_criterion": "c",
    }
    (got,) = read_text(JSONL, json.dumps(record))
    assert (got.status, got.created_by, got.labels, got.inclusion_criterion) == (
        EntryStatus.DISPUTED,
        "org-c",
        ("a", "a"),
        "c",
    )
