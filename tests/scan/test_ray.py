"""The Ray backend on a local Ray instance gives the same results as the local backend."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tessera.scan.checkpoint import JournalItem, ScanJournal
from tessera.scan.local import LocalBackend
from tessera.scan.ray_backend import RayBackend
from tessera.scan.runner import Scanner
from tessera.scan.source import open_source
from tessera.scan.work import StoreLocation
from tessera.services.hashing import hash_path
from tessera.settings import Settings
from tessera.store import Store
from tessera.store.records import NewEntry
from tessera.store.scan_tables import kept_signals
from tests.scan import make_folder

STARTS = 3
"""Tries at starting the local Ray instance (on a loaded machine one can time out)."""

pytestmark = [
    # A start that timed out leaves process handles whose clean-up Python reports as unraisable.
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    # One Ray instance for the module, in one worker under `pytest -n N --dist loadgroup`.
    pytest.mark.xdist_group("ray"),
]


@pytest.fixture(scope="module")
def ray_instance() -> Iterator[Any]:
    """One small local Ray instance for the module."""
    import ray  # a test dependency (the `test` extra): missing is a failure, not a skip

    for attempt in range(1, STARTS + 1):
        try:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
            break
        except Exception:  # Ray gives its own processes 30 s to start: too short when loaded
            ray.shutdown()
            gc.collect()  # the failed start's process handles, collected here, not in a later test
            if attempt == STARTS:
                raise
    try:
        yield ray
    finally:
        ray.shutdown()


def outcome_of(journal: ScanJournal, job: Any) -> dict[str, tuple[Any, ...]]:
    def row(i: JournalItem) -> tuple[Any, ...]:
        signals = sorted((s["type"], s["value"]) for s in i.signals)
        matches = sorted((m["bank"], m["entry_uuid"], m["signal_type"]) for m in i.matches)
        return i.state, i.media_kind, i.error, tuple(signals), tuple(matches), i.case_uuid is None

    return {i.key: row(i) for i in journal.items(job)}


def test_ray_local_equals_local(store: Store, ray_instance: Any, tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "media", 6)
    settings = Settings(data_dir=tmp_path)
    store.create_bank("known")
    store.add_entries(
        "known",
        [NewEntry(signals=hash_path(folder / "img003.jpg", settings.media_limits()).signals)],
    )
    source = open_source(folder)
    journal = ScanJournal(store)

    local = LocalBackend(store, settings, org="a", workers=2)
    try:
        by_local = Scanner(store, settings, local, org="a", batch_size=2, keep_signals=True).run(
            source
        )
    finally:
        local.close()
    remote = RayBackend(store, settings, org="b", address="local", workers=2)
    try:
        by_ray = Scanner(store, settings, remote, org="b", batch_size=2, keep_signals=True).run(
            source
        )
    finally:
        remote.close()
    assert ray_instance.is_initialized()  # a Ray instance the backend did not start stays up
    assert by_ray.summary == by_local.summary
    assert by_ray.summary.done == 8 and by_ray.summary.matched == 1
    assert outcome_of(journal, by_ray.job) == outcome_of(journal, by_local.job)
    assert kept(store, "b") == kept(store, "a") and len(kept(store, "a")) >= 6 * 3


def kept(store: Store, org: str) -> list[tuple[str, str, str, int]]:
    """The signals an organisation kept: (content ref, type, value, matched_through)."""
    c = kept_signals.c
    q = sa.select(c.content_ref, c.signal_type, c.value, c.matched_through).where(c.org == org)
    with store.db.read() as conn:
        return sorted((r[0], r[1], r[2], int(r[3])) for r in conn.execute(q))


def test_store_location_carries_the_schema(store: Store) -> None:
    where = StoreLocation.of(store)
    assert where.url.startswith(("sqlite", "postgresql"))
    assert (where.schema is None) == (store.db.dialect == "sqlite")
