"""The bank format contract, and the careful reading every format shares.

A bank format turns a file into entries to add (``read``) and a bank's entries into a file
(``write``). Reading an untrusted file goes:

1. ``numbered_lines`` pulls one line at a time with ``readline(limit)``, so a line longer than
   ``MAX_LINE_CHARS`` is refused after reading just past the limit, never held whole; bytes that
   are not UTF-8 are reported with the line they are on (see ``_failed_line``);
2. a format parses the line (``csv_records`` for the CSV formats) into fields, checking their types
   with the ``check_*`` helpers;
3. every signal goes through its signal type's ``validate`` (``make_signal``), so only normalised
   signals reach the store;
4. any InputError raised while parsing a line becomes ``FormatError("line N: reason")``
   (``at_line``).

Readers are lazy generators: the store consumes them inside one transaction, so a bad line
anywhere leaves the bank as it was.
"""

from __future__ import annotations

import csv
import json
import re
import uuid
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, ClassVar, TextIO

from tessera.errors import FormatError, InputError, UnknownSignalType
from tessera.signals.base import Signal
from tessera.signals.registry import get_signal_type
from tessera.store.records import Entry, EntryStatus, NewEntry

MAX_LINE_CHARS = 1024 * 1024
"""The longest line (in characters, without its line break) any format reads."""

CREATED_BY_MAX_CHARS = 200  # the store's column width
_TYPE_NAME_MAX_CHARS = 100

# ``errors="surrogateescape"`` streams turn each undecodable byte into one of these.
_UNDECODABLE = re.compile("[\udc80-\udcff]")
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")


class BankFormat(ABC):
    """One file format for a bank's entries. Instances are stateless and shared."""

    name: ClassVar[str]
    """Storage and CLI key (``--format``), lower-case, never renamed."""
    extensions: ClassVar[tuple[str, ...]]
    """File name endings that select this format when none is given, e.g. ``(".jsonl",)``."""
    description: ClassVar[str]
    carries_status: ClassVar[bool] = True
    """False when the layout has no place for status: ``write`` then skips disputed and retired
    entries, because a file that cannot mark an entry as contested must not carry it."""

    @abstractmethod
    def read(self, stream: TextIO) -> Iterator[NewEntry]:
        """Parse entries lazily; FormatError("line N: reason") on the first bad line."""

    @abstractmethod
    def write(self, entries: Iterable[Entry], stream: TextIO) -> int:
        """Write entries to ``stream``; returns how many entries were written."""


def numbered_lines(stream: TextIO, limit: int = MAX_LINE_CHARS) -> Iterator[tuple[int, str]]:
    """Each line of ``stream`` with its number (from 1), line break kept; refuses bad lines."""
    number = 0
    while True:
        number += 1
        try:
            # +2 leaves room for "\r\n", so a line of exactly ``limit`` characters still fits.
            line = stream.readline(limit + 2)
        except UnicodeDecodeError as e:
            raise FormatError(f"line {_failed_line(number, e)}: not valid UTF-8 text") from e
        if not line:
            return
        if number == 1 and line.startswith("\ufeff"):
            line = line[1:]  # the byte-order mark spreadsheet programs put first
        body = line.rstrip("\r\n")
        if len(body) > limit:
            raise FormatError(f"line {number}: longer than the limit of {limit} characters")
        if _UNDECODABLE.search(body):
            raise FormatError(f"line {number}: not valid UTF-8 text")
        yield number, line


def _failed_line(number: int, error: UnicodeDecodeError) -> int:
    """The line holding the undecodable byte of a strict stream, while reading line ``number``.

    A text stream decodes in chunks, and fails only when it needs the next chunk; everything
    before that chunk was returned already, or is the start of line ``number``. So the bad byte is
    ``number`` plus the line breaks that precede it in the chunk.
    """
    before = bytes(error.object[: error.start])
    return number + len(_LINE_BREAK.findall(before))


@contextmanager
def at_line(number: int) -> Iterator[None]:
    """Re-raise an InputError from the block as FormatError naming line ``number``."""
    try:
        yield
    except FormatError:
        raise
    except InputError as e:
        raise FormatError(f"line {number}: {e}") from e


