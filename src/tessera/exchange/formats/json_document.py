"""Reading a bank file that is one JSON document (``tcap``, ``stix``) rather than one per line.

Such a file cannot be read a line at a time, so it is read whole, with limits that keep a hostile
file from exhausting the node:

1. at most ``MAX_DOCUMENT_CHARS`` characters are read (``stream.read(limit + 1)``), so a larger
   file is refused after reading just past the limit, never held whole;
2. bytes that are not UTF-8 (a strict stream's UnicodeDecodeError, or a ``surrogateescape``
   stream's stand-ins) are refused, naming their line;
3. ``json.loads`` parses it; a syntax error names its line and column, nesting deeper than
   Python's recursion limit (about 1,000 levels; real files need 6) and integers past Python's
   digit limit are refused;
4. the format then walks the parsed document and wraps each item's InputError with ``at_item``,
   so every error says which item of the file is wrong ("item 7: …").
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TextIO

from tessera.errors import FormatError, InputError
from tessera.exchange.formats.base import json_type, shown

MAX_DOCUMENT_CHARS = 64 * 1024 * 1024
"""The largest single-document bank file (characters) read; split bigger lists, or use jsonl."""

_UNDECODABLE = re.compile("[\udc80-\udcff]")


def read_document(stream: TextIO, limit: int = MAX_DOCUMENT_CHARS) -> Any:
    """The one JSON document ``stream`` holds, or None for a blank file; FormatError otherwise."""
    try:
        text = stream.read(limit + 1)
    except UnicodeDecodeError as e:
        line = 1 + bytes(e.object[: e.start]).count(b"\n")
        raise FormatError(f"line {line}: not valid UTF-8 text") from e
    if len(text) > limit:
        raise FormatError(f"the file is longer than the limit of {limit} characters")
    text = text.removeprefix("\ufeff")
    bad = _UNDECODABLE.search(text)
    if bad:
        raise FormatError(f"line {_line_of(text, bad.start())}: not valid UTF-8 text")
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except RecursionError:
        raise FormatError("JSON nested too deeply") from None
    except json.JSONDecodeError as e:
        raise FormatError(f"line {e.lineno}, column {e.colno}: not valid JSON ({e.msg})") from None
    except ValueError as e:  # an integer past Python's digit limit
        raise FormatError(f"not valid JSON ({e})") from None


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


@contextmanager
def at_item(label: str) -> Iterator[None]:
    """Re-raise an InputError from the block as FormatError naming the item ``label``."""
    try:
        yield
    except FormatError:
        raise
    except InputError as e:
        raise FormatError(f"{label}: {e}") from e


def check_object(what: str, value: object) -> dict[str, Any]:
    """``value`` as a JSON object; InputError naming ``what`` otherwise."""
    if not isinstance(value, dict):
        raise InputError(f"{what} must be a JSON object, not {json_type(value)}")
    return value


def check_list(what: str, value: object) -> list[Any]:
    """``value`` as a JSON array; InputError naming ``what`` otherwise."""
    if not isinstance(value, list):
        raise InputError(f"{what} must be a list, not {json_type(value)}")
    return value


def check_fields(what: str, record: dict[str, Any], allowed: frozenset[str]) -> None:
    """Refuse fields outside ``allowed``, so a misspelt one is an error, not lost data."""
    unknown = sorted(set(record) - allowed)
    if unknown:
        listed = ", ".join(map(shown, unknown[:5])) + (", ..." if len(unknown) > 5 else "")
        raise InputError(f"unknown field(s) in {what}: {listed}")


def check_timestamp(field: str, value: object) -> datetime:
    """An RFC 3339 / ISO 8601 time with an offset (``Z`` included), as an aware datetime."""
    if not isinstance(value, str) or len(value) > 64:
        raise InputError(f"{field} must be an ISO 8601 time, got {shown(value)}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(f"{field} must be an ISO 8601 time, got {shown(value)}") from None
    if moment.tzinfo is None:
        raise InputError(f"{field} needs a UTC offset such as Z, got {shown(value)}")
    return moment


def utc_timestamp(moment: datetime) -> str:
    """``moment`` in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (naive times are the store's UTC)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
