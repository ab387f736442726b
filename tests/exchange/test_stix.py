"""The ``stix`` format: valid STIX 2.1 (stix2-validator), stable ids, round trips, strict input."""

from __future__ import annotations

import io
import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stix2validator import ValidationOptions, validate_string

from tessera.errors import FormatError
from tessera.exchange.formats import get_format, guess_format
from tessera.exchange.formats.stix import DISPUTED_LABEL, EXTENSION_ID, NAMESPACE
from tessera.signals.base import Signal
from tessera.store import Store
from tessera.store.records import Entry, EntryStatus, NewEntry
from tests.exchange.strategies import (
    MD5,
    PDQ,
    SHA256,
    as_new,
    entries,
    entry,
    offsets,
    read_text,
    round_trip,
)

STIX = get_format("stix")
# Deterministic ids are uuid5 by design (re-export must be stable); the validator's uuid-check
# only recommends v4, so it is the one check turned off.
STRICT = ValidationOptions(strict=True, disabled=["uuid-check"])
store_times = st.datetimes(datetime(1971, 1, 1), datetime(2200, 1, 1), timezones=offsets)


def _sample() -> list[Entry]:
    return [
        entry(("pdq", PDQ), ("md5", MD5), labels=("propaganda", 'it\'s "quoted"')),
        entry(("sha256", SHA256), status=EntryStatus.DISPUTED, labels=("x",)),
        entry(("md5", "0" * 32), status=EntryStatus.RETIRED),
    ]


def _validate(text: str) -> None:
    result = validate_string(text, STRICT)
    assert result.is_valid, [str(e) for o in result.object_results for e in o.errors]


def test_the_format_is_registered_by_name_and_extension() -> None:
    assert STIX.name == "stix" and guess_format(Path("bank.stix.json")) is STIX


def test_an_export_is_a_valid_stix_21_bundle() -> None:
    n, text, _ = round_trip(STIX, _sample())
    assert n == 3
    _validate(text)
    bundle = json.loads(text)
    kinds = [o["type"] for o in bundle["objects"]]
    assert kinds.count("indicator") == 4 and kinds.count("identity") == 2
    assert kinds.count("extension-definition") == 1


def test_each_signal_is_an_indicator_with_its_pattern_creator_and_status() -> None:
    items = _sample()
    _, text, _ = round_trip(STIX, items)
    objects = json.loads(text)["objects"]
    by_pattern = {o["pattern"]: o for o in objects if o["type"] == "indicator"}
    assert set(by_pattern) == {
        f"[file:hashes.PDQ = '{PDQ}']",
        f"[file:hashes.MD5 = '{MD5}']",
        f"[file:hashes.'SHA-256' = '{SHA256}']",
        f"[file:hashes.MD5 = '{'0' * 32}']",
    }
    identity = next(o for o in objects if o["type"] == "identity" and o["name"] == "org-a")
    assert all(o["created_by_ref"] == identity["id"] for o in by_pattern.values())
    disputed = by_pattern[f"[file:hashes.'SHA-256' = '{SHA256}']"]
    assert disputed["labels"] == ["x", DISPUTED_LABEL] and "revoked" not in disputed
    retired = by_pattern[f"[file:hashes.MD5 = '{'0' * 32}']"]
    assert retired["revoked"] is True
    assert retired["extensions"][EXTENSION_ID]["status"] == "retired"
    first = items[0]
    pdq = by_pattern[f"[file:hashes.PDQ = '{PDQ}']"]
    assert pdq["valid_from"] == pdq["created"] == "2026-01-02T03:04:05.000000Z"
    assert pdq["id"] == f"indicator--{uuid.uuid5(NAMESPACE, f'{first.uuid}/pdq/{PDQ}')}"


def test_re_export_is_identical() -> None:
    items = _sample()
    assert round_trip(STIX, items)[1] == round_trip(STIX, items)[1]


