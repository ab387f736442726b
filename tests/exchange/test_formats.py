"""The format registry, and what every format must do with bad input and with a real store."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import pytest

from tessera.errors import FormatError, InputError
from tessera.exchange import formats
from tessera.exchange.formats import (
    MAX_LINE_CHARS,
    BankFormat,
    all_formats,
    get_format,
    guess_format,
    register_format,
)
from tessera.exchange.formats.pytx import TO_PYTX
from tessera.signals.base import Signal
from tessera.store import Store
from tessera.store.records import Entry, EntryStatus, NewEntry
from tests.exchange.strategies import MD5, PDQ, SHA256, read_text, signal_pairs

NAMES = ["csv", "hma", "jsonl", "pytx", "pytx-csv"]
HEADERS = {"csv": "signal_type,signal", "pytx-csv": "signal_type,signal_str,collab,category,tags"}


def data_line(fmt: str, signal_type: str, value: str) -> str:
    """One line of ``fmt`` holding one signal, named as that format names it."""
    theirs = TO_PYTX.get(signal_type, signal_type)
    return {
        "jsonl": json.dumps({"signals": [{"type": signal_type, "value": value}]}),
        "csv": f"{signal_type},{value}",
        "pytx": f"{theirs} {value}",
        "pytx-csv": f"{theirs},{value},collab,POSITIVE_CLASS,",
        "hma": json.dumps({theirs: value}),
    }[fmt]


def file_lines(fmt: str, *data: str) -> list[str]:
    """The lines of a file of ``fmt``: its header, if it has one, then ``data``."""
    return ([HEADERS[fmt]] if fmt in HEADERS else []) + list(data)


# -- the registry ------------------------------------------------------------------------------


def test_the_builtin_formats_are_registered_with_a_description() -> None:
    assert list(all_formats()) == sorted([*NAMES, "stix", "tcap"])  # single-document formats
    for name, fmt in all_formats().items():
        assert fmt.name == name and fmt.description and fmt.extensions
        assert all(ext.startswith(".") and ext == ext.lower() for ext in fmt.extensions)


def test_get_format_by_name_or_a_clear_error() -> None:
    assert get_format(" JSONL ") is all_formats()["jsonl"]
    with pytest.raises(InputError, match=r"unknown format 'xml' \(known: csv, hma, jsonl"):
        get_format("xml")


@pytest.mark.parametrize(
    ("file_name", "expected"),
    [
        ("bank.jsonl", "jsonl"),
        ("BANK.NDJSON", "jsonl"),
        ("bank.csv", "csv"),
        ("bank.pytx.csv", "pytx-csv"),
        ("signals.txt", "pytx"),
        ("bank.hma.jsonl", "hma"),
    ],
)
def test_guess_format_takes_the_longest_extension_that_fits(file_name: str, expected: str) -> None:
    assert guess_format(Path("/some/dir") / file_name).name == expected


@pytest.mark.parametrize("file_name", ["bank.bin", "bank", ".csv"])
def test_guess_format_refuses_what_it_cannot_tell(file_name: str) -> None:
    with pytest.raises(InputError, match="--format"):
        guess_format(Path(file_name))


class _Md5List(BankFormat):
    """A third party's format: one md5 per line."""

    name = "md5-list"
    extensions = (".md5",)
    description = "one md5 per line"

    def read(self, stream: TextIO) -> Iterator[NewEntry]:
        for line in stream:
            yield NewEntry(signals=(Signal("md5", line.strip()),))

    def write(self, entries: Iterable[Entry], stream: TextIO) -> int:
        values = [s.value for e in entries for s in e.signals if s.type == "md5"]
        stream.writelines(f"{v}\n" for v in values)
        return len(values)


