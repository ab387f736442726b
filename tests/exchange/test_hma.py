"""``hma``: bodies for HMA's ``POST /c/bank/NAME/signal``, and its content items read back."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from threatexchange.signal_type.md5 import VideoMD5Signal
from threatexchange.signal_type.pdq.signal import PdqSignal as PytxPdq
from threatexchange.signal_type.sha256 import VideoSHA256Signal

from tessera.errors import FormatError, InputError
from tessera.exchange.formats import get_format
from tessera.signals.base import Signal
from tessera.store.records import EntryStatus, NewEntry
from tests.exchange.strategies import MD5, PDQ, SHA256, entry, read_text, round_trip

HMA = get_format("hma")
# The signal types of HMA's reference configuration, plus sha256 (pytx's own, HMA can enable it).
HMA_TYPES = {cls.get_name(): cls for cls in (PytxPdq, VideoMD5Signal, VideoSHA256Signal)}


def _hma_accepts(body: Any) -> dict[str, str]:
    """What HMA's ``_bank_add_signals`` does with a request body, short of storing it."""
    assert isinstance(body, dict) and body, "No signals given"
    return {name: HMA_TYPES[name].validate_signal_str(value) for name, value in body.items()}


def test_each_active_entry_becomes_one_request_body_hma_accepts() -> None:
    items = [
        entry(("pdq", PDQ), ("md5", MD5)),
        entry(("sha256", SHA256), status=EntryStatus.DISPUTED),
        entry(("sha256", SHA256)),
    ]
    n, text, got = round_trip(HMA, items)
    bodies = [json.loads(line) for line in text.splitlines()]
    assert n == 2 and bodies == [{"pdq": PDQ, "video_md5": MD5}, {"video_sha256": SHA256}]
    assert [_hma_accepts(b) for b in bodies] == bodies
    assert [e.signals for e in got] == [
        (Signal("pdq", PDQ), Signal("md5", MD5)),
        (Signal("sha256", SHA256),),
    ]


def test_an_entry_hma_cannot_hold_is_an_export_error() -> None:
    with pytest.raises(InputError, match="two md5 signals; an HMA content item holds one"):
        HMA.write([entry(("md5", MD5), ("md5", "0" * 32))], io.StringIO())
    with pytest.raises(InputError, match="has a vpdq signal"):
        HMA.write([entry(("vpdq", "x"))], io.StringIO())


def test_a_content_item_from_hmas_api_is_imported_with_its_provenance() -> None:
    item = {  # GET /c/bank/TEST_BANK/content/7?include_signals=true
        "id": 7,
        "disable_until_ts": 0,
        "collab_metadata": {},
        "original_media_uri": None,
        "bank": {"name": "TEST_BANK", "matching_enabled_ratio": 1.0},
        "signals": {"pdq": PDQ, "video_md5": MD5},
        "note": "seen in a removal order",
    }
    enabled = {"id": 8, "disable_until_ts": 1, "signals": {"video_md5": MD5}}
    got = read_text(HMA, json.dumps(item) + "\n" + json.dumps(enabled))
    assert got == [
        NewEntry(
            signals=(Signal("pdq", PDQ), Signal("md5", MD5)),
            source="HMA bank TEST_BANK, content 7",
            note="seen in a removal order",
            status=EntryStatus.RETIRED,
        ),
        NewEntry(signals=(Signal("md5", MD5),), source="HMA content 8"),
    ]


BAD: list[tuple[Any, str]] = [
    ([PDQ], "a content item must be a JSON object, not a list"),
    ({}, "a content item needs at least one signal"),
    ({"signals": {}}, "a content item needs at least one signal"),
    ({"pdq": 5}, "the 'pdq' signal must be a string, not a number"),
    ({"md5": MD5}, "unknown python-threatexchange signal type 'md5'"),
    ({"video_md5": "abc"}, "md5 must be 32 hex characters"),
    ({"signals": {"pdq": PDQ}, "note": 5}, "note must be a string, not a number"),
    ("{pdq: 1}", "not valid JSON"),
]


@pytest.mark.parametrize(("record", "reason"), BAD, ids=[reason for _, reason in BAD])
def test_a_bad_line_names_its_number(record: Any, reason: str) -> None:
    line = record if isinstance(record, str) else json.dumps(record)
    with pytest.raises(FormatError) as caught:
        read_text(HMA, f'{{"pdq": "{PDQ}"}}\n\n{line}\n')
    assert str(caught.value).startswith(f"line 3: {reason}")