def test_an_empty_bank_is_a_valid_empty_bundle() -> None:
    n, text, got = round_trip(STIX, [])
    assert (n, got) == (0, [])
    _validate(text)


def _distinct_signals(e: Entry) -> bool:
    return len({(s.type, s.value) for s in e.signals}) == len(e.signals)


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(entries().filter(_distinct_signals), max_size=4), store_times)
def test_export_then_import_gives_the_same_entries(items: list[Entry], when: datetime) -> None:
    items = [replace(e, created_at=when, updated_at=when) for e in items]
    items = [e for e in items if DISPUTED_LABEL not in e.labels]
    n, _, got = round_trip(STIX, items)
    assert n == len(items)
    assert got == [as_new(e) for e in items]


def test_every_entry_status_and_field_survives_a_validated_round_trip() -> None:
    items = [replace(e, note="note ☃", source="hotline") for e in _sample()]
    _, text, got = round_trip(STIX, items)
    _validate(text)
    assert got == [as_new(e) for e in items]


# -- bundles from elsewhere --------------------------------------------------------------------


def _indicator(pattern: object, **extra: Any) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": "2020-10-25T16:22:00.000Z",
        "modified": "2020-10-25T16:22:00.000Z",
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2020-10-25T16:22:00Z",
    } | extra


def _bundle(*objects: dict[str, Any]) -> str:
    return json.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects})


def test_a_misp_style_bundle_is_read_one_entry_per_file_indicator() -> None:
    org = {"type": "identity", "id": "identity--a0c22599-9e58-4da4-96ac-7051603fa951"}
    org |= {"name": "CIRCL", "identity_class": "organization"}
    file_hashes = (
        f"[file:hashes.MD5 = '{MD5.upper()}' AND file:hashes.'SHA-1' = "
        f"'da39a3ee5e6b4b0d3255bfef95601890afd80709' AND file:hashes.'SHA-256' = '{SHA256}']"
    )
    text = _bundle(
        org,
        _indicator("[domain-name:value = 'example.com']"),
        _indicator(file_hashes, created_by_ref=org["id"], labels=['misp:type="md5"']),
        _indicator("[file:hashes.'SHA-1' = 'da39a3ee5e6b4b0d3255bfef95601890afd80709']"),
        _indicator(f"[file:hashes.x_pdq = '{PDQ}']", revoked=True),
        _indicator("rule x { condition: true }", pattern_type="yara"),
        {"type": "relationship", "id": f"relationship--{uuid.uuid4()}"},
    )
    got = read_text(STIX, text)
    assert [[(s.type, s.value) for s in e.signals] for e in got] == [
        [("md5", MD5), ("sha256", SHA256)],
        [("pdq", PDQ)],
    ]
    first, second = got
    assert (first.created_by, first.labels, first.status) == (
        "CIRCL",
        ('misp:type="md5"',),
        "active",
    )
    assert first.created_at == datetime(2020, 10, 25, 16, 22, tzinfo=UTC)
    assert (second.created_by, second.status, second.uuid) == (None, EntryStatus.RETIRED, None)


def test_a_foreign_disputed_label_is_read_as_the_status() -> None:
    text = _bundle(_indicator(f"[file:hashes.MD5 = '{MD5}']", labels=[DISPUTED_LABEL, "a"]))
    (got,) = read_text(STIX, text)
    assert (got.status, got.labels) == (EntryStatus.DISPUTED, ("a",))


# -- malformed and hostile input ---------------------------------------------------------------

