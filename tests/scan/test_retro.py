"""Retro-hunt: kept signals of scanned content are matched against bank entries added later."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from tessera.review import cases
from tessera.scan.checkpoint import ScanJournal
from tessera.scan.retro import RetroHunter
from tessera.scan.source import open_source
from tessera.scan.work import hash_items, match_items
from tessera.services.hashing import hash_path
from tessera.services.matching import Matcher
from tessera.settings import Settings
from tessera.store import Store
from tessera.store.orgs import OrgStore
from tessera.store.records import NewEntry, Tier
from tessera.store.scan_tables import kept_signals
from tests.scan import edited_signals, make_folder

ORG = "p1"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_folder(tmp_path_factory.mktemp("media"), 6, broken=False)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path)


def scan_and_keep(store: Store, settings: Settings, folder: Path, org: str = ORG) -> None:
    """Scan the folder in this process, keeping its signals (what `--keep-signals` records)."""
    source = open_source(folder)
    journal = ScanJournal(store)
    job = journal.open_job(org, source.description, keep_signals=True)
    matcher = Matcher(store)
    matcher.load()
    hashed = hash_items(list(source.items()), settings.media_limits())
    journal.commit(job, match_items(matcher, hashed, settings.min_quality), settings.min_quality)


def case_of(store: Store, content_ref: str, org: str = ORG) -> cases.Case | None:
    with store.db.read() as conn:
        return cases.latest_for_content(conn, org, content_ref)


def test_new_entry_opens_a_case_within_the_poll_interval(
    store: Store, settings: Settings, folder: Path, tmp_path: Path
) -> None:
    scan_and_keep(store, settings, folder)
    hunter = RetroHunter(store, settings, interval_s=0.2)
    first = hunter.run_once()
    assert first.routed == 0 and hunter.size() > 0
    store.create_bank("incident")
    hunter.start()
    try:
        added = time.monotonic()
        store.add_entries("incident", [NewEntry(signals=edited_signals(4, tmp_path))])
        while case_of(store, "img004.jpg") is None:
            assert time.monotonic() - added < 10, "no case within 10 s"
            time.sleep(0.05)
    finally:
        hunter.stop()
    case = case_of(store, "img004.jpg")
    assert case is not None and case.source == "retro_hunt" and case.media_kind == "image"
    assert [(m.bank_name, m.signal_type) for m in case.matches] == [("incident", "pdq")]
    assert {s["type"] for s in case.signals} >= {"pdq", "md5"}
    assert all(case_of(store, f"img00{i}.jpg") is None for i in (0, 1, 3))

    again = RetroHunter(store, settings)  # the cursor persists: nothing is hunted twice
    done = again.run_once()
    assert done.changes == 0 and done.routed == 0 and again.size() == hunter.size()


def test_entries_the_scan_already_matched_are_not_hunted_again(
    store: Store, settings: Settings, folder: Path
) -> None:
    store.create_bank("known")
    limits = settings.media_limits()
    store.add_entries("known", [NewEntry(signals=hash_path(folder / "img001.jpg", limits).signals)])
    hunter = RetroHunter(store, settings)
    hunter.run_once()
    scan_and_keep(store, settings, folder)
    done = hunter.run_once()
    assert done.new_kept > 0 and done.routed == 0 and case_of(store, "img001.jpg") is None


def test_signals_kept_after_the_cursor_moved_are_hunted_back(
    store: Store, settings: Settings, folder: Path, tmp_path: Path
) -> None:
    """A scan that matched before an entry arrived, but kept its signals after the hunter passed
    that entry, still gets the entry's case."""
    hunter = RetroHunter(store, settings)
    store.create_bank("incident")
    scan_seq = store.latest_seq()
    store.add_entries("incident", [NewEntry(signals=edited_signals(2, tmp_path))])
    assert hunter.run_once().cursor > scan_seq  # passed the entry with nothing kept
    scan_and_keep(store, settings, folder)
    with store.db.write() as conn:  # as scanned before the entry arrived
        conn.execute(kept_signals.update().values(matched_through=scan_seq))
    done = hunter.run_once()
    assert done.routed == 1 and done.cases_opened == 1
    case = case_of(store, "sub/img002.jpg")
    assert case is not None and case.source == "retro_hunt"


def test_banks_the_org_may_not_see_open_no_case(
    store: Store, settings: Settings, folder: Path, tmp_path: Path
) -> None:
    OrgStore(store.db).create_org(ORG, Tier.PARTNER)
    scan_and_keep(store, settings, folder)
    hunter = RetroHunter(store, settings)
    hunter.run_once()
    store.create_bank("private", owner_org="hub", distribution="owner")
    store.add_entries("private", [NewEntry(signals=edited_signals(4, tmp_path))])
    store.create_bank("shared", owner_org="hub", distribution="all")
    store.add_entries("shared", [NewEntry(signals=edited_signals(5, tmp_path))])
    done = hunter.run_once()
    assert done.routed == 1
    assert case_of(store, "img004.jpg") is None
    assert case_of(store, "sub/img005.jpg") is not None
    with store.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(cases.cases)).scalar() == 1
