"""Kept signals do not stay forever: purged past `kept_signal_days`, forgotten on request, both
audited; a forgotten piece of content no longer opens retro-hunt cases."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tessera.errors import InputError
from tessera.review import audit
from tessera.scan.retention import forget_content, purge_kept
from tessera.scan.retro import RetroHunter
from tessera.settings import Settings
from tessera.store import Store
from tessera.store.db import utcnow
from tessera.store.records import NewEntry
from tessera.store.scan_tables import kept_signals
from tests.scan import cli_url, edited_signals, make_folder
from tests.scan.test_cli import run
from tests.scan.test_retro import ORG, case_of, scan_and_keep


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_folder(tmp_path_factory.mktemp("media"), 4, broken=False)


def kept_refs(store: Store) -> dict[str, int]:
    c = kept_signals.c
    with store.db.read() as conn:
        rows = conn.execute(sa.select(c.content_ref, sa.func.count()).group_by(c.content_ref))
        return {ref: int(n) for ref, n in rows}


def test_signals_kept_past_their_days_are_purged_and_audited(
    store: Store, folder: Path, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path, kept_signal_days=30)
    scan_and_keep(store, settings, folder)
    kept = kept_refs(store)
    assert len(kept) == 4
    assert purge_kept(store, settings) == 0  # all of them are new
    with store.db.write() as conn:
        c = kept_signals.c
        conn.execute(
            kept_signals.update()
            .where(c.content_ref == "img001.jpg")
            .values(created_at=utcnow() - timedelta(days=31))
        )
    assert purge_kept(store, settings) == kept["img001.jpg"]
    assert "img001.jpg" not in kept_refs(store) and len(kept_refs(store)) == 3
    [record] = audit.list_records(store.db, kind="kept_signals.purged")
    assert record.org == ORG and record.detail["count"] == kept["img001.jpg"]
    # 0 days means "until forgotten".
    forever = Settings(data_dir=tmp_path, kept_signal_days=0)
    assert purge_kept(store, forever, now=utcnow() + timedelta(days=10_000)) == 0


def test_forgotten_content_is_not_hunted(store: Store, folder: Path, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    scan_and_keep(store, settings, folder)
    hunter = RetroHunter(store, settings)
    hunter.run_once()
    assert forget_content(store, org=ORG, content_ref="img003.jpg", actor="ops") > 0
    assert forget_content(store, org=ORG, content_ref="img003.jpg", actor="ops") == 0
    assert forget_content(store, org="other", content_ref="img001.jpg", actor="ops") == 0
    store.create_bank("incident")
    store.add_entries(
        "incident",
        [
            NewEntry(signals=edited_signals(3, tmp_path)),
            NewEntry(signals=edited_signals(1, tmp_path)),
        ],
    )
    hunter.run_once()  # its index still holds img003's ids: they must not match
    assert case_of(store, "img003.jpg") is None
    assert case_of(store, "img001.jpg") is not None
    [record] = audit.list_records(store.db, kind="kept_signals.forgotten")
    assert record.actor == "ops" and "img003" not in record.subject


@pytest.mark.parametrize("ref", ["", "   ", "x" * 2001])
def test_a_bad_reference_is_refused(store: Store, ref: str) -> None:
    with pytest.raises(InputError):
        forget_content(store, org=ORG, content_ref=ref, actor="ops")


def test_the_cli_purges_and_forgets(
    store: Store, database_url: tuple[str, str | None], folder: Path, tmp_path: Path
) -> None:
    url = cli_url(database_url)
    scanned = run(url, tmp_path, "scan", str(folder), "--keep-signals", "--org", ORG)
    assert scanned.returncode == 0, scanned.stderr
    forgot = run(url, tmp_path, "kept", "forget", "--org", ORG, "img000.jpg")
    assert forgot.returncode == 0, forgot.stderr
    assert "kept signal(s) of 'img000.jpg'" in forgot.stdout
    assert "img000.jpg" not in kept_refs(store)
    purged = run(url, tmp_path, "kept", "purge")
    assert purged.returncode == 0 and "deleted 0 kept signal(s)" in purged.stdout
    bad = run(url, tmp_path, "kept", "forget", "")
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