_ok = f"[file:hashes.MD5 = '{MD5}']"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", r"^the bundle: a STIX file must be a JSON object, not a list"),
        ('{"type": "report"}', r"^the bundle: a STIX file must be a bundle, not type 'report'"),
        ('{"type": "bundle", "objects": {}}', "objects must be a list, not an object"),
        ('{"type": "bundle",\n "objects": [}', r"^line 2, column 14: not valid JSON"),
        (_bundle(_indicator(_ok), _indicator("[file:hashes.MD5 = 'abc']")), r"^object 2 \(.*md5"),
        (_bundle(_indicator(f"[file:hashes.MD5 = '{MD5}' OR file:name = 'x']")), "comparisons"),
        (_bundle(_indicator("[file:hashes.NOPE = 'a']")), "unknown signal type 'nope'"),
        (_bundle(_indicator(_ok, labels="a")), r"^object 1 .*labels must be a list"),
        (_bundle(_indicator(_ok, labels=[""])), "label must not be blank"),
        (_bundle(_indicator(_ok, created="yesterday")), "created must be an ISO 8601 time"),
        (_bundle(_indicator(_ok, revoked="yes")), "revoked must be true or false"),
        (_bundle(_indicator(7)), "pattern must be a string"),
        (_bundle(_indicator(_ok), "x"), r"^object 2: a STIX object must be a JSON object"),
        (
            _bundle(_indicator(_ok, extensions={EXTENSION_ID: {"status": "active"}})),
            "extension needs 'entry_uuid'",
        ),
        (
            _bundle(
                _indicator(
                    _ok,
                    extensions={
                        EXTENSION_ID: {
                            "entry_uuid": str(uuid.uuid4()),
                            "status": "gone",
                            "signal_type": "md5",
                        }
                    },
                )
            ),
            "status must be one of",
        ),
        (
            _bundle(
                _indicator(
                    _ok,
                    extensions={
                        EXTENSION_ID: {"entry_uuid": "x", "status": "active", "signal_type": "pdq"}
                    },
                )
            ),
            "uuid must be a UUID",
        ),
    ],
)
def test_a_malformed_bundle_names_the_object_and_the_reason(text: str, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        read_text(STIX, text)


def test_indicators_of_one_entry_that_disagree_are_refused() -> None:
    _, text, _ = round_trip(STIX, [entry(("pdq", PDQ), ("md5", MD5))])
    bundle = json.loads(text)
    bundle["objects"][1]["labels"] = ["changed"]
    with pytest.raises(FormatError, match=r"^object 2 .*disagree about labels"):
        read_text(STIX, json.dumps(bundle))


def test_hostile_documents_are_refused_by_limits() -> None:
    with pytest.raises(FormatError, match="nested too deeply"):
        read_text(STIX, "[" * 100_000 + "]" * 100_000)
    with pytest.raises(FormatError, match="not valid JSON"):
        read_text(STIX, _bundle(_indicator(_ok)).replace('"2.1"', "1" * 5000, 1))
    giant = "a" * 2_000_000
    with pytest.raises(FormatError, match="pattern is longer than"):
        read_text(STIX, _bundle(_indicator(giant)))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


@given(st.lists(json_values | st.builds(_indicator, st.text(max_size=60)), max_size=4))
def test_any_json_inside_a_bundle_gives_entries_or_a_format_error(objects: list[Any]) -> None:
    text = json.dumps({"type": "bundle", "objects": objects})
    try:
        got = read_text(STIX, text)
    except FormatError:
        return
    assert all(isinstance(e, NewEntry) and e.signals for e in got)


# -- a real bank out and back in ---------------------------------------------------------------


def test_a_bank_survives_stix_export_delete_and_import(store: Store) -> None:
    store.create_bank("src")
    store.add_entries(
        "src",
        [
            NewEntry(signals=(Signal("pdq", PDQ, 87), Signal("md5", MD5)), labels=("a", "b")),
            NewEntry(signals=(Signal("sha256", SHA256),), status=EntryStatus.DISPUTED),
        ],
    )
    before = list(store.iter_entries("src"))
    out = io.StringIO(newline="")
    assert STIX.write(store.iter_entries("src"), out) == 2
    _validate(out.getvalue())
    store.delete_bank("src")
    store.create_bank("dst")
    store.add_entries("dst", STIX.read(io.StringIO(out.getvalue())))
    after = list(store.iter_entries("dst"))
    assert [as_new(e) for e in after] == [as_new(e) for e in before]
