"""``stix``: a STIX 2.1 bundle, for threat-intelligence platforms (MISP, OpenCTI, TAXII feeds).

Export writes one ``indicator`` per signal of each entry, with a pattern on the file's hashes::

    [file:hashes.MD5 = 'd41d…']          [file:hashes.'SHA-256' = 'e3b0…']
    [file:hashes.PDQ = 'f8f8…']          (any other type: its name upper-cased, e.g. VPDQ)

MD5 and SHA-256 are names of STIX's hash-algorithm vocabulary. The vocabulary is open and has no
perceptual hashes, so the others go in as custom hash names the way MISP writes its SSDEEP and
TLSH hashes and python-threatexchange names them (``PDQ``); stix2-validator accepts them. Each
indicator carries:

- ``id`` ``indicator--`` uuid5(Tessera's namespace, "ENTRY_UUID/TYPE/VALUE"), so exporting the
  same bank again gives the same ids; ``created`` and ``valid_from`` are the entry's creation
  time, ``modified`` its last update;
- ``created_by_ref`` an ``identity`` (``identity_class: organization``, id from its name) for the
  organisation that contributed the entry (``created_by``); the bundle holds one per organisation;
- ``labels`` the entry's labels; ``revoked: true`` when the entry is retired, and the label
  ``tessera:status="disputed"`` when it is disputed, so any STIX consumer sees the dispute;
- everything else an entry holds in a property extension (``extensions`` → the
  ``extension-definition`` in the bundle): ``entry_uuid``, ``status``, ``inclusion_criterion``,
  ``source``, ``note``, ``created_by``, ``signal_type`` and ``quality``.

Import reads a bundle back: indicators that share an ``entry_uuid`` become one entry again, so
export then import gives the same entries. Indicators from elsewhere (no extension) are one entry
each: every ``file:hashes`` comparison of its pattern (joined by AND or OR) is a signal; hashes
Tessera has no type for (SHA-1, SHA-512, SSDEEP, TLSH …) are dropped, an indicator left with
none — or about something other than files (URLs, addresses) — is skipped, as are objects other
than indicators. ``revoked`` makes it retired; ``created_by_ref`` names ``created_by`` when its
identity is in the bundle. The checks are strict and name the object ("object 3 (indicator--…):
…"); the file is read whole, up to ``json_document.MAX_DOCUMENT_CHARS``.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any, TextIO

from tessera.errors import InputError
from tessera.exchange.formats.base import (
    CREATED_BY_MAX_CHARS,
    BankFormat,
    check_label,
    check_quality,
    check_status,
    check_text,
    check_uuid,
    make_signal,
    shown,
)
from tessera.exchange.formats.json_document import (
    at_item,
    check_list,
    check_object,
    check_timestamp,
    read_document,
    utc_timestamp,
)
from tessera.signals.base import Signal
from tessera.store.records import Entry, EntryStatus, NewEntry

NAMESPACE = uuid.UUID("6b0f8a5e-3a6c-5d1e-9d0c-2f4c1e7a9b30")
"""Tessera's uuid5 namespace for STIX ids (fixed forever: ids are derived from it)."""
EXTENSION_ID = f"extension-definition--{uuid.uuid5(NAMESPACE, 'tessera-entry')}"
DISPUTED_LABEL = 'tessera:status="disputed"'
_TESSERA = "Tessera"
_IDENTITY_TIME = "2020-01-01T00:00:00.000000Z"  # fixed, so identities are the same every export
_STIX_HASH = {"md5": "MD5", "sha256": "SHA-256"}
_FROM_STIX_HASH = {"MD5": "md5", "SHA256": "sha256"}
_UNUSED_STIX_HASHES = frozenset({"SHA1", "SHA512", "SHA3256", "SHA3512", "SSDEEP", "TLSH"})
_ENTRY_FIELDS = ("entry_uuid", "status", "inclusion_criterion", "source", "note", "created_by")
_COMPARISON = re.compile(
    r"\s*file:hashes\.(?:'(?P<quoted>[^']{1,250})'|(?P<bare>[A-Za-z0-9_\-]{1,250}))"
    r"\s*=\s*'(?P<value>(?:[^'\\]|\\.)*)'"
)
_JOINER = re.compile(r"\s+(?:AND|OR)\s+")


