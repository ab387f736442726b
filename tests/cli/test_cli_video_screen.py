"""`tessera match` and `tessera submit` look videos up with screen-then-confirm (sparse hash,
dense only when the screen flags something); a case records the dense hash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tessera.cli.main import app
from tessera.review import cases
from tessera.services.hashing import HashResult, hash_path
from tessera.services.matching import SCREENED_TYPES
from tessera.settings import Settings
from tessera.signals.vpdq import VpdqSignal
from tessera.store import Database, Store
from tessera.store.records import NewEntry
from tests.cli.test_cli import tessera
from tests.media.screen_clips import COPY, REFERENCE, UNRELATED


@pytest.fixture(scope="module")
def videos(shared_data: Path) -> Path:
    return shared_data / "videos"


@pytest.fixture(scope="module")
def dense(videos: Path) -> dict[str, HashResult]:
    limits = Settings().media_limits()
    return {n: hash_path(videos / n, limits) for n in (REFERENCE, COPY, UNRELATED)}


@pytest.fixture
def db(tmp_path: Path, dense: dict[str, HashResult]) -> Path:
    """A SQLite store whose bank holds the reference's video signals only (so only the video
    screen can call for a copy's dense hash)."""
    path = tmp_path / "t.db"
    tessera("bank", "create", "known", "--label", "test", "--criterion", "c", db=path)
    database = Database(f"sqlite:///{path}")
    try:
        video = tuple(s for s in dense[REFERENCE].signals if s.type in SCREENED_TYPES)
        Store(database, node_org="test-org").add_entries("known", [NewEntry(signals=video)])
    finally:
        database.dispose()
    return path


def matches_of(stdout: str) -> list[dict[str, object]]:
    (line,) = map(json.loads, stdout.splitlines())
    found: list[dict[str, object]] = line["matches"]
    return found


def test_match_finds_the_copy_with_its_dense_hash_and_not_the_unrelated_clip(
    db: Path, videos: Path, dense: dict[str, HashResult]
) -> None:
    found = matches_of(tessera("match", str(videos / COPY), "--json", db=db).stdout)
    assert {m["signal_type"] for m in found} >= {"vpdq_regions"}
    values = {s.type: s.value for s in dense[COPY].signals}
    for m in found:  # the reported query is the dense hash, with its segment
        assert m["query_length"] == len(values[str(m["signal_type"])])
        assert "reference_start_s" in m["detail"]  # type: ignore[operator]
    assert matches_of(tessera("match", str(videos / UNRELATED), "--json", db=db).stdout) == []


def test_match_of_an_unrelated_clip_never_hashes_it_densely(db: Path, videos: Path) -> None:
    """In process, to see what the video signal hashed last: the sparse query, nothing after."""
    result = CliRunner().invoke(
        app, ["match", str(videos / UNRELATED), "--json", "--db", f"sqlite:///{db}"]
    )
    assert result.exit_code == 0, result.output
    assert matches_of(result.stdout) == []
    cached = VpdqSignal._cache
    assert cached is not None and cached[3]
    assert cached[0] == (videos / UNRELATED).read_bytes()


def test_submit_records_the_dense_hash_in_the_case(
    db: Path, videos: Path, dense: dict[str, HashResult]
) -> None:
    proc = tessera("submit", str(videos / COPY), "--content-ref", "up/1", "--json", db=db)
    case = json.loads(proc.stdout)["case"]
    assert case is not None and {m["signal_type"] for m in case["matches"]} >= {"vpdq_regions"}
    database = Database(f"sqlite:///{db}")
    try:
        stored = cases.get(database, Settings().node_org, case["uuid"])
    finally:
        database.dispose()
    recorded = {s["type"]: s["value"] for s in stored.signals}
    assert recorded == {s.type: s.value for s in dense[COPY].signals}
    proc = tessera("submit", str(videos / UNRELATED), "--content-ref", "up/2", "--json", db=db)
    assert json.loads(proc.stdout)["case"] is None
