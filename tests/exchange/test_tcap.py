"""The ``tcap`` format: TCAP hash list pages in and out, checked against python-threatexchange."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from threatexchange.exchanges.clients.techagainstterrorism.api import TATHashListEntry
from threatexchange.exchanges.impl.techagainstterrorism_api import _get_delta_mapping

from tessera.errors import FormatError, InputError
from tessera.exchange.formats import get_format, guess_format
from tessera.exchange.formats.json_document import MAX_DOCUMENT_CHARS
from tessera.signals.base import Signal
from tessera.store import Store
from tessera.store.records import Entry, EntryStatus, NewEntry
from tests.exchange.strategies import MD5, PDQ, SHA256, entry, offsets, read_text, round_trip

TCAP = get_format("tcap")

# The page python-threatexchange's own tests use for the TCAP client (values made valid).
PAGE: dict[str, Any] = {
    "count": 100,
    "next": "http://dev.terrorismanalytics.org/hash-list/v2/all?limit=1000&offset=1000&order=asc",
    "previous": None,
    "checkpoint": "1724856487.709035,10594",
    "results": [
        {
            "hash_digest": MD5,
            "algorithm": "MD5",
            "ideology": "Far-Right",
            "file_type": "mp4",
            "deleted": False,
            "updated_on": 1704901040.222779,
            "id": 2819,
        },
        {
            "hash_digest": SHA256,
            "algorithm": "SHA256",
            "ideology": "Islamist",
            "file_type": "mp4",
            "deleted": True,
            "updated_on": 1704901040.24492,
            "created_on": "2024-01-10T15:37:20+00:00",
            "id": 2820,
        },
        {
            "hash_digest": "a" * 128,
            "algorithm": "SHA512",
            "ideology": "Islamist",
            "file_type": "png",
            "deleted": False,
            "updated_on": 1704901040.24496,
            "id": 2822,
        },
        {
            "hash_digest": PDQ,
            "algorithm": "PDQ",
            "ideology": "Islamist",
            "file_type": "png",
            "deleted": False,
            "updated_on": 1704901040.24496,
            "created_on": 1704900000,
            "id": 2821,
        },
    ],
}


def test_the_format_is_registered_by_name_and_extension() -> None:
    assert guess_format(Path("list.tcap.json")) is TCAP


def test_a_tcap_page_is_read_one_entry_per_supported_hash() -> None:
    got = read_text(TCAP, json.dumps(PAGE, indent=2))
    assert [(e.signals[0].type, e.signals[0].value) for e in got] == [
        ("md5", MD5),
        ("sha256", SHA256),
        ("pdq", PDQ),  # the SHA512 record is skipped: Tessera has no sha512 type
    ]
    md5, sha256, pdq = got
    assert (md5.labels, md5.source, md5.note, md5.status) == (
        ("Far-Right",),
        "TCAP item 2819",
        "TCAP file type: mp4",
        EntryStatus.ACTIVE,
    )
    assert md5.created_at is None and sha256.status is EntryStatus.RETIRED
    assert sha256.created_at == datetime(2024, 1, 10, 15, 37, 20, tzinfo=UTC)
    assert pdq.created_at == datetime.fromtimestamp(1704900000, UTC)


def test_a_bare_list_of_records_is_read_too() -> None:
    assert len(read_text(TCAP, json.dumps(PAGE["results"]))) == 3


def test_an_export_is_a_page_python_threatexchange_reads() -> None:
    items = [
        entry(("pdq", PDQ), ("md5", MD5), labels=("Islamist",), note="TCAP file type: png"),
        entry(("sha256", SHA256), status=EntryStatus.RETIRED),
        entry(("md5", "0" * 32), status=EntryStatus.DISPUTED),
    ]
    n, text, got = round_trip(TCAP, items)
    assert n == 2  # TCAP has no place for a dispute
    page = json.loads(text)
    assert page["count"] == 3 and page["next"] is None
    assert page["checkpoint"] == f"{page['results'][-1]['updated_on']},{page['results'][-1]['id']}"
    records = [TATHashListEntry(**r) for r in page["results"]]
    deltas = dict(_get_delta_mapping(r) for r in records)
    assert ("pdq", PDQ) in deltas and deltas[("pdq", PDQ)] is not None
    assert [(r.algorithm, r.ideology, r.file_type, r.deleted) for r in records] == [
        ("PDQ", "Islamist", "png", False),
        ("MD5", "Islamist", "png", False),
        ("SHA256", None, None, True),
    ]
    assert [(e.signals[0].type, e.labels, e.note, e.status) for e in got] == [
        ("pdq", ("Islamist",), "TCAP file type: png", EntryStatus.ACTIVE),
        ("md5", ("Islamist",), "TCAP file type: png", EntryStatus.ACTIVE),
        ("sha256", (), "", EntryStatus.RETIRED),
    ]


def test_a_signal_type_tcap_cannot_name_is_refused_on_export() -> None:
    with pytest.raises(InputError, match="TCAP has no algorithm for"):
        round_trip(TCAP, [entry(("pdq_regions", PDQ))])


times = st.datetimes(datetime(1971, 1, 1), datetime(2200, 1, 1), timezones=offsets)
hexes = {"md5": 32, "sha256": 64, "pdq": 64}


@st.composite
def tcap_entries(draw: st.DrawFn) -> Entry:
    """An entry of what TCAP carries: one signal, at most one label, active or retired."""
    signal_type = draw(st.sampled_from(sorted(hexes)))
    value = draw(st.text("0123456789abcdef", min_size=hexes[signal_type], max_size=64))
    label = draw(st.none() | st.text(min_size=1, max_size=30).filter(str.strip))
    file_type = draw(st.none() | st.sampled_from(["png", "mp4", "pdf"]))
    base = entry(
        (signal_type, value[: hexes[signal_type]]),
        labels=() if label is None or "\x00" in label else (label,),
        status=draw(st.sampled_from([EntryStatus.ACTIVE, EntryStatus.RETIRED])),
        note="" if file_type is None else f"TCAP file type: {file_type}",
    )
    return replace(base, created_at=draw(times))


@given(st.lists(tcap_entries(), max_size=5))
def test_export_then_import_keeps_all_tcap_carries(items: list[Entry]) -> None:
    n, _, got = round_trip(TCAP, items)
    assert n == len(items)
    expected = [
        NewEntry(
            signals=(Signal(e.signals[0].type, e.signals[0].value),),
            labels=e.labels,
            source=f"TCAP item {e.signals[0].id}",
            note=e.note,
            created_at=e.created_at,
            status=e.status,
        )
        for e in items
    ]
    assert got == expected


# -- malformed and hostile input ---------------------------------------------------------------


def _record(**fields: Any) -> dict[str, Any]:
    return {"hash_digest": MD5, "algorithm": "MD5"} | fields


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("7", r"^the page: a TCAP hash list must be a page object or a list"),
        ({"count": 1}, r"^the page: a TCAP hash list page needs a 'results' list"),
        ({"results": [], "extra": 1}, r"^the page: unknown field\(s\) in the page: 'extra'"),
        ({"results": {}}, "results must be a list"),
        ({"results": [], "count": -1}, "count must be a whole number"),
        ([_record(), "x"], r"^item 2: a record must be a JSON object, not a string"),
        ([_record(algorithm="SHA1")], r"^item 1: unknown TCAP algorithm 'SHA1'"),
        ([_record(hash_digest="xyz")], r"^item 1: md5 must be 32 hex"),
        ([_record(hash_digest=None)], r"^item 1: hash_digest must be a string, not null"),
        ([{"algorithm": "MD5"}], r"^item 1: a record needs a 'hash_digest'"),
        ([_record(colour="red")], r"^item 1: unknown field\(s\) in a record: 'colour'"),
        ([_record(deleted="no")], "deleted must be true or false"),
        ([_record(id="7")], "id must be a whole number"),
        ([_record(id=True)], "id must be a whole number"),
        ([_record(ideology="")], "label must not be blank"),
        ([_record(ideology=["a"])], "ideology must be a string, not a list"),
        ([_record(file_type="two words")], "file_type must be one word"),
        ([_record(updated_on="soon")], "updated_on must be a time"),
        ([_record(created_on="tomorrow")], "created_on must be an ISO 8601 time"),
        ([_record(created_on="2024-01-10T15:37:20")], "needs a UTC offset"),
        ([_record(created_on=1e300)], "created_on is out of range"),
        ([_record(hash_digest="a" * 5000)], "hash_digest is longer than 1024"),
    ],
)
def test_a_malformed_list_names_the_item_and_the_reason(document: Any, message: str) -> None:
    text = document if isinstance(document, str) else json.dumps(document)
    with pytest.raises(FormatError, match=message):
        read_text(TCAP, text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"results": [\n  {"a": 1,}\n]}', r"^line 2, column 11: not valid JSON"),
        ("[" * 50_000 + "]" * 50_000, "nested too deeply"),
        ("[" + "9" * 10_000 + "]", "not valid JSON"),
        ("\ufeff \n", None),
    ],
)
def test_hostile_text_is_refused_or_empty(text: str, message: str | None) -> None:
    if message is None:
        assert read_text(TCAP, text) == []
        return
    with pytest.raises(FormatError, match=message):
        read_text(TCAP, text)


class _EndlessText:
    """A text stream that never ends: the reader must stop at the limit."""

    def __init__(self) -> None:
        self.handed_out = 0

    def read(self, size: int = -1) -> str:
        assert size > 0, "read() without a limit would never return"
        self.handed_out += size
        return " " * size


def test_a_file_over_the_size_limit_is_refused_without_reading_it_all() -> None:
    stream = _EndlessText()
    with pytest.raises(FormatError, match="longer than the limit"):
        list(TCAP.read(stream))  # type: ignore[arg-type]
    assert stream.handed_out == MAX_DOCUMENT_CHARS + 1


def test_bytes_that_are_not_utf8_name_their_line(tmp_path: Path) -> None:
    path = tmp_path / "list.tcap.json"
    path.write_bytes(b'[\n{"hash_digest": "\xff", "algorithm": "MD5"}\n]')
    for errors in ("strict", "surrogateescape"):
        with path.open(encoding="utf-8", newline="", errors=errors) as stream:
            with pytest.raises(FormatError, match="^line 2: not valid UTF-8"):
                list(TCAP.read(stream))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=20,
)
record_like = st.fixed_dictionaries(
    {"hash_digest": st.sampled_from([MD5, PDQ, "x"]), "algorithm": st.sampled_from(["MD5", "PDQ"])},
    optional=dict.fromkeys(("id", "ideology", "file_type", "deleted", "created_on"), json_values),
)


@given(st.lists(json_values | record_like, max_size=5))
def test_any_json_gives_entries_or_a_format_error(results: list[Any]) -> None:
    try:
        got = read_text(TCAP, json.dumps({"results": results}))
    except FormatError:
        return
    assert all(isinstance(e, NewEntry) and len(e.signals) == 1 for e in got)


def test_a_bank_survives_tcap_export_delete_and_import(store: Store) -> None:
    store.create_bank("src")
    store.add_entries(
        "src",
        [
            NewEntry(signals=(Signal("pdq", PDQ, 87),), labels=("Islamist",)),
            NewEntry(signals=(Signal("md5", MD5),), status=EntryStatus.DISPUTED),
            NewEntry(signals=(Signal("sha256", SHA256),)),
        ],
    )
    out = io.StringIO(newline="")
    assert TCAP.write(store.iter_entries("src"), out) == 2
    store.delete_bank("src")
    store.create_bank("dst")
    store.add_entries("dst", TCAP.read(io.StringIO(out.getvalue())))
    after = list(store.iter_entries("dst"))
    assert [(e.signals[0].value, e.labels, e.status) for e in after] == [
        (PDQ, ("Islamist",), EntryStatus.ACTIVE),
        (SHA256, (), EntryStatus.ACTIVE),
    ]