class StixFormat(BankFormat):
    """A STIX 2.1 bundle: one indicator per signal, identities, and Tessera's extension."""

    name = "stix"
    extensions = (".stix.json",)
    description = "STIX 2.1 bundle: one indicator per signal, file-hash patterns"

    def read(self, stream: TextIO) -> Iterator[NewEntry]:
        """Entries from a bundle; FormatError("object N (id): reason") on the first bad one."""
        document = read_document(stream)
        if document is None:
            return
        with at_item("the bundle"):
            objects = _bundle_objects(document)
            identities = _identities(objects)
        yield from _entries(objects, identities)

    def write(self, entries: Iterable[Entry], stream: TextIO) -> int:
        """The bundle, one object per line; returns how many entries were written."""
        n = 0
        organisations: set[str] = set()
        bundle_id = None
        for entry in entries:
            if bundle_id is None:
                bundle_id = f"bundle--{uuid.uuid5(NAMESPACE, 'bundle/' + entry.bank_name)}"
                stream.write(f'{{"type": "bundle", "id": "{bundle_id}", "objects": [\n')
            for indicator in indicators(entry):
                stream.write(json.dumps(indicator, ensure_ascii=False) + ",\n")
            organisations.add(entry.created_by)
            n += 1
        if bundle_id is None:
            bundle_id = f"bundle--{uuid.uuid5(NAMESPACE, 'bundle/')}"
            stream.write(f'{{"type": "bundle", "id": "{bundle_id}", "objects": [\n')
        organisations.add(_TESSERA)  # the extension definition's author
        tail = [identity(org) for org in sorted(organisations)] + [_extension_definition()]
        stream.write(",\n".join(json.dumps(o, ensure_ascii=False) for o in tail) + "\n]}\n")
        return n


def identity_id(organisation: str) -> str:
    """The STIX id of an organisation's identity."""
    return f"identity--{uuid.uuid5(NAMESPACE, 'organisation/' + organisation)}"


def identity(organisation: str) -> dict[str, Any]:
    """The identity object standing for an organisation."""
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": identity_id(organisation),
        "created": _IDENTITY_TIME,
        "modified": _IDENTITY_TIME,
        "name": organisation,
        "description": "An organisation contributing to a Tessera hash-sharing exchange.",
        "identity_class": "organization",
    }


def indicators(entry: Entry) -> list[dict[str, Any]]:
    """One indicator per distinct signal of ``entry``."""
    created = utc_timestamp(entry.created_at)
    modified = max(created, utc_timestamp(entry.updated_at))
    labels = list(entry.labels)
    if entry.status is EntryStatus.DISPUTED:
        labels.append(DISPUTED_LABEL)
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for s in entry.signals:
        if (s.type, s.value) in seen:
            continue
        seen.add((s.type, s.value))
        indicator: dict[str, Any] = {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{uuid.uuid5(NAMESPACE, f'{entry.uuid}/{s.type}/{s.value}')}",
            "created_by_ref": identity_id(entry.created_by),
            "created": created,
            "modified": modified,
            "name": f"{s.type} of entry {entry.uuid} in bank {entry.bank_name}",
            "description": entry.inclusion_criterion
            or f"Known terrorist content: a {s.type} signal shared through Tessera.",
            "indicator_types": ["malicious-activity"],
            "pattern": pattern(s.type, s.value),
            "pattern_type": "stix",
            "pattern_version": "2.1",
            "valid_from": created,
            "extensions": {
                EXTENSION_ID: {
                    "extension_type": "property-extension",
                    "entry_uuid": entry.uuid,
                    "status": entry.status.value,
                    "inclusion_criterion": entry.inclusion_criterion,
                    "source": entry.source,
                    "note": entry.note,
                    "created_by": entry.created_by,
                    "signal_type": s.type,
                }
            },
        }
        if s.quality is not None:  # STIX has no null: an absent quality is unknown
            indicator["extensions"][EXTENSION_ID]["quality"] = s.quality
        if labels:
            indicator["labels"] = labels
        if entry.status is EntryStatus.RETIRED:
            indicator["revoked"] = True
        out.append(indicator)
    return out


