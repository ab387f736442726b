"""Over real HTTP: uploads looked up (``/v1/match``, ``/v1/content``) are screened with a sparse
video hash and confirmed densely; cases and bank entries hold only dense hashes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tessera.services.hashing import HashResult, hash_path
from tessera.services.matching import SCREENED_TYPES
from tessera.settings import Settings
from tessera.signals.base import Signal
from tessera.signals.vpdq import VpdqSignal
from tessera.store.records import NewEntry
from tessera.store.tables import value_key
from tests.api.conftest import RunningNode
from tests.media.screen_clips import COPY, REFERENCE, UNRELATED


@pytest.fixture(scope="module")
def videos(shared_data: Path) -> Path:
    return shared_data / "videos"


@pytest.fixture(scope="module")
def dense(videos: Path) -> dict[str, dict[str, str]]:
    """Each clip's signals hashed densely (type -> value)."""
    limits = Settings().media_limits()
    results: dict[str, HashResult] = {
        n: hash_path(videos / n, limits) for n in (REFERENCE, COPY, UNRELATED)
    }
    return {n: {s.type: s.value for s in r.signals} for n, r in results.items()}


def video_bank(running: RunningNode, dense: dict[str, dict[str, str]]) -> None:
    """A bank members see, holding the reference's video signals only (so only the video screen
    can call for a copy's dense hash)."""
    r = running.client.post(
        "/v1/banks", headers=running.as_("hub"), json={"name": "tco", "distribution": "members"}
    )
    assert r.status_code == 201, r.text
    video = tuple(Signal(t, v) for t, v in dense[REFERENCE].items() if t in SCREENED_TYPES)
    running.node.store.add_entries("tco", [NewEntry(signals=video)])
    deadline = time.monotonic() + 10
    while running.node.matcher.size("vpdq_regions") == 0:
        assert time.monotonic() < deadline, "the matcher did not follow the new entry"
        time.sleep(0.05)


def post_match(running: RunningNode, videos: Path, name: str) -> list[dict[str, object]]:
    r = running.client.post(
        "/v1/match",
        headers=running.as_("m1"),
        files={"file": (name, (videos / name).read_bytes())},
    )
    assert r.status_code == 200, r.text
    found: list[dict[str, object]] = r.json()["matches"]
    return found


def last_video_hash() -> tuple[bytes, bool]:
    """The bytes ``VpdqSignal`` hashed last (the server runs in this process), and whether as
    a sparse query."""
    cached = VpdqSignal._cache
    assert cached is not None
    return cached[0], cached[3]


def test_match_confirms_a_copy_densely_and_screens_out_an_unrelated_clip(
    running: RunningNode, videos: Path, dense: dict[str, dict[str, str]]
) -> None:
    video_bank(running, dense)
    found = post_match(running, videos, COPY)
    assert {m["signal_type"] for m in found} >= {"vpdq_regions"}
    for m in found:  # the dense query's match, with its segment
        assert m["query"] == "sha256:" + value_key(dense[COPY][str(m["signal_type"])])
        assert "reference_start_s" in m["detail"]  # type: ignore[operator]
    assert last_video_hash() == ((videos / COPY).read_bytes(), False)

    assert post_match(running, videos, UNRELATED) == []
    assert last_video_hash() == ((videos / UNRELATED).read_bytes(), True)  # no dense hash


def test_a_query_gap_of_zero_matches_uploads_densely(
    running: RunningNode,
    videos: Path,
    dense: dict[str, dict[str, str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TESSERA_VPDQ_QUERY_GAP", "0")
    video_bank(running, dense)
    assert post_match(running, videos, UNRELATED) == []
    assert last_video_hash() == ((videos / UNRELATED).read_bytes(), False)


def test_a_submitted_copy_opens_a_case_recording_its_dense_hash(
    running: RunningNode, videos: Path, dense: dict[str, dict[str, str]]
) -> None:
    video_bank(running, dense)
    m1 = running.as_("m1")

    def submit(name: str, ref: str) -> dict[str, object]:
        r = running.client.post(
            "/v1/content",
            headers=m1,
            files={"file": (name, (videos / name).read_bytes())},
            data={"content_ref": ref},
        )
        assert r.status_code == 200, r.text
        body: dict[str, object] = r.json()
        return body

    body = submit(COPY, "https://platform.example/v/1")
    case = body["case"]
    assert isinstance(case, dict) and case["matches"]
    shown = running.client.get(f"/v1/cases/{case['uuid']}", headers=m1).json()
    assert {s["type"]: s["value"] for s in shown["signals"]} == dense[COPY]

    body = submit(UNRELATED, "https://platform.example/v/2")
    assert body["case"] is None and body["matches"] == []
    shown_types = {s["type"] for s in body["signals"]}  # type: ignore[attr-defined]
    assert "sha256" in shown_types and not shown_types & SCREENED_TYPES  # no sparse hash shown


def test_bank_uploads_keep_the_dense_hash(
    running: RunningNode, videos: Path, dense: dict[str, dict[str, str]]
) -> None:
    c = running.client
    hub = running.as_("hub")
    assert c.post("/v1/banks", headers=hub, json={"name": "tco"}).status_code == 201
    r = c.post(
        "/v1/banks/tco/entries/upload",
        headers=hub,
        files={"file": (REFERENCE, (videos / REFERENCE).read_bytes())},
        data={"labels": ["test"], "inclusion_criterion": "c"},
    )
    assert r.status_code == 201, r.text
    (entry,) = r.json()["added"]
    stored = c.get(f"/v1/banks/tco/entries/{entry['uuid']}", headers=hub).json()
    held = {s["type"]: s["value"] for s in stored["signals"]}
    assert {t: held[t] for t in SCREENED_TYPES} == {t: dense[REFERENCE][t] for t in SCREENED_TYPES}
