"""Screen-then-confirm: a video looked up is hashed sparsely, screened, and hashed densely only
when the screen flags something; what is returned to record is never the sparse hash."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tessera.services import banks
from tessera.services.hashing import HashResult, hash_path
from tessera.services.matching import (
    SCREENED_TYPES,
    Matcher,
    Query,
    match_path,
    queries_for,
)
from tessera.settings import Settings
from tessera.signals.vpdq import VpdqSignal, hashing_queries
from tessera.store import Store
from tests.media.screen_clips import COPY, REFERENCE, UNRELATED

PROVENANCE = banks.Provenance(labels=("test",), inclusion_criterion="c")


@pytest.fixture(scope="module")
def videos(shared_data: Path) -> Path:
    return shared_data / "videos"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("data"))


@pytest.fixture(scope="module")
def dense(videos: Path, settings: Settings) -> dict[str, HashResult]:
    """Every clip used here hashed densely, as `tessera hash` and `bank add` hash it."""
    return {n: hash_path(videos / n, settings.media_limits()) for n in (REFERENCE, COPY, UNRELATED)}


def video_only_bank(store: Store, dense: dict[str, HashResult], name: str = REFERENCE) -> Matcher:
    """A bank whose one entry holds only the reference's video signals (no digest or audio can
    match, so only the video screen can call for the dense hash); its loaded matcher."""
    banks.create_bank(store, "known", labels=["test"], inclusion_criterion="c")
    video = [s for s in dense[name].signals if s.type in SCREENED_TYPES]
    assert {s.type for s in video} == SCREENED_TYPES
    banks.add_signals(store, "known", video, PROVENANCE)
    matcher = Matcher(store)
    matcher.load()
    return matcher


def last_video_hash() -> tuple[bytes, bool]:
    """The bytes of the video ``VpdqSignal`` hashed last, and whether as a sparse query."""
    cached = VpdqSignal._cache
    assert cached is not None
    return cached[0], cached[3]


def values(result: HashResult) -> dict[str, str]:
    return {s.type: s.value for s in result.signals}


def test_a_copy_flagged_by_the_screen_is_matched_with_its_dense_hash(
    store: Store, videos: Path, settings: Settings, dense: dict[str, HashResult]
) -> None:
    matcher = video_only_bank(store, dense)
    looked = match_path(matcher, videos / COPY, settings.media_limits(), min_quality=50)
    assert looked.screened_out == ()
    assert {m.signal_type for m in looked.matches} >= {"vpdq_regions"}
    # What is returned to record is the dense hash, and the matches are the dense query's,
    # with their segment (offsets) from it.
    assert looked.result.signals == dense[COPY].signals  # same values, same order
    expected = matcher.match(queries_for(dense[COPY], False, 50))
    assert looked.matches == expected
    assert all(m.query_value == values(dense[COPY])[m.signal_type] for m in looked.matches)
    assert all("reference_start_s" in (m.detail or {}) for m in looked.matches)
    assert last_video_hash() == ((videos / COPY).read_bytes(), False)  # the confirm ran last


def test_an_unrelated_video_takes_the_cheap_path(
    store: Store, videos: Path, settings: Settings, dense: dict[str, HashResult]
) -> None:
    matcher = video_only_bank(store, dense)
    looked = match_path(matcher, videos / UNRELATED, settings.media_limits(), min_quality=50)
    assert looked.matches == [] and looked.result.ok
    assert looked.screened_out == ("vpdq", "vpdq_regions")
    # No sparse signal is handed back (so none can be recorded); the digests are.
    assert not SCREENED_TYPES & values(looked.result).keys()
    assert values(looked.result)["sha256"] == values(dense[UNRELATED])["sha256"]
    # The dense hash was never computed: the last video hashed is this one, as a sparse query,
    # with far fewer frames than its dense hash.
    assert last_video_hash() == ((videos / UNRELATED).read_bytes(), True)
    cached = VpdqSignal._cache
    assert cached is not None
    assert 0 < 3 * len(cached[1].frames) < len(json.loads(values(dense[UNRELATED])["vpdq"]))


def test_the_screen_is_loose_and_the_sparse_hash_alone_is_no_verdict(
    store: Store, videos: Path, settings: Settings, dense: dict[str, HashResult]
) -> None:
    from tessera.media.content import Content

    matcher = video_only_bank(store, dense)
    for name, flagged in ((COPY, True), (UNRELATED, False)):
        content = Content.from_path(videos / name, settings.media_limits())
        with hashing_queries():
            sparse = [VpdqSignal.hash_content(content)]
        queries = [Query(s) for s in sparse if s is not None]
        assert queries and queries[0].signal.value != values(dense[name])["vpdq"]
        assert matcher.screen(queries) is flagged, name


def test_any_other_match_also_records_the_dense_video_hash(
    store: Store, videos: Path, settings: Settings, dense: dict[str, HashResult]
) -> None:
    """The screen finds nothing, but the file's digest is banked: the match is reported, and
    what a case would record is the dense video hash, never the sparse one."""
    matcher = video_only_bank(store, dense)
    sha = [s for s in dense[UNRELATED].signals if s.type == "sha256"]
    banks.add_signals(store, "known", sha, PROVENANCE)
    matcher.refresh()
    looked = match_path(matcher, videos / UNRELATED, settings.media_limits(), min_quality=50)
    assert [m.signal_type for m in looked.matches] == ["sha256"]
    assert looked.screened_out == ()
    assert values(looked.result) == values(dense[UNRELATED])


def test_a_query_gap_of_zero_hashes_queries_densely(
    store: Store,
    videos: Path,
    settings: Settings,
    dense: dict[str, HashResult],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TESSERA_VPDQ_QUERY_GAP", "0")
    matcher = video_only_bank(store, dense)
    looked = match_path(matcher, videos / UNRELATED, settings.media_limits(), min_quality=50)
    assert looked.matches == [] and looked.screened_out == ()
    assert values(looked.result) == values(dense[UNRELATED])
    assert last_video_hash() == ((videos / UNRELATED).read_bytes(), False)


def test_screen_false_hashes_densely_for_a_caller_that_keeps_signals(
    store: Store, videos: Path, settings: Settings, dense: dict[str, HashResult]
) -> None:
    matcher = video_only_bank(store, dense)
    looked = match_path(
        matcher, videos / UNRELATED, settings.media_limits(), min_quality=50, screen=False
    )
    assert looked.screened_out == () and values(looked.result) == values(dense[UNRELATED])


def test_a_copy_of_a_bank_video_added_from_its_file_still_matches(
    store: Store, videos: Path, settings: Settings
) -> None:
    """The bank as `bank add` fills it (every signal type, hashed densely)."""
    banks.create_bank(store, "known", labels=["test"], inclusion_criterion="c")
    banks.add_files(store, "known", [videos / REFERENCE], settings.media_limits(), PROVENANCE)
    matcher = Matcher(store)
    matcher.load()
    looked = match_path(matcher, videos / COPY, settings.media_limits(), min_quality=50)
    assert {"vpdq_regions", "tessera_audio"} <= {m.signal_type for m in looked.matches}
    other = match_path(matcher, videos / UNRELATED, settings.media_limits(), min_quality=50)
    assert other.matches == [] and other.screened_out == ("vpdq", "vpdq_regions")
