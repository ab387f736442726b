"""``hma``: bank content for Meta's Hasher-Matcher-Actioner (HMA 2.x, "Open Media Match").

HMA has no bank file import or export. Its curation API (facebook/ThreatExchange,
``hasher-matcher-actioner/src/OpenMediaMatch/blueprints/curation.py``) adds one content item per
request, and that request's JSON body is the unit a bank moves in:

- ``POST /c/bank/<bank>/signal`` with ``{"<signal_type>": "<signal>", ...}``
  (``bank_add_as_signals`` → ``_bank_add_signals``): one content item holding one signal per
  type, types named as pytx names them (``pdq``, ``video_md5``), each checked with pytx's
  ``validate_signal_str``.
- ``GET /c/bank/<bank>/content/<id>?include_signals=true`` (``bank_get_content``) answers with
  the item: ``{"id": 7, "disable_until_ts": 1, "bank": {"name": "..."}, "signals": {...}, ...}``
  (``schemas/curation.py``, ``BankContentResponse``; newer versions add ``note``).

Its only other bulk path is an exchange: HMA fetches banks through the pytx exchange APIs listed
in its config (``reference_omm_configs/development_omm_config.py``: sample, ThreatExchange, NCMEC,
StopNCII). A deployment that adds pytx's ``LocalFileSignalExchangeAPI`` (``local_file``) can
fetch a ``pytx`` signal file, one signal per line; this format keeps an entry's signals together.

Layout: JSON Lines. Export writes one request body per active entry, so moving a bank into HMA is
``while read -r body; do curl -X POST -H 'Content-Type: application/json' -d "$body"
$HMA/c/bank/NAME/signal; done < bank.hma.jsonl``. Import takes lines of either shape: a body, or
a content item answered by the GET above (source ``HMA bank NAME, content ID``; a
``disable_until_ts`` of 0, HMA's "disabled", becomes status retired; its ``note`` is kept).
Signal type names map as in ``formats.pytx``; HMA has no labels, so none travel.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from tessera.errors import InputError
from tessera.exchange.formats.base import (
    BankFormat,
    active_only,
    at_line,
    check_text,
    json_type,
    load_json,
    numbered_lines,
    shown,
)
from tessera.exchange.formats.pytx import pytx_name, pytx_signal
from tessera.signals.base import Signal
from tessera.store.records import Entry, EntryStatus, NewEntry

_DISABLED = 0  # HMA's BankContentConfig.DISABLED; 1 is ENABLED, larger is "disabled until"


class HmaFormat(BankFormat):
    """HMA's bank content JSON: one ``{signal_type: signal}`` object per line."""

    name = "hma"
    extensions = (".hma.jsonl",)
    description = "HMA bank content: one JSON body of POST /c/bank/NAME/signal per line"
    carries_status = False

    def read(self, stream: TextIO) -> Iterator[NewEntry]:
        """One entry per non-blank line; FormatError("line N: reason") on the first bad one."""
        for number, line in numbered_lines(stream):
            if not line.strip():
                continue
            with at_line(number):
                entry = parse_content(load_json(line))
            yield entry

    def write(self, entries: Iterable[Entry], stream: TextIO) -> int:
        """One request body per active entry; returns how many entries were written."""
        n = 0
        for entry in active_only(entries):
            body: dict[str, str] = {}
            for s in entry.signals:
                name = pytx_name(entry, s.type)
                if name in body:
                    raise InputError(
                        f"entry {entry.uuid} has two {s.type} signals; "
                        "an HMA content item holds one per signal type"
                    )
                body[name] = s.value
            if body:
                stream.write(json.dumps(body) + "\n")
                n += 1
        return n


def parse_content(record: Any) -> NewEntry:
    """The entry a request body or a content item stands for; InputError says what is wrong."""
    if not isinstance(record, dict):
        raise InputError(f"a content item must be a JSON object, not {json_type(record)}")
    if not isinstance(record.get("signals"), dict):
        return NewEntry(signals=_signals(record))
    source, status = _provenance(record)
    note = record.get("note")
    return NewEntry(
        signals=_signals(record["signals"]),
        source=source,
        note="" if note is None else check_text("note", note),
        status=status,
    )


def _signals(by_type: dict[Any, Any]) -> tuple[Signal, ...]:
    if not by_type:
        raise InputError("a content item needs at least one signal")
    out: list[Signal] = []
    for pytx_type, value in by_type.items():
        if not isinstance(value, str):
            raise InputError(
                f"the {shown(pytx_type)} signal must be a string, not {json_type(value)}"
            )
        out.append(pytx_signal(pytx_type, value))
    return tuple(out)


def _provenance(item: dict[str, Any]) -> tuple[str, EntryStatus]:
    """Where a content item came from (as ``source``), and its status."""
    bank = item.get("bank")
    bank_name = bank.get("name") if isinstance(bank, dict) else None
    content_id = item.get("id")
    parts = []
    if isinstance(bank_name, str) and bank_name:
        parts.append(f"bank {check_text('bank name', bank_name, 200)}")
    if isinstance(content_id, int) and not isinstance(content_id, bool):
        parts.append(f"content {content_id}")
    source = "HMA " + ", ".join(parts) if parts else "HMA"
    until = item.get("disable_until_ts")
    disabled = isinstance(until, int) and not isinstance(until, bool) and until == _DISABLED
    return source, EntryStatus.RETIRED if disabled else EntryStatus.ACTIVE
