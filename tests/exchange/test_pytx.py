"""``pytx`` and ``pytx-csv`` against the real python-threatexchange package and its CLI."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from threatexchange.cli.dataset_cmd import DatasetCommand
from threatexchange.exchanges import fetch_state as pytx_state
from threatexchange.exchanges.impl.file_api import (
    FileCollaborationConfig,
    LocalFileSignalExchangeAPI,
)
from threatexchange.signal_type.md5 import VideoMD5Signal
from threatexchange.signal_type.pdq.signal import PdqSignal as PytxPdq
from threatexchange.signal_type.sha256 import VideoSHA256Signal

from tessera.errors import FormatError, InputError
from tessera.exchange.formats import get_format
from tessera.exchange.formats.pytx import FROM_PYTX, TO_PYTX
from tessera.store.records import EntryStatus
from tests.exchange.strategies import MD5, PDQ, SHA256, entry, read_text, round_trip, signal_pairs

PYTX = get_format("pytx")
PYTX_CSV = get_format("pytx-csv")
PYTX_TYPES = {cls.get_name(): cls for cls in (PytxPdq, VideoMD5Signal, VideoSHA256Signal)}
ITEMS = [
    entry(("pdq", PDQ), ("md5", MD5), labels=("propaganda", "isis")),
    entry(("sha256", SHA256)),
    entry(("md5", "0" * 32), status=EntryStatus.DISPUTED),
    entry(("md5", "1" * 32), status=EntryStatus.RETIRED),
]
ACTIVE_PAIRS = {("pdq", PDQ), ("md5", MD5), ("sha256", SHA256)}


def test_the_name_table_uses_pytxs_own_names() -> None:
    assert set(FROM_PYTX) == set(PYTX_TYPES)
    assert {TO_PYTX[ours] for ours in ("pdq", "md5", "sha256")} == set(PYTX_TYPES)


def test_pytxs_local_file_api_reads_our_export_as_our_signals(tmp_path: Path) -> None:
    path = tmp_path / "bank.txt"
    with path.open("w", encoding="utf-8", newline="") as stream:
        assert PYTX.write(ITEMS, stream) == 2  # disputed and retired entries stay home
    api = LocalFileSignalExchangeAPI(FileCollaborationConfig(filename=str(path), name="bank"))
    fetched = {key for delta in api.fetch_iter([], None) for key in delta.updates}
    assert {(FROM_PYTX[t], v) for t, v in fetched} == ACTIVE_PAIRS
    assert all(PYTX_TYPES[t].validate_signal_str(v) == v for t, v in fetched)


def test_a_file_in_pytxs_format_is_imported_as_pytx_reads_it(tmp_path: Path) -> None:
    text = f"pdq {PDQ}\n\n   video_md5 {MD5.upper()}  \r\nvideo_sha256\t{SHA256}\n \n"
    path = tmp_path / "signals.txt"
    path.write_text(text, encoding="utf-8")
    api = LocalFileSignalExchangeAPI(FileCollaborationConfig(filename=str(path), name="x"))
    theirs = {(FROM_PYTX[t], v.lower()) for d in api.fetch_iter([], None) for t, v in d.updates}
    got = read_text(PYTX, text)
    assert set(signal_pairs(got)) == ACTIVE_PAIRS
    assert theirs == ACTIVE_PAIRS - {("sha256", SHA256)}  # pytx drops the tab-separated line
    assert all(len(e.signals) == 1 and e.status is EntryStatus.ACTIVE for e in got)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (f"url_md5 {MD5}", "unknown python-threatexchange signal type 'url_md5' (pdq, video_"),
        (f"md5 {MD5}", "unknown python-threatexchange signal type 'md5'"),
        ("video_md5", "expected '<signal_type> <signal>', got 'video_md5'"),
        ("video_md5 xyz", "md5 must be 32 hex characters"),
    ],
)
def test_a_bad_pytx_line_names_its_number(line: str, reason: str) -> None:
    with pytest.raises(FormatError) as caught:
        read_text(PYTX, f"pdq {PDQ}\n\n{line}\n")
    assert str(caught.value).startswith(f"line 3: {reason}")


@pytest.mark.parametrize("fmt", ["pytx", "pytx-csv"])
def test_a_signal_type_pytx_has_no_name_for_is_an_export_error(fmt: str) -> None:
    with pytest.raises(InputError, match="has a vpdq signal, which python-threatexchange"):
        get_format(fmt).write([entry(("md5", MD5), ("vpdq", "x"))], io.StringIO())


# -- pytx-csv ----------------------------------------------------------------------------------


@dataclass
class _Opinions(pytx_state.FetchedSignalMetadata):
    """What a pytx exchange fetched for one signal: some opinions."""

    opinions: list[pytx_state.SignalOpinion]

    def get_as_opinions(self) -> list[pytx_state.SignalOpinion]:
        return self.opinions


def _opinion(category: str, *tags: str) -> pytx_state.SignalOpinion:
    return pytx_state.SignalOpinion(False, pytx_state.SignalOpinionCategory[category], set(tags))


def test_rows_printed_by_pytx_import_with_labels_status_and_source() -> None:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, ["signal_type", "signal_str", "collab", "category", "tags"])
    writer.writeheader()
    command = DatasetCommand(print_signals=True, csv=True)
    rows = [
        (PytxPdq, PDQ, [_opinion("POSITIVE_CLASS", "isis", "propaganda")]),
        (VideoMD5Signal, MD5, [_opinion("POSITIVE_CLASS"), _opinion("NEGATIVE_CLASS", "fp")]),
        (VideoSHA256Signal, SHA256, [_opinion("NEGATIVE_CLASS")]),
        (VideoMD5Signal, "0" * 32, [_opinion("INVESTIGATION_SEED")]),
    ]
    for signal_type, value, opinions in rows:
        # pytx annotates a SignalType instance here but passes the class, as we do
        as_passed = cast(Any, signal_type)
        command._print_csv(writer, "GIFCT list", as_passed, value, _Opinions(opinions))
    got = read_text(PYTX_CSV, out.getvalue())
    assert [(e.signals[0].type, e.status, sorted(e.labels), e.note) for e in got] == [
        ("pdq", EntryStatus.ACTIVE, ["isis", "propaganda"], "pytx category: POSITIVE_CLASS"),
        ("md5", EntryStatus.DISPUTED, ["fp"], "pytx category: DISPUTED"),
        ("sha256", EntryStatus.RETIRED, [], "pytx category: NEGATIVE_CLASS"),
        ("md5", EntryStatus.ACTIVE, [], "pytx category: INVESTIGATION_SEED"),
    ]
    assert {e.source for e in got} == {"GIFCT list"}


def test_our_csv_export_has_pytxs_columns_and_keeps_labels_and_status() -> None:
    n, text, got = round_trip(PYTX_CSV, ITEMS)
    assert n == 4
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert rows[0] == {
        "signal_type": "pdq",
        "signal_str": PDQ,
        "collab": "bank",
        "category": "POSITIVE_CLASS",
        "tags": "propaganda isis",
    }
    assert [r["category"] for r in rows[2:]] == ["POSITIVE_CLASS", "DISPUTED", "NEGATIVE_CLASS"]
    assert [(e.labels, e.status, e.source) for e in got] == [
        (("propaganda", "isis"), EntryStatus.ACTIVE, "bank"),
        (("propaganda", "isis"), EntryStatus.ACTIVE, "bank"),
        ((), EntryStatus.ACTIVE, "bank"),
        ((), EntryStatus.DISPUTED, "bank"),
        ((), EntryStatus.RETIRED, "bank"),
    ]


def test_a_label_with_a_space_cannot_become_a_pytx_tag() -> None:
    with pytest.raises(InputError, match="label 'two words' cannot be a pytx tag"):
        PYTX_CSV.write([entry(("md5", MD5), labels=("two words",))], io.StringIO())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("signal_type,signal\n", "line 1: unknown column(s) 'signal' (known: signal_type, signa"),
        (f"signal_type,signal_str,category\nvideo_md5,{MD5},GOOD\n", "line 2: category must be"),
        (f"signal_type,signal_str\nraw_text,{MD5}\n", "line 2: unknown python-threatexchange"),
    ],
)
def test_a_bad_pytx_csv_names_its_line(text: str, message: str) -> None:
    with pytest.raises(FormatError) as caught:
        read_text(PYTX_CSV, text)
    assert str(caught.value).startswith(message)


# -- end to end, through the `threatexchange` command ------------------------------------------


def test_the_threatexchange_cli_fetches_our_file_and_we_import_what_it_prints(
    tmp_path: Path,
) -> None:
    """Export → pytx ``local_file`` collab → ``fetch`` → ``dataset -P`` → import, unchanged."""
    signal_file = tmp_path / "bank.txt"
    with signal_file.open("w", encoding="utf-8", newline="") as stream:
        PYTX.write(ITEMS, stream)
    env = {**os.environ, "HOME": str(tmp_path)}  # pytx keeps its state in ~/.threatexchange
    tx = [sys.executable, "-m", "threatexchange.cli.main"]

    def run(*args: str) -> str:
        done = subprocess.run([*tx, *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("config", "collab", "edit", "local_file", "--create", "--filename", str(signal_file), "b")
    run("fetch")
    printed_csv = run("dataset", "-P", "--csv")
    printed_plain = run("dataset", "-P", "-S")
    assert printed_csv.splitlines()[0] == "signal_type,signal_str,collab,category,tags"
    from_csv = read_text(PYTX_CSV, printed_csv)
    assert set(signal_pairs(from_csv)) == ACTIVE_PAIRS
    assert {(e.source, e.status) for e in from_csv} == {("b", EntryStatus.ACTIVE)}
    assert set(signal_pairs(read_text(PYTX, printed_plain))) == ACTIVE_PAIRS
