"""The scanner looks videos up with screen-then-confirm; the journal, cases and kept signals hold
only dense video hashes."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tessera.review import cases
from tessera.scan.checkpoint import ScanJournal
from tessera.scan.local import LocalBackend
from tessera.scan.runner import Scanner
from tessera.scan.source import open_source
from tessera.scan.work import scan_items
from tessera.services.hashing import HashResult, hash_path
from tessera.services.matching import SCREENED_TYPES, Matcher
from tessera.settings import Settings
from tessera.signals.vpdq import VpdqSignal
from tessera.store import Store
from tessera.store.records import NewEntry
from tessera.store.scan_tables import kept_signals
from tests.media.screen_clips import COPY, REFERENCE, UNRELATED

ORG = "test-org"


@pytest.fixture(scope="module")
def folder(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The copy and the unrelated clip, to scan."""
    root = tmp_path_factory.mktemp("videos")
    for name in (COPY, UNRELATED):
        shutil.copy(shared_data / "videos" / name, root / name)
    return root


@pytest.fixture(scope="module")
def dense(shared_data: Path, folder: Path) -> dict[str, HashResult]:
    limits = Settings().media_limits()
    out = {n: hash_path(folder / n, limits) for n in (COPY, UNRELATED)}
    out[REFERENCE] = hash_path(shared_data / "videos" / REFERENCE, limits)
    return out


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path)


@pytest.fixture
def banked(store: Store, dense: dict[str, HashResult]) -> Store:
    """A bank holding the reference's video signals only (only the screen can flag a copy)."""
    store.create_bank("known")
    video = [s for s in dense[REFERENCE].signals if s.type in SCREENED_TYPES]
    store.add_entries("known", [NewEntry(signals=tuple(video))])
    return store


@pytest.fixture
def backend(store: Store, settings: Settings) -> Iterator[LocalBackend]:
    b = LocalBackend(store, settings, org=ORG, workers=1)
    try:
        yield b
    finally:
        b.close()


def values(signals: object) -> dict[str, str]:
    return {s["type"]: s["value"] for s in signals}  # type: ignore[attr-defined]


def dense_values(result: HashResult) -> dict[str, str]:
    return {s.type: s.value for s in result.signals}


def assert_kept_dense(store: Store, dense: dict[str, HashResult]) -> None:
    """Both scanned clips' kept video signals are their dense hashes."""
    with store.db.read() as conn:
        rows = conn.execute(
            sa.select(kept_signals.c.content_ref, kept_signals.c.signal_type, kept_signals.c.value)
        ).all()
    kept = {(ref, kind): value for ref, kind, value in rows}
    for name in (COPY, UNRELATED):
        for kind in SCREENED_TYPES:
            assert kept[(name, kind)] == dense_values(dense[name])[kind]


def test_a_scan_finds_the_copy_and_records_its_dense_hash(
    banked: Store,
    settings: Settings,
    backend: LocalBackend,
    folder: Path,
    dense: dict[str, HashResult],
) -> None:
    outcome = Scanner(banked, settings, backend, org=ORG).run(open_source(folder))
    assert outcome.scanned == 2 and outcome.summary.matched == 1
    journal = ScanJournal(banked)
    (item,) = journal.items(outcome.job, matched_only=True)
    assert item.key == COPY
    assert {m["signal_type"] for m in item.matches} == {"vpdq", "vpdq_regions"}
    assert values(item.signals) == dense_values(dense[COPY])
    assert all(
        m["query_value"] == dense_values(dense[COPY])[m["signal_type"]] for m in item.matches
    )
    with banked.db.read() as conn:
        case = cases.latest_for_content(conn, ORG, COPY)
    assert case is not None and values(case.signals) == dense_values(dense[COPY])


def test_an_unrelated_video_is_screened_out_and_keeps_no_sparse_hash(
    banked: Store, settings: Settings, folder: Path
) -> None:
    matcher = Matcher(banked)
    matcher.load()
    items = {i.key: i for i in open_source(folder).items()}
    (result,) = scan_items(matcher, [items[UNRELATED]], settings.media_limits(), 50)
    assert result.ok and result.matches == ()
    types = {s.type for s in result.signals}
    assert "sha256" in types and not types & SCREENED_TYPES  # no video signal at all
    cached = VpdqSignal._cache
    assert cached is not None and cached[3]  # the last video hash was the sparse query
    assert cached[0] == (folder / UNRELATED).read_bytes()


def test_a_job_keeping_signals_hashes_densely_and_keeps_the_dense_hash(
    banked: Store, settings: Settings, folder: Path, dense: dict[str, HashResult]
) -> None:
    matcher = Matcher(banked)
    matcher.load()
    source = open_source(folder)
    journal = ScanJournal(banked)
    job = journal.open_job(ORG, source.description, keep_signals=True)
    results = scan_items(matcher, list(source.items()), settings.media_limits(), 50, screen=False)
    journal.commit(job, results, 50)
    assert_kept_dense(banked, dense)


def test_a_scan_run_keeping_signals_keeps_every_video_hash_dense(
    banked: Store,
    settings: Settings,
    backend: LocalBackend,
    folder: Path,
    dense: dict[str, HashResult],
) -> None:
    # Through the runner and a real worker process: the job's choice reaches the workers, so
    # the unrelated clip (which the screen would leave without a video hash) keeps its dense one
    # for retro-hunt.
    scanner = Scanner(banked, settings, backend, org=ORG, keep_signals=True)
    outcome = scanner.run(open_source(folder))
    assert outcome.scanned == 2 and outcome.summary.matched == 1
    assert_kept_dense(banked, dense)
