"""Bank file formats, found by name (``--format``) or by a file's extension.

A format reads a file into ``NewEntry`` records for ``Store.add_entries`` and writes a bank's
``Entry`` records out (``BankFormat`` in ``base``). Built in:

    name      extensions          layout
    jsonl     .jsonl .ndjson      Tessera's own, lossless: one JSON entry per line
    csv       .csv                one row per signal; rows sharing entry_uuid form one entry
    pytx      .txt                python-threatexchange signal file: "<signal_type> <signal>"
    pytx-csv  .pytx.csv           python-threatexchange "dataset -P --csv"
    hma       .hma.jsonl          HMA bank content: one POST /c/bank/NAME/signal body per line
    tcap      .tcap.json          TCAP's hash list (Content Hash List API v2 page), a hash a record
    stix      .stix.json          STIX 2.1 bundle: one indicator per signal, file-hash patterns

The flow of ``tessera bank import NAME FILE [--format F]``:

1. ``get_format(F)``, or ``guess_format(FILE)`` by the longest extension that fits;
2. the service opens FILE as UTF-8 with ``newline=""`` and hands the text stream to ``read``;
3. ``read`` yields entries lazily, each signal validated by its signal type, and raises
   FormatError("line N: reason") at the first bad line (the single-document formats, tcap and
   stix, read the file whole within limits and name the item: "item N: reason"); the store
   adds all or nothing.

Export is the reverse: ``write`` takes the bank's entries and returns how many it wrote (formats
that cannot mark an entry as disputed or retired write only the active ones).
"""

from __future__ import annotations

from pathlib import Path

from tessera.errors import InputError
from tessera.exchange.formats.base import MAX_LINE_CHARS, BankFormat
from tessera.exchange.formats.csv_table import CsvFormat
from tessera.exchange.formats.hma import HmaFormat
from tessera.exchange.formats.jsonl import JsonlFormat
from tessera.exchange.formats.pytx import PytxCsvFormat, PytxSignalFormat
from tessera.exchange.formats.stix import StixFormat
from tessera.exchange.formats.tcap import TcapFormat

__all__ = [
    "MAX_LINE_CHARS",
    "BankFormat",
    "all_formats",
    "get_format",
    "guess_format",
    "register_format",
]

_formats: dict[str, BankFormat] = {}


def register_format(fmt: BankFormat) -> None:
    """Add a format (or replace one of the same name); ValueError if an extension is taken."""
    for other in _formats.values():
        if other.name == fmt.name:
            continue
        shared = {e.lower() for e in other.extensions} & {e.lower() for e in fmt.extensions}
        if shared:
            taken = ", ".join(sorted(shared))
            raise ValueError(f"format {fmt.name!r}: extension(s) {taken} belong to {other.name!r}")
    _formats[fmt.name] = fmt


def all_formats() -> dict[str, BankFormat]:
    """Every registered format by name, in a stable order."""
    return dict(sorted(_formats.items()))


def _known() -> str:
    return ", ".join(all_formats())


def get_format(name: str) -> BankFormat:
    """The format called ``name``; InputError lists the known ones otherwise."""
    fmt = _formats.get(name.strip().lower())
    if fmt is None:
        raise InputError(f"unknown format {name!r} (known: {_known()})")
    return fmt


def guess_format(path: Path) -> BankFormat:
    """The format whose extension ends ``path``'s name (the longest one that fits)."""
    file_name = path.name.lower()
    fits = [
        (len(ext), fmt)
        for fmt in _formats.values()
        for ext in fmt.extensions
        if file_name.endswith(ext.lower()) and len(file_name) > len(ext)
    ]
    if not fits:
        raise InputError(
            f"cannot tell the format of {path.name!r} from its extension; give one with "
            f"--format ({_known()})"
        )
    return max(fits, key=lambda fit: fit[0])[1]


for _builtin in (
    JsonlFormat(),
    CsvFormat(),
    PytxSignalFormat(),
    PytxCsvFormat(),
    HmaFormat(),
    TcapFormat(),
    StixFormat(),
):
    register_format(_builtin)
