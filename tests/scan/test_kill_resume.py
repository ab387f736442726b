"""A scan killed (SIGKILL, at a random point) and resumed records every item exactly once."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tessera.review import cases
from tessera.services.hashing import hash_path
from tessera.settings import Settings
from tessera.store import Store
from tessera.store.records import NewEntry
from tessera.store.scan_tables import scan_items
from tests.conftest import ROOT
from tests.scan import CLI, cli_url, make_folder

IMAGES = 40


def recorded(store: Store) -> list[str]:
    with store.db.read() as conn:
        return list(conn.execute(sa.select(scan_items.c.item_key)).scalars())


def start_scan(url: str, folder: Path, report: Path | None = None) -> subprocess.Popen[bytes]:
    args = ["scan", str(folder), "--workers", "1", "--batch-size", "1", "--org", "p1"]
    if report is not None:
        args += ["--report", str(report)]
    env = os.environ | {"TESSERA_DATABASE_URL": url, "TESSERA_DATA_DIR": str(folder.parent)}
    return subprocess.Popen(
        [*CLI, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: the kill takes its workers too
    )


def kill_after(store: Store, proc: subprocess.Popen[bytes], items: int) -> int:
    """SIGKILL the scan (and its workers) once the journal holds ``items`` items."""
    deadline = time.monotonic() + 120
    while len(recorded(store)) < items and proc.poll() is None:
        assert time.monotonic() < deadline, "the scan made no progress"
        time.sleep(0.01)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    _, stderr = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, f"the scan ended by itself: {stderr.decode()}"
    return len(recorded(store))


def test_kill_and_resume_scans_every_item_exactly_once(
    store: Store, database_url: tuple[str, str | None], tmp_path: Path
) -> None:
    folder = make_folder(tmp_path / "media", IMAGES)
    limits = Settings().media_limits()
    store.create_bank("known")
    matched = ["img004.jpg", "img030.jpg"]
    store.add_entries(
        "known", [NewEntry(signals=hash_path(folder / n, limits).signals) for n in matched]
    )
    url = cli_url(database_url)
    total = IMAGES + 2
    rng = random.Random()
    for _ in range(2):  # killed twice, at random points
        before = len(recorded(store))
        at = kill_after(store, start_scan(url, folder), rng.randint(before + 1, before + 12))
        assert at < total, "the scan finished before it could be killed"
        keys = recorded(store)
        assert len(keys) == len(set(keys))

    report = tmp_path / "report.jsonl"
    done = start_scan(url, folder, report)
    stdout, stderr = done.communicate(timeout=300)
    assert done.returncode == 0, stderr.decode()
    keys = recorded(store)
    assert len(keys) == len(set(keys)) == total
    summary = json.loads(report.read_text().splitlines()[0])["summary"]
    assert summary["resumed"] and summary["items"] == total and summary["failed"] == 2
    assert summary["skipped_done_before"] > 0
    with store.db.read() as conn:
        for name in matched:
            q = sa.select(sa.func.count()).where(
                cases.cases.c.org == "p1", cases.cases.c.content_ref == name
            )
            assert conn.execute(q).scalar_one() == 1
    assert b"cases opened now" in stdout


@pytest.mark.parametrize("flag", ["--restart"])
def test_restart_flag_scans_again(
    store: Store, database_url: tuple[str, str | None], tmp_path: Path, flag: str
) -> None:
    folder = make_folder(tmp_path / "media", 3, broken=False)
    url = cli_url(database_url)
    env = os.environ | {"TESSERA_DATABASE_URL": url, "TESSERA_DATA_DIR": str(tmp_path)}
    run = [*CLI, "scan", str(folder), "--workers", "1"]
    for extra in ([], [flag]):
        proc = subprocess.run(run + extra, cwd=ROOT, env=env, capture_output=True, timeout=300)
        assert proc.returncode == 0, proc.stderr.decode()
    assert len(recorded(store)) == 6
