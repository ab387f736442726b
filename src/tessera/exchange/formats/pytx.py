"""python-threatexchange's bank files: the simple signal file (``pytx``) and its CSV (``pytx-csv``).

Both name signal types as python-threatexchange (pytx) does, which is also how Meta's HMA names
them. The names that are the same algorithm and the same value format in both (checked against
threatexchange 1.2: ``signal_type/pdq/signal.py``, ``md5.py``, ``sha256.py``) map both ways:

    pytx            Tessera     what it is
    pdq             pdq         PDQ photo hash, 64 hex characters
    video_md5       md5         MD5 of the file's bytes (pytx files it under video; it is any file)
    video_sha256    sha256      SHA-256 of the file's bytes

Any other pytx name (``url_md5``, ``raw_text``, ``vpdq`` …) is refused on import, naming the
line, and a Tessera type without a pytx twin is refused on export; a new pair joins the table
once its value format has been checked to be the same.

``pytx`` — one ``<signal_type> <signal>`` per line, as read by pytx's
``exchanges/impl/file_api.py`` (``LocalFileSignalExchangeAPI``, the ``local_file`` collab) and
printed by ``threatexchange dataset -P -S``. Blank lines and surrounding whitespace are skipped,
as pytx does. A line is one entry with one signal; there is nowhere for labels or provenance.

``pytx-csv`` — what ``threatexchange dataset -P --csv`` prints (``cli/dataset_cmd.py``): a header
and ``signal_type,signal_str,collab,category,tags``, one row per signal and collaboration, tags
space-separated. Import: ``tags`` → labels, ``collab`` → source, ``category`` → status (below)
and, verbatim, into the note as ``pytx category: NAME``. Export: one row per signal, ``collab`` =
the bank's name, labels → tags (a label with whitespace cannot be a tag: an error).

    pytx category (aggregate)           Tessera status
    POSITIVE_CLASS, INVESTIGATION_SEED  active     (export writes POSITIVE_CLASS)
    DISPUTED                            disputed
    NEGATIVE_CLASS                      retired    (pytx: false positive or test data)
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import TextIO

from tessera.errors import InputError
from tessera.exchange.formats.base import (
    BankFormat,
    active_only,
    at_line,
    check_label,
    check_text,
    csv_records,
    make_signal,
    numbered_lines,
    shown,
)
from tessera.signals.base import Signal
from tessera.store.records import Entry, EntryStatus, NewEntry

TO_PYTX: dict[str, str] = {"pdq": "pdq", "md5": "video_md5", "sha256": "video_sha256"}
FROM_PYTX: dict[str, str] = {pytx: ours for ours, pytx in TO_PYTX.items()}

CATEGORY_STATUS: dict[str, EntryStatus] = {
    "POSITIVE_CLASS": EntryStatus.ACTIVE,
    "INVESTIGATION_SEED": EntryStatus.ACTIVE,
    "DISPUTED": EntryStatus.DISPUTED,
    "NEGATIVE_CLASS": EntryStatus.RETIRED,
}
STATUS_CATEGORY: dict[EntryStatus, str] = {
    EntryStatus.ACTIVE: "POSITIVE_CLASS",
    EntryStatus.DISPUTED: "DISPUTED",
    EntryStatus.RETIRED: "NEGATIVE_CLASS",
}
CSV_COLUMNS = ("signal_type", "signal_str", "collab", "category", "tags")


def pytx_signal(pytx_type: str, value: str) -> Signal:
    """A signal named the pytx way (``video_md5``), as a validated Tessera signal (``md5``)."""
    ours = FROM_PYTX.get(pytx_type)
    if ours is None:
        known = ", ".join(sorted(FROM_PYTX))
        raise InputError(f"unknown python-threatexchange signal type {shown(pytx_type)} ({known})")
    return make_signal(ours, value)


def pytx_name(entry: Entry, signal_type: str) -> str:
    """The pytx name of one of ``entry``'s signal types; InputError when pytx has none."""
    name = TO_PYTX.get(signal_type)
    if name is None:
        raise InputError(
            f"entry {entry.uuid} has a {signal_type} signal, which python-threatexchange and HMA "
            f"have no name for (they take: {', '.join(sorted(TO_PYTX))}); export it as jsonl"
        )
    return name


class PytxSignalFormat(BankFormat):
    """pytx's simple signal file: ``<signal_type> <signal>`` per line."""

    name = "pytx"
    extensions = (".txt",)
    description = "python-threatexchange signal file: '<signal_type> <signal>' per line"
    carries_status = False

    def read(self, stream: TextIO) -> Iterator[NewEntry]:
        """One entry per non-blank line; FormatError("line N: reason") on the first bad one."""
        for number, line in numbered_lines(stream):
            text = line.strip()
            if not text:
                continue
            with at_line(number):
                parts = text.split(None, 1)
                if len(parts) != 2:
                    raise InputError(f"expected '<signal_type> <signal>', got {shown(text)}")
                entry = NewEntry(signals=(pytx_signal(parts[0], parts[1].strip()),))
            yield entry

    def write(self, entries: Iterable[Entry], stream: TextIO) -> int:
        """One line per signal of each active entry; returns how many entries were written."""
        n = 0
        for entry in active_only(entries):
            lines = [f"{pytx_name(entry, s.type)} {s.value}\n" for s in entry.signals]
            stream.writelines(lines)
            n += 1 if lines else 0
        return n


class PytxCsvFormat(BankFormat):
    """The CSV of ``threatexchange dataset -P --csv``: one row per signal."""

    name = "pytx-csv"
    extensions = (".pytx.csv",)
    description = "python-threatexchange 'dataset -P --csv': signal_type,signal_str,collab,..."

    def read(self, stream: TextIO) -> Iterator[NewEntry]:
        """One entry per row; FormatError("line N: reason") on the first bad one."""
        for number, row in csv_records(stream, CSV_COLUMNS, ("signal_type", "signal_str")):
            with at_line(number):
                entry = _csv_entry(row)
            yield entry

    def write(self, entries: Iterable[Entry], stream: TextIO) -> int:
        """The header, then one row per signal; returns how many entries were written."""
        writer = csv.writer(stream)
        writer.writerow(CSV_COLUMNS)
        n = 0
        for entry in entries:
            tags = " ".join(_tag(entry, label) for label in entry.labels)
            category = STATUS_CATEGORY[entry.status]
            for s in entry.signals:
                writer.writerow(
                    [pytx_name(entry, s.type), s.value, entry.bank_name, category, tags]
                )
            n += 1 if entry.signals else 0
        return n


def _csv_entry(row: dict[str, str]) -> NewEntry:
    signal = pytx_signal(row["signal_type"].strip(), row["signal_str"])
    category = row.get("category", "").strip().upper()
    if category and category not in CATEGORY_STATUS:
        known = ", ".join(CATEGORY_STATUS)
        raise InputError(f"category must be one of {known}, got {shown(category)}")
    return NewEntry(
        signals=(signal,),
        labels=tuple(check_label(tag) for tag in row.get("tags", "").split()),
        source=check_text("collab", row.get("collab", "")).strip(),
        note=f"pytx category: {category}" if category else "",
        status=CATEGORY_STATUS.get(category, EntryStatus.ACTIVE),
    )


def _tag(entry: Entry, label: str) -> str:
    if not label or any(ch.isspace() for ch in label):
        raise InputError(
            f"entry {entry.uuid}: label {shown(label)} cannot be a pytx tag "
            "(tags are separated by spaces)"
        )
    return label
