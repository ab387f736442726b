"""`tessera scan` and `tessera retro-hunt` as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tessera.store import Store
from tessera.store.records import NewEntry
from tests.conftest import ROOT
from tests.scan import CLI, cli_url, edited_signals, make_folder


def run(url: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"TESSERA_DATABASE_URL": url, "TESSERA_DATA_DIR": str(tmp)}
    return subprocess.run(
        [*CLI, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_scan_then_retro_hunt(
    store: Store, database_url: tuple[str, str | None], tmp_path: Path
) -> None:
    url = cli_url(database_url)
    folder = make_folder(tmp_path / "media", 4)
    report = tmp_path / "report.jsonl"
    done = run(url, tmp_path, "scan", str(folder), "--keep-signals", "--report", str(report))
    assert done.returncode == 0, done.stderr
    assert "cases opened now" in done.stdout and "empty.jpg: empty file" in done.stderr
    summary = json.loads(report.read_text().splitlines()[0])["summary"]
    assert summary["items"] == 6 and summary["failed"] == 2 and summary["matched"] == 0

    hunt = run(url, tmp_path, "retro-hunt")
    assert hunt.returncode == 0, hunt.stderr
    assert "0 case(s) opened" in hunt.stdout
    store.create_bank("incident")
    store.add_entries("incident", [NewEntry(signals=edited_signals(3, tmp_path))])
    hunt = run(url, tmp_path, "retro-hunt")
    assert hunt.returncode == 0, hunt.stderr
    assert "1 piece(s) of content routed, 1 case(s) opened" in hunt.stdout


def test_scan_errors_are_one_clear_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    missing = run(url, tmp_path, "scan", str(tmp_path / "nowhere"))
    assert missing.returncode == 1 and "no such file or folder" in missing.stderr
    bad_csv = tmp_path / "list.csv"
    bad_csv.write_text("file,id\na.jpg,1\n")
    refused = run(url, tmp_path, "scan", str(bad_csv))
    assert refused.returncode == 1 and "must name 'path' and 'content_id'" in refused.stderr
    report = run(url, tmp_path, "scan", str(tmp_path), "--report", str(tmp_path / "no/r.jsonl"))
    assert report.returncode == 1 and "cannot write the report" in report.stderr
    for proc in (missing, refused, report):
        assert "Traceback" not in proc.stderr
