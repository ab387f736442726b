"""``csv``: lossless round trips, rows grouped into entries, and clear errors for bad tables."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tessera.errors import FormatError, InputError
from tessera.exchange.formats import get_format
from tessera.exchange.formats.csv_table import COLUMNS, join_labels, split_labels
from tessera.signals.base import Signal
from tessera.store.records import Entry, EntryStatus
from tests.exchange.strategies import (
    MD5,
    PDQ,
    SHA256,
    as_new,
    entries,
    entry,
    labels,
    read_text,
    round_trip,
)

CSV = get_format("csv")
U1 = "0b6f8e9a-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
U2 = "1c7a9fab-2d3e-4f60-9bac-1d2e3f4a5b6c"


@settings(max_examples=200)
@given(st.lists(entries(), max_size=5, unique_by=lambda e: e.uuid))  # as in a store
def test_every_field_survives_write_then_read(items: list[Entry]) -> None:
    n, _, got = round_trip(CSV, items)
    assert n == len(items)
    assert got == [as_new(e) for e in items]
    assert [g.created_at.isoformat() for g in got if g.created_at] == [
        e.created_at.isoformat() for e in items
    ]


@given(labels)
def test_labels_survive_joining_and_splitting(values: tuple[str, ...]) -> None:
    assert split_labels(join_labels(values)) == values


def test_labels_escape_only_semicolon_and_backslash() -> None:
    assert join_labels(["a;b", "c\\d", "é f"]) == "a\\;b;c\\\\d;é f"
    assert split_labels("") == ()
    for cell, reason in [("a\\b", "backslash must be"), ("a;;b", "blank"), ("a\\", "backslash")]:
        with pytest.raises(InputError, match=reason):
            split_labels(cell)


def test_an_export_is_one_row_per_signal_under_the_header() -> None:
    e = entry(("pdq", PDQ), ("md5", MD5), labels=("x", "y;z"), note='say "hi",\nbye')
    _, text, _ = round_trip(CSV, [e])
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == list(COLUMNS)
    assert [r[:4] for r in rows[1:]] == [[e.uuid, "pdq", PDQ, ""], [e.uuid, "md5", MD5, ""]]
    assert (
        rows[1][4:]
        == rows[2][4:]
        == [
            "x;y\\;z",
            "",
            "active",
            "org-a",
            "2026-01-02T03:04:05+00:00",
            "",
            'say "hi",\nbye',
        ]
    )


def test_rows_sharing_a_uuid_form_one_entry_and_rows_without_one_stand_alone() -> None:
    text = (
        "signal,signal_type,entry_uuid,labels,status\n"
        f"{PDQ},pdq,{U1},a;b,disputed\n"
        f"{MD5},md5,{U1.upper()},a;b,disputed\n"
        f"{SHA256},sha256,,,\n"
        f"{MD5},md5,,c,\n"
        f"{SHA256},sha256,{U2},,retired\n"
    )
    got = read_text(CSV, text)
    assert [(e.uuid, e.signals, e.labels, e.status) for e in got] == [
        (U1, (Signal("pdq", PDQ), Signal("md5", MD5)), ("a", "b"), EntryStatus.DISPUTED),
        (None, (Signal("sha256", SHA256),), (), EntryStatus.ACTIVE),
        (None, (Signal("md5", MD5),), ("c",), EntryStatus.ACTIVE),
        (U2, (Signal("sha256", SHA256),), (), EntryStatus.RETIRED),
    ]


def test_entries_come_out_before_the_file_ends() -> None:
    rows = "".join(f"md5,{i:032x}\n" for i in range(1, 4))
    reader = CSV.read(io.StringIO("signal_type,signal\n" + rows + "md5,bad\n"))
    assert [next(reader).signals for _ in range(3)] == [
        (Signal("md5", f"{i:032x}"),) for i in range(1, 4)
    ]
    with pytest.raises(FormatError, match="^line 5: "):
        next(reader)


def test_a_quoted_note_over_several_lines_keeps_the_line_numbers_right() -> None:
    text = f'signal_type,signal,note\nmd5,{MD5},"one\r\ntwo\rthree"\nmd5,{MD5},ok\nmd5,bad,x\n'
    with pytest.raises(FormatError, match="^line 6: "):  # a lone CR ends a line too
        read_text(CSV, text)
    (first, _) = read_text(CSV, text.rsplit("md5,bad", 1)[0])
    assert first.note == "one\r\ntwo\rthree"


BAD = [
    ("md5," + MD5, "line 1: the first row must be a header naming the columns: entry_uuid,"),
    ("signal_type,signal,hash", "line 1: unknown column(s) 'hash' (known: entry_uuid,"),
    ("signal_type,signal_str,collab", "line 1: unknown column(s) 'signal_str', 'collab'"),
    ("signal_type,labels", "line 1: missing column(s) signal"),
    ("signal_type,signal,signal", "line 1: column(s) named twice: signal"),
    (f"signal_type,signal\nmd5,{MD5},extra", "line 2: 3 fields, but the header has 2"),
    ("signal_type,signal\nmd5", "line 2: 1 fields, but the header has 2"),
    (f'signal_type,signal\nmd5,"{MD5}', "line 2: unexpected end of data"),
    (f'signal_type,signal\nmd5,"{MD5}"x', "line 2: ',' expected after '\"'"),
    (f"signal_type,signal,quality\nmd5,{MD5},high", "line 2: quality must be a whole number"),
    (f"signal_type,signal,quality\nmd5,{MD5},101", "line 2: quality must be a whole number"),
    (f"signal_type,signal,status\nmd5,{MD5},gone", "line 2: status must be one of active,"),
    (f"signal_type,signal,created_at\nmd5,{MD5},2026-01-01", "line 2: created_at needs a UTC"),
    (f"signal_type,signal,entry_uuid\nmd5,{MD5},nope", "line 2: uuid must be a UUID"),
    (f"signal_type,signal,labels\nmd5,{MD5},a\\b", "line 2: in labels, a backslash must be"),
    (f"signal_type,signal,note\nmd5,{MD5},a\x00b", "line 2: note contains a NUL"),
    (
        f"entry_uuid,signal_type,signal\n{U1},md5,{MD5}\n{U2},md5,{MD5}\n{U1},pdq,{PDQ}",
        f"line 4: entry {U1} appeared on earlier rows; the rows of one entry must be consecutive",
    ),
    (
        f"entry_uuid,signal_type,signal,note\n{U1},md5,{MD5},a\n{U1},pdq,{PDQ},b",
        f"line 3: entry {U1}: the entry columns (labels, inclusion_criterion, status, created_by,"
        " created_at, source, note) differ from its first row on line 2",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[m[:40] for _, m in BAD])
def test_a_bad_table_is_refused_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(FormatError) as caught:
        read_text(CSV, text)
    assert str(caught.value).startswith(message)


def test_an_oversized_field_is_a_format_error() -> None:
    huge = "x" * (csv.field_size_limit() + 1)
    with pytest.raises(FormatError, match="^line 2: field larger than field limit"):
        read_text(CSV, f'signal_type,signal,note\nmd5,{MD5},"{huge}"\n')
