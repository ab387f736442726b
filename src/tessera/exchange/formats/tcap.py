"""``tcap``: the hash list of Tech Against Terrorism's Terrorist Content Analytics Platform (TCAP).

TCAP publishes no schema file. The shape here is the one its Content Hash List API v2 answers
(``GET /api/hash-list/v2/all``, documented at terrorismanalytics.org/docs/hash-list-v2) as
python-threatexchange's client reads it (``threatexchange/exchanges/clients/techagainstterrorism/
api.py``: ``TATHashListResponse``, ``TATHashListEntry``; checked against threatexchange 1.2.17):
a page of records, one hash each::

    {"count": 3, "next": "https://…?limit=1000&offset=1000", "previous": null,
     "checkpoint": "1724856487.709035,10594",
     "results": [{"id": 2821, "hash_digest": "f8f8…", "algorithm": "PDQ",
                  "ideology": "Islamist", "file_type": "png", "deleted": false,
                  "updated_on": 1704901040.24496, "created_on": "2024-01-10T15:37:20+00:00"}]}

Algorithms: TCAP hashes with ``MD5``, ``SHA256``, ``SHA512`` and ``PDQ`` (its hash verification
API adds ``TMK``). ``MD5``, ``SHA256`` and ``PDQ`` map to ``md5``, ``sha256`` and ``pdq``.
``SHA512`` and ``TMK`` records are skipped on import, as python-threatexchange skips what it has
no signal type for: Tessera has none for them, and a real TCAP page mixes them with the others
(the other hashes of the same file still arrive). Any other algorithm is refused.

Import (strict): the file is one page as above, or a bare list of records (the page's
``results``). Every field is type-checked and unknown fields are refused, naming the item
("item 4: …", counting records from 1). A record is one entry with one signal (TCAP ties a file's
hashes together by nothing but the file itself): ``ideology`` becomes the entry's label,
``deleted: true`` makes it retired (TCAP's word for content taken off the list), ``created_on``
(ISO 8601, or seconds since 1970) its creation time, ``id`` its source (``TCAP item 2821``) and
``file_type`` its note (``TCAP file type: png``). ``count``, ``next``, ``previous``,
``checkpoint`` and ``updated_on`` are checked but not kept.

Export writes one page holding every signal of each entry, one record per line: ``ideology`` is
the entry's first label (null if it has none), ``file_type`` comes back from a note written by an
import, ``id`` is the signal's row id, and a retired entry (``--include-retired``) is written with
``deleted: true``. TCAP has no place for a dispute, so disputed entries are not written.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

from tessera.errors import InputError
from tessera.exchange.formats.base import (
    BankFormat,
    check_label,
    check_text,
    json_type,
    make_signal,
    shown,
)
from tessera.exchange.formats.json_document import (
    at_item,
    check_fields,
    check_list,
    check_object,
    check_timestamp,
    read_document,
)
from tessera.store.records import Entry, EntryStatus, NewEntry

TO_TCAP: dict[str, str] = {"md5": "MD5", "sha256": "SHA256", "pdq": "PDQ"}
FROM_TCAP: dict[str, str] = {theirs: ours for ours, theirs in TO_TCAP.items()}
SKIPPED_ALGORITHMS = frozenset({"SHA512", "TMK"})
"""TCAP algorithms Tessera has no signal type for: their records are skipped on import."""

_PAGE_FIELDS = frozenset({"count", "next", "previous", "checkpoint", "results"})
_RECORD_FIELDS = frozenset(
    {
        "id",
        "hash_digest",
        "algorithm",
        "ideology",
        "file_type",
        "deleted",
        "updated_on",
        "created_on",
    }
)
_FILE_TYPE_NOTE = re.compile(r"TCAP file type: (\S{1,50})")
_MAX_DIGEST_CHARS = 1024
_MAX_SHORT_TEXT = 200


class TcapFormat(BankFormat):
    """TCAP's Content Hash List (API v2) JSON: a page of one-hash records."""

    name = "tcap"
    extensions = (".tcap.json",)
    description = "TCAP hash list: a page of {hash_digest, algorithm, ideology, ...} records"
    carries_status = False

    def read(self, stream: TextIO) -> Iterator[NewEntry]:
        """One entry per record; FormatError("item N: reason") on the first bad one."""
        document = read_document(stream)
        if document is None:
            return
        for number, record in enumerate(_records(document), start=1):
            with at_item(f"item {number}"):
                entry = parse_record(record)
            if entry is not None:
                yield entry

    def write(self, entries: Iterable[Entry], stream: TextIO) -> int:
        """One page with a record per signal; returns how many entries were written."""
        n = 0
        count = 0
        last = "0,0"
        stream.write('{"results": [')
        for entry in entries:
            if entry.status is EntryStatus.DISPUTED:
                continue
            for signal_record in entry_records(entry):
                stream.write(",\n" if count else "\n")
                stream.write(json.dumps(signal_record, ensure_ascii=False))
                count += 1
                last = f"{signal_record['updated_on']},{signal_record['id']}"
            n += 1
        stream.write("\n" if count else "")
        tail = {"count": count, "next": None, "previous": None, "checkpoint": last}
        stream.write("], " + json.dumps(tail)[1:] + "\n")
        return n


