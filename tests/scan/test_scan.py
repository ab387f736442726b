"""Scanning a folder or manifest on the local backend: journal, report, routing, resume."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tessera.errors import TesseraError
from tessera.review import cases
from tessera.scan.checkpoint import ScanJournal
from tessera.scan.local import LocalBackend
from tessera.scan.report import write_report
from tessera.scan.runner import Scanner
from tessera.scan.source import open_source
from tessera.scan.work import hash_items, match_items
from tessera.services.hashing import hash_path
from tessera.services.matching import Matcher
from tessera.settings import Settings
from tessera.store import Database, Store
from tessera.store.records import NewEntry
from tessera.store.scan_tables import kept_signals, scan_items
from tests.scan import make_folder

ORG = "test-org"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Twelve images in two folders, an empty file and a corrupt one."""
    return make_folder(tmp_path_factory.mktemp("media"), 12)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path)


@pytest.fixture
def backend(store: Store, settings: Settings) -> Iterator[LocalBackend]:
    b = LocalBackend(store, settings, org=ORG, workers=2)
    try:
        yield b
    finally:
        b.close()


def bank_of(store: Store, folder: Path, names: list[str]) -> None:
    store.create_bank("known")
    limits = Settings().media_limits()
    store.add_entries(
        "known", [NewEntry(signals=hash_path(folder / n, limits).signals) for n in names]
    )


def keys_recorded(store: Store) -> list[str]:
    with store.db.read() as conn:
        return sorted(conn.execute(sa.select(scan_items.c.item_key)).scalars())


def cases_of(store: Store, content_ref: str) -> int:
    with store.db.read() as conn:
        q = sa.select(sa.func.count()).where(
            cases.cases.c.org == ORG, cases.cases.c.content_ref == content_ref
        )
        return int(conn.execute(q).scalar_one())


def test_scan_folder_records_items_errors_and_cases(
    store: Store, settings: Settings, backend: LocalBackend, folder: Path, tmp_path: Path
) -> None:
    bank_of(store, folder, ["img001.jpg", "sub/img005.jpg"])
    progress: list[int] = []
    scanner = Scanner(store, settings, backend, org=ORG, batch_size=3, on_progress=progress.append)
    outcome = scanner.run(open_source(folder))
    assert sum(progress) == 14
    s = outcome.summary
    assert (s.done, s.failed, s.matched, s.routed) == (14, 2, 2, 2)
    assert outcome.cases_opened == 2 and outcome.scanned == 14 and outcome.skipped == 0
    assert len(keys_recorded(store)) == 14
    with store.db.read() as conn:
        case = cases.latest_for_content(conn, ORG, "sub/img005.jpg")
    assert case is not None and case.source == "scan" and case.media_kind == "image"
    assert {m.bank_name for m in case.matches} == {"known"}

    report = tmp_path / "report.jsonl"
    write_report(ScanJournal(store), outcome, report)
    lines = [json.loads(line) for line in report.read_text().splitlines()]
    assert lines[0]["summary"]["failed"] == 2 and lines[0]["summary"]["items"] == 14
    errors = {
        line["error"]["content_id"]: line["error"]["reason"] for line in lines if "error" in line
    }
    assert set(errors) == {"empty.jpg", "corrupt.png"}
    matched = [line["match"] for line in lines if "match" in line]
    assert {m["content_id"] for m in matched} == {"img001.jpg", "sub/img005.jpg"}
    assert all(m["case"] for m in matched)
    with store.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(kept_signals)).scalar() == 0

    again = scanner.run(open_source(folder))  # the job finished: a new scan starts afresh
    assert again.job.uuid != outcome.job.uuid and again.scanned == 14
    assert again.cases_opened == 0 and cases_of(store, "img001.jpg") == 1


def test_resume_after_a_kill_between_commit_and_routing(
    store: Store, settings: Settings, backend: LocalBackend, folder: Path
) -> None:
    """The journal holds the first items, one matched but not routed (killed in between)."""
    bank_of(store, folder, ["img001.jpg"])
    source = open_source(folder)
    journal = ScanJournal(store)
    job = journal.open_job(ORG, source.description, keep_signals=False)
    first = list(source.items())[:5]
    matcher = Matcher(store)
    matcher.load()
    journal.commit(job, match_items(matcher, hash_items(first, settings.media_limits()), 50))
    assert [r.key for r in journal.unrouted(job)] == ["img001.jpg"]

    outcome = Scanner(store, settings, backend, org=ORG).run(source)
    assert outcome.job.uuid == job.uuid and outcome.job.resumed
    assert outcome.skipped == 5 and outcome.scanned == 9
    keys = keys_recorded(store)
    assert len(keys) == len(set(keys)) == 14
    assert cases_of(store, "img001.jpg") == 1 and outcome.summary.routed == 1
    assert list(journal.unrouted(job)) == []


def test_restart_starts_a_new_job(
    store: Store, settings: Settings, backend: LocalBackend, folder: Path
) -> None:
    source = open_source(folder)
    journal = ScanJournal(store)
    old = journal.open_job(ORG, source.description, keep_signals=False)
    outcome = Scanner(store, settings, backend, org=ORG).run(source, restart=True)
    assert outcome.job.uuid != old.uuid and not outcome.job.resumed
    assert journal.get_job(old.uuid) is not None
    assert outcome.summary.done == 14


def test_manifest_duplicates_missing_files_and_kept_signals(
    store: Store, settings: Settings, backend: LocalBackend, folder: Path, tmp_path: Path
) -> None:
    manifest = tmp_path / "m.jsonl"
    rows = [
        {"path": str(folder / "img000.jpg"), "content_id": "post/0"},
        {"path": str(folder / "img001.jpg"), "content_id": "post/1"},
        {"path": str(folder / "img003.jpg"), "content_id": "post/0"},
        {"path": str(folder / "gone.jpg"), "content_id": "post/gone"},
        {"path": str(folder / "empty.jpg")},
    ]
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    scanner = Scanner(store, settings, backend, org=ORG, batch_size=2, keep_signals=True)
    outcome = scanner.run(open_source(manifest))
    assert outcome.summary.done == 5 and outcome.summary.failed == 3
    errors = {i.key: i.error for i in ScanJournal(store).items(outcome.job, errors_only=True)}
    assert "earlier line" in str(errors["#line 3"])
    assert "post/gone" in errors and "#line 5" in errors
    with store.db.read() as conn:
        kept = conn.execute(sa.select(kept_signals)).all()
    assert {r.content_ref for r in kept} == {"post/0", "post/1"}
    assert {r.signal_type for r in kept} >= {"pdq", "md5", "sha256"}
    assert all(r.org == ORG and r.media_kind == "image" for r in kept)


def test_workers_that_cannot_start_stop_the_scan_without_recording(
    store: Store, settings: Settings, folder: Path, tmp_path: Path
) -> None:
    """Workers pointed at a store without Tessera's schema die at start: the scan stops with one
    clear error and records nothing, so the next run scans every item."""
    elsewhere = Store(Database(f"sqlite:///{tmp_path / 'not-migrated.db'}"))
    broken = LocalBackend(elsewhere, settings, org=ORG, workers=1)
    try:
        with pytest.raises(TesseraError, match="cannot start"):
            Scanner(store, settings, broken, org=ORG, batch_size=2).run(open_source(folder))
    finally:
        broken.close()
        elsewhere.db.dispose()
    assert keys_recorded(store) == []