def test_a_registered_format_is_found_and_may_not_take_anothers_extension(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(formats, "_formats", dict(all_formats()))
    register_format(_Md5List())
    assert guess_format(Path("x.md5")).name == "md5-list" and "md5-list" in all_formats()
    clash = type("Clash", (_Md5List,), {"name": "clash", "extensions": (".CSV",)})
    with pytest.raises(ValueError, match=r"\.csv belong to 'csv'"):
        register_format(clash())


# -- input every format must refuse clearly, or accept ----------------------------------------


@pytest.mark.parametrize("fmt", NAMES)
@pytest.mark.parametrize("text", ["", "\n", "\r\n\n  \n"])
def test_an_empty_file_is_zero_entries(fmt: str, text: str) -> None:
    assert read_text(get_format(fmt), text) == []


@pytest.mark.parametrize("fmt", sorted(HEADERS))
def test_a_header_only_file_is_zero_entries(fmt: str) -> None:
    assert read_text(get_format(fmt), HEADERS[fmt] + "\r\n") == []


@pytest.mark.parametrize("fmt", NAMES)
def test_signals_are_validated_and_normalised(fmt: str) -> None:
    lines = file_lines(
        fmt, data_line(fmt, "md5", MD5.upper()), data_line(fmt, "sha256", SHA256), ""
    )
    got = read_text(get_format(fmt), "\ufeff" + "\r\n".join(lines))
    assert signal_pairs(got) == [("md5", MD5), ("sha256", SHA256)]


@pytest.mark.parametrize("fmt", NAMES)
def test_a_pdq_signal_reads_as_pdq(fmt: str) -> None:
    got = read_text(get_format(fmt), "\n".join(file_lines(fmt, data_line(fmt, "pdq", PDQ))))
    assert signal_pairs(got) == [("pdq", PDQ)]


@pytest.mark.parametrize("fmt", NAMES)
def test_a_malformed_signal_names_its_line_and_the_reason(fmt: str) -> None:
    lines = file_lines(fmt, data_line(fmt, "md5", MD5), "", data_line(fmt, "md5", "abc123"))
    with pytest.raises(FormatError, match=rf"^line {len(lines)}: .*md5 must be 32 hex"):
        read_text(get_format(fmt), "\n".join(lines))


@pytest.mark.parametrize("fmt", NAMES)
def test_an_unknown_signal_type_names_its_line(fmt: str) -> None:
    lines = file_lines(fmt, data_line(fmt, "md5", MD5), data_line(fmt, "nosuch", MD5))
    with pytest.raises(FormatError, match=rf"^line {len(lines)}: unknown .*signal type 'nosuch'"):
        read_text(get_format(fmt), "\n".join(lines))


@pytest.mark.parametrize("fmt", NAMES)
@pytest.mark.parametrize("errors", ["strict", "surrogateescape"])
def test_bytes_that_are_not_utf8_name_their_line(fmt: str, errors: str, tmp_path: Path) -> None:
    good = data_line(fmt, "md5", MD5)
    lines = [*file_lines(fmt, *[good] * 3000), data_line(fmt, "md5", "@BAD@"), good]
    bad_number = len(lines) - 1  # past the first chunks a text stream decodes at once
    path = tmp_path / "bank"
    path.write_bytes("\n".join(lines).encode().replace(b"@BAD@", b"\xff\xfe"))
    with path.open(encoding="utf-8", newline="", errors=errors) as stream:
        with pytest.raises(FormatError, match=rf"^line {bad_number}: not valid UTF-8"):
            list(get_format(fmt).read(stream))


@pytest.mark.parametrize("fmt", NAMES)
def test_a_line_over_the_limit_is_refused(fmt: str) -> None:
    lines = file_lines(fmt, data_line(fmt, "md5", MD5), "x" * (MAX_LINE_CHARS + 1))
    with pytest.raises(FormatError, match=rf"^line {len(lines)}: longer than the limit"):
        read_text(get_format(fmt), "\n".join(lines))


def test_a_line_of_exactly_the_limit_is_read() -> None:
    line = data_line("pytx", "md5", MD5).ljust(MAX_LINE_CHARS)
    assert len(read_text(get_format("pytx"), f"{line}\r\n{line}")) == 2


class _EndlessLine:
    """A text stream with no line break, ever: a reader must stop at the limit, not hang."""

    def __init__(self) -> None:
        self.handed_out = 0

    def readline(self, size: int = -1) -> str:
        assert size > 0, "readline without a limit would never return"
        self.handed_out += size
        return "a" * size


@pytest.mark.parametrize("fmt", NAMES)
def test_an_endless_line_is_refused_without_reading_it_all(fmt: str) -> None:
    stream = _EndlessLine()
    with pytest.raises(FormatError, match="^line 1: longer than the limit"):
        list(get_format(fmt).read(stream))  # type: ignore[arg-type]
    assert stream.handed_out <= MAX_LINE_CHARS + 2


# -- a real bank out and back in ---------------------------------------------------------------

LOSSLESS = {"jsonl", "csv"}


def _fill(store: Store) -> list[Entry]:
    store.create_bank("src")
    when = datetime(2025, 6, 7, 8, 9, 10, 123456, tzinfo=UTC)
    store.add_entries(
        "src",
        [
            NewEntry(
                signals=(Signal("pdq", PDQ, 87), Signal("md5", MD5)),
                labels=("propaganda", "a;b", "back\\slash", "émigré"),
                inclusion_criterion="violent extremist propaganda",
                source="hotline report",
                note='line one\nline "two", with, commas\r\nthree',
                created_by="org-b",
                created_at=when,
            ),
            NewEntry(signals=(Signal("sha256", SHA256),), status=EntryStatus.DISPUTED),
        ],
    )
    return list(store.iter_entries("src"))


@pytest.mark.parametrize("fmt_name", NAMES)
def test_a_bank_survives_export_delete_and_import(store: Store, fmt_name: str) -> None:
    fmt = get_format(fmt_name)
    before = _fill(store)
    out = io.StringIO(newline="")
    written = fmt.write(store.iter_entries("src"), out)
    store.delete_bank("src")
    store.create_bank("dst")
    result = store.add_entries("dst", fmt.read(io.StringIO(out.getvalue(), newline="")))
    after = list(store.iter_entries("dst"))
    expected = before if fmt.carries_status else [e for e in before if e.status == "active"]
    assert written == len(expected)
    assert len(result.added) == len(after) and not result.duplicates

    def pairs(items: list[Entry]) -> list[set[tuple[str, str]]]:
        return [{(s.type, s.value) for s in e.signals} for e in items]

    if fmt_name.startswith("pytx"):  # one signal per line or row: one entry per signal
        by_signal = {(s.type, s.value): old for old in expected for s in old.signals}
        assert sorted(p for g in pairs(after) for p in g) == sorted(by_signal)
        for new in after:
            (signal,) = new.signals
            old = by_signal[signal.type, signal.value]
            if fmt_name == "pytx-csv":
                assert (new.labels, new.status, new.source) == (old.labels, old.status, "src")
        return
    assert pairs(after) == pairs(expected)
    for old, new in zip(expected, after, strict=True):
        if fmt_name in LOSSLESS:
            assert [s.as_signal() for s in new.signals] == [s.as_signal() for s in old.signals]
            assert (new.uuid, new.labels, new.inclusion_criterion, new.status) == (
                old.uuid,
                old.labels,
                old.inclusion_criterion,
                old.status,
            )
            assert (new.created_by, new.created_at, new.source, new.note) == (
                old.created_by,
                old.created_at,
                old.source,
                old.note,
            )