def entry_records(entry: Entry) -> list[dict[str, Any]]:
    """The TCAP records of ``entry``'s signals; InputError for a type TCAP cannot name."""
    file_type = _FILE_TYPE_NOTE.fullmatch(entry.note)
    updated = entry.updated_at if entry.updated_at.tzinfo else entry.updated_at.replace(tzinfo=UTC)
    created = entry.created_at if entry.created_at.tzinfo else entry.created_at.replace(tzinfo=UTC)
    records = []
    for s in entry.signals:
        algorithm = TO_TCAP.get(s.type)
        if algorithm is None:
            raise InputError(
                f"entry {entry.uuid} has a {s.type} signal, which TCAP has no algorithm for "
                f"(it takes: {', '.join(sorted(TO_TCAP))}); export it as jsonl"
            )
        records.append(
            {
                "id": s.id,
                "hash_digest": s.value,
                "algorithm": algorithm,
                "ideology": entry.labels[0] if entry.labels else None,
                "file_type": file_type.group(1) if file_type else None,
                "deleted": entry.status is EntryStatus.RETIRED,
                "updated_on": updated.timestamp(),
                "created_on": created.isoformat(),
            }
        )
    return records


def _records(document: Any) -> list[Any]:
    """The records of a page, or of a bare list of records."""
    if isinstance(document, list):
        return document
    with at_item("the page"):
        results = _page_results(document)
    return results


def _page_results(document: Any) -> list[Any]:
    if not isinstance(document, dict):
        raise InputError(
            f"a TCAP hash list must be a page object or a list of records, "
            f"not {json_type(document)}"
        )
    check_fields("the page", document, _PAGE_FIELDS)
    if "results" not in document:
        raise InputError("a TCAP hash list page needs a 'results' list")
    _check_page(document)
    return check_list("results", document["results"])


def _check_page(page: dict[str, Any]) -> None:
    count = page.get("count")
    if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
        raise InputError(f"count must be a whole number, got {shown(count)}")
    for field in ("next", "previous", "checkpoint"):
        value = page.get(field)
        if value is not None:
            check_text(field, value, 4096)


def parse_record(value: Any) -> NewEntry | None:
    """The entry one TCAP record stands for (None for a skipped algorithm); InputError if bad."""
    record = check_object("a record", value)
    check_fields("a record", record, _RECORD_FIELDS)
    if "hash_digest" not in record or "algorithm" not in record:
        raise InputError("a record needs a 'hash_digest' and an 'algorithm'")
    algorithm = check_text("algorithm", record["algorithm"], _MAX_SHORT_TEXT).strip().upper()
    digest = check_text("hash_digest", record["hash_digest"], _MAX_DIGEST_CHARS)
    ideology = _optional_text(record, "ideology")
    file_type = _optional_text(record, "file_type")
    if file_type is not None and not re.fullmatch(r"\S{1,50}", file_type):
        raise InputError(f"file_type must be one word of at most 50 characters: {shown(file_type)}")
    deleted = record.get("deleted", False)
    if not isinstance(deleted, bool):
        raise InputError(f"deleted must be true or false, not {json_type(deleted)}")
    item_id = record.get("id")
    if item_id is not None and (isinstance(item_id, bool) or not isinstance(item_id, int)):
        raise InputError(f"id must be a whole number, got {shown(item_id)}")
    updated_on = record.get("updated_on")
    if updated_on is not None:
        _epoch("updated_on", updated_on)
    created_on = record.get("created_on")
    created_at = None if created_on is None else _moment("created_on", created_on)
    if algorithm in SKIPPED_ALGORITHMS:
        return None
    ours = FROM_TCAP.get(algorithm)
    if ours is None:
        known = ", ".join(sorted(FROM_TCAP) + sorted(SKIPPED_ALGORITHMS))
        raise InputError(f"unknown TCAP algorithm {shown(algorithm)} (known: {known})")
    return NewEntry(
        signals=(make_signal(ours, digest),),
        labels=() if ideology is None else (check_label(ideology),),
        source="TCAP" if item_id is None else f"TCAP item {item_id}",
        note="" if file_type is None else f"TCAP file type: {file_type}",
        created_at=created_at,
        status=EntryStatus.RETIRED if deleted else EntryStatus.ACTIVE,
    )


def _optional_text(record: dict[str, Any], field: str) -> str | None:
    value = record.get(field)
    return None if value is None else check_text(field, value, _MAX_SHORT_TEXT)


def _epoch(field: str, value: object) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InputError(f"{field} must be a time, got {shown(value)}")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise InputError(f"{field} is out of range: {shown(value)}") from None


def _moment(field: str, value: object) -> datetime:
    if isinstance(value, str):
        return check_timestamp(field, value)
    return _epoch(field, value)