def pattern(signal_type: str, value: str) -> str:
    """The STIX pattern matching a file whose ``signal_type`` hash is ``value``."""
    name = _STIX_HASH.get(signal_type, signal_type.upper())
    key = name if re.fullmatch(r"[A-Za-z0-9_]+", name) else f"'{name}'"
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"[file:hashes.{key} = '{escaped}']"


def _extension_definition() -> dict[str, Any]:
    return {
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": EXTENSION_ID,
        "created_by_ref": identity_id(_TESSERA),
        "created": _IDENTITY_TIME,
        "modified": _IDENTITY_TIME,
        "name": "Tessera bank entry",
        "description": "The bank entry an indicator's signal belongs to, with its provenance.",
        "schema": (
            "Properties of an indicator: entry_uuid (the entry's UUID), status (active, "
            "disputed or retired), inclusion_criterion, source, note and created_by (text), "
            "signal_type (Tessera's name of the pattern's hash) and quality (0-100 or null)."
        ),
        "version": "1.0.0",
        "extension_types": ["property-extension"],
    }


def _bundle_objects(document: Any) -> list[Any]:
    bundle = check_object("a STIX file", document)
    if bundle.get("type") != "bundle":
        raise InputError(f"a STIX file must be a bundle, not type {shown(bundle.get('type'))}")
    return check_list("the bundle's objects", bundle.get("objects", []))


def _identities(objects: list[Any]) -> dict[str, str]:
    """Identity id → name, for every identity in the bundle."""
    names: dict[str, str] = {}
    for obj in objects:
        if isinstance(obj, dict) and obj.get("type") == "identity":
            name = obj.get("name")
            if isinstance(name, str) and isinstance(obj.get("id"), str):
                names[obj["id"]] = check_text("an identity's name", name, CREATED_BY_MAX_CHARS)
    return names


def _entries(objects: list[Any], identities: dict[str, str]) -> Iterator[NewEntry]:
    """Entries in the order their first indicator comes; Tessera's are regrouped by uuid."""
    grouped: dict[str, tuple[NewEntry, dict[str, Any]]] = {}
    order: list[str | NewEntry] = []
    for number, obj in enumerate(objects, start=1):
        label = f"object {number}"
        if isinstance(obj, dict) and isinstance(obj.get("id"), str):
            label += f" ({shown(obj['id'], 80)})"
        with at_item(label):
            record = check_object("a STIX object", obj)
            if record.get("type") != "indicator":
                continue
            parsed = _indicator(record, identities)
        if parsed is None:
            continue
        entry, ext = parsed
        if not ext:
            order.append(entry)
            continue
        key = ext["entry_uuid"]
        if key not in grouped:
            grouped[key] = (entry, ext)
            order.append(key)
            continue
        first, first_ext = grouped[key]
        with at_item(label):
            for field in _ENTRY_FIELDS:
                if first_ext.get(field) != ext.get(field):
                    raise InputError(f"indicators of entry {key} disagree about {field}")
            for field in ("labels", "created_at"):
                if getattr(first, field) != getattr(entry, field):
                    raise InputError(f"indicators of entry {key} disagree about {field}")
        grouped[key] = (replace(first, signals=first.signals + entry.signals), first_ext)
    for item in order:
        yield grouped[item][0] if isinstance(item, str) else item