def csv_records(
    stream: TextIO, known: Sequence[str], required: Sequence[str]
) -> Iterator[tuple[int, dict[str, str]]]:
    """Each record after the header row, as (its first line number, {column: value}).

    Columns may come in any order; ``required`` ones must be present, others outside ``known``
    are refused. Blank rows are skipped; a record may span lines inside quotes.
    """
    reader = csv.reader((line for _, line in numbered_lines(stream)), strict=True)
    header: list[str] | None = None
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader, None)
        except csv.Error as e:
            raise FormatError(f"line {reader.line_num}: {e}") from e
        if row is None:
            return
        if not any(field.strip() for field in row):
            continue  # a blank line, or a row of empty cells
        if header is None:
            with at_line(start):
                header = _check_header(row, known, required)
            continue
        if len(row) != len(header):
            raise FormatError(f"line {start}: {len(row)} fields, but the header has {len(header)}")
        yield start, dict(zip(header, row, strict=True))


def _check_header(row: list[str], known: Sequence[str], required: Sequence[str]) -> list[str]:
    header = [name.strip() for name in row]
    if not set(header) & set(known):
        raise InputError(f"the first row must be a header naming the columns: {', '.join(known)}")
    unknown = [name for name in header if name not in known]
    if unknown:
        listed = ", ".join(map(shown, unknown[:5])) + (", ..." if len(unknown) > 5 else "")
        raise InputError(f"unknown column(s) {listed} (known: {', '.join(known)})")
    repeated = sorted(name for name, n in Counter(header).items() if n > 1)
    if repeated:
        raise InputError(f"column(s) named twice: {', '.join(repeated)}")
    missing = [name for name in required if name not in header]
    if missing:
        raise InputError(f"missing column(s) {', '.join(missing)}")
    return header


def load_json(line: str) -> Any:
    """One line parsed as JSON; InputError when it is not JSON."""
    try:
        return json.loads(line)
    except RecursionError:
        raise InputError("JSON nested too deeply") from None
    except json.JSONDecodeError as e:
        raise InputError(f"not valid JSON ({e.msg} at character {e.pos + 1})") from None
    except ValueError as e:  # an integer past Python's digit limit
        raise InputError(f"not valid JSON ({e})") from None


def make_signal(type_name: str, value: str, quality: int | None = None) -> Signal:
    """A signal validated and normalised by its signal type (InvalidSignal, UnknownSignalType)."""
    if len(type_name) > _TYPE_NAME_MAX_CHARS:  # keeps a junk name out of the error message
        raise UnknownSignalType(f"unknown signal type {shown(type_name)}")
    signal_type = get_signal_type(type_name)
    return Signal(signal_type.name, signal_type.validate(value), quality)


def shown(value: object, width: int = 60) -> str:
    """``repr(value)`` cut to ``width`` characters, for error messages about untrusted input."""
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def json_type(value: object) -> str:
    """The JSON name of a parsed value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def check_text(field: str, value: object, max_chars: int | None = None) -> str:
    """``value`` as a text field: a string, without NUL, at most ``max_chars`` long."""
    if not isinstance(value, str):
        raise InputError(f"{field} must be a string, not {json_type(value)}")
    if "\x00" in value:
        raise InputError(f"{field} contains a NUL character")
    if max_chars is not None and len(value) > max_chars:
        raise InputError(f"{field} is longer than {max_chars} characters")
    return value


def check_label(value: object) -> str:
    """A label: a non-blank string."""
    label = check_text("a label", value)
    if not label.strip():
        raise InputError("a label must not be blank")
    return label


def check_quality(value: object) -> int | None:
    """A signal's quality: a whole number 0-100, or None."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
        raise InputError(f"quality must be a whole number from 0 to 100, got {shown(value)}")
    return value


def check_uuid(value: str) -> str:
    """An entry uuid in its canonical form."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InputError(f"uuid must be a UUID, got {shown(value)}") from None


def check_created_at(value: str) -> datetime:
    """An ISO 8601 time with a UTC offset."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"created_at must be an ISO 8601 time, got {shown(value)}") from None
    if moment.tzinfo is None:
        raise InputError(f"created_at needs a UTC offset such as +00:00, got {shown(value)}")
    return moment


def check_status(value: str) -> EntryStatus:
    """An entry status by its storage key."""
    try:
        return EntryStatus(value)
    except ValueError:
        known = ", ".join(s.value for s in EntryStatus)
        raise InputError(f"status must be one of {known}, got {shown(value)}") from None


def format_created_at(entry: Entry) -> str:
    """An entry's creation time as ISO 8601 with its offset (naive times are the store's UTC)."""
    moment = entry.created_at
    return moment.isoformat() if moment.tzinfo else moment.isoformat() + "+00:00"


def active_only(entries: Iterable[Entry]) -> Iterator[Entry]:
    """The active entries: all that a format without status may carry."""
    return (e for e in entries if e.status is EntryStatus.ACTIVE)