def _indicator(
    record: dict[str, Any], identities: dict[str, str]
) -> tuple[NewEntry, dict[str, Any]] | None:
    """One indicator as an entry (with its Tessera extension, if any); None when it is skipped."""
    if record.get("pattern_type", "stix") != "stix":
        return None  # a Sigma, YARA or Snort rule: not about file hashes
    text = check_text("pattern", record.get("pattern"), 1_000_000)
    labels = [check_label(v) for v in check_list("labels", record.get("labels", []))]
    revoked = record.get("revoked", False)
    if not isinstance(revoked, bool):
        raise InputError("revoked must be true or false")
    created_at = check_timestamp("created", record.get("created"))
    ext = _extension(record)
    signals = _pattern_signals(text, ext.get("signal_type") if ext else None)
    if not signals:
        return None
    if ext:
        quality = check_quality(ext.get("quality"))
        signals = [Signal(s.type, s.value, quality) for s in signals]
        status = check_status(check_text("status", ext.get("status")))
        if status is EntryStatus.DISPUTED and DISPUTED_LABEL in labels:
            labels.remove(DISPUTED_LABEL)
    elif revoked:
        status = EntryStatus.RETIRED
    elif DISPUTED_LABEL in labels:
        labels.remove(DISPUTED_LABEL)
        status = EntryStatus.DISPUTED
    else:
        status = EntryStatus.ACTIVE
    creator_ref = record.get("created_by_ref")
    created_by = ext.get("created_by") if ext else identities.get(str(creator_ref))
    entry = NewEntry(
        signals=tuple(signals),
        labels=tuple(labels),
        inclusion_criterion=ext.get("inclusion_criterion", "") if ext else "",
        source=ext["source"] if ext else f"STIX {shown(record.get('id'), 120)}",
        note=ext["note"] if ext else "",
        uuid=ext["entry_uuid"] if ext else None,
        created_by=created_by,
        created_at=created_at,
        status=status,
    )
    return entry, ext


def _extension(record: dict[str, Any]) -> dict[str, Any]:
    """Tessera's property extension of an indicator, checked; {} when it has none."""
    extensions = record.get("extensions", {})
    if not isinstance(extensions, dict) or EXTENSION_ID not in extensions:
        return {}
    ext = check_object("Tessera's extension", extensions[EXTENSION_ID])
    allowed = {*_ENTRY_FIELDS, "extension_type", "signal_type", "quality"}
    unknown = sorted(set(ext) - allowed)
    if unknown:
        raise InputError(
            f"unknown field(s) in Tessera's extension: {', '.join(map(shown, unknown))}"
        )
    for field in ("entry_uuid", "status", "signal_type"):
        if field not in ext:
            raise InputError(f"Tessera's extension needs {field!r}")
    checked = dict(ext)
    checked["entry_uuid"] = check_uuid(check_text("entry_uuid", ext["entry_uuid"], 100))
    for field in ("inclusion_criterion", "source", "note"):
        checked[field] = check_text(field, ext.get(field, ""))
    creator = ext.get("created_by")
    checked["created_by"] = (
        None if creator is None else check_text("created_by", creator, CREATED_BY_MAX_CHARS)
    )
    checked["signal_type"] = check_text("signal_type", ext["signal_type"], 100)
    return checked


def _pattern_signals(text: str, tessera_type: str | None) -> list[Signal]:
    """The signals a pattern's file-hash comparisons name; [] when it compares no file hash."""
    body = text.strip()
    if not (body.startswith("[") and body.endswith("]")) or "file:hashes." not in body:
        return []
    inner = body[1:-1]
    signals: list[Signal] = []
    position = 0
    while True:
        match = _COMPARISON.match(inner, position)
        if match is None:
            raise InputError(
                f"pattern {shown(text)} is not a list of file:hashes.NAME = 'VALUE' comparisons "
                "joined by AND or OR"
            )
        signal = _comparison_signal(match, tessera_type)
        if signal is not None:
            signals.append(signal)
        position = match.end()
        joiner = _JOINER.match(inner, position)
        if joiner is None:
            if inner[position:].strip():
                raise InputError(f"pattern {shown(text)} has more after its comparisons")
            return signals
        position = joiner.end()


def _comparison_signal(match: re.Match[str], tessera_type: str | None) -> Signal | None:
    name = match.group("quoted") or match.group("bare")
    value = re.sub(r"\\(.)", r"\1", match.group("value"))
    normal = name.upper().replace("-", "")
    if normal in _FROM_STIX_HASH:
        signal_type = _FROM_STIX_HASH[normal]
    elif normal in _UNUSED_STIX_HASHES:
        return None
    else:
        signal_type = name.lower().removeprefix("x_")
    if tessera_type is not None and signal_type != tessera_type:
        raise InputError(f"pattern hashes {name}, but the extension says {tessera_type}")
    return make_signal(signal_type, value)
