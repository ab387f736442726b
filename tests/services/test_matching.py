"""The matcher: indexes kept current from the change log, per-bank thresholds, any chunking."""

from __future__ import annotations

import random
import time

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tessera.errors import NotFound
from tessera.services.matching import Matcher, Query
from tessera.signals.base import Signal
from tessera.store import Store
from tessera.store.records import EntryStatus, NewEntry
from tessera.store.tables import signals


def pdq_at(base: int, flips: int, seed: int = 0) -> str:
    """A PDQ hash at exactly ``flips`` bits from ``base``."""
    rng = random.Random(seed)
    value = base
    for bit in rng.sample(range(256), flips):
        value ^= 1 << bit
    return f"{value:064x}"


BASE = random.Random(7).getrandbits(256)


def pdq_entry(value: str, label: str = "") -> NewEntry:
    return NewEntry(signals=(Signal("pdq", value, 100),), labels=(label,) if label else ())


def test_match_reports_bank_entry_type_and_distance(store: Store) -> None:
    store.create_bank("b")
    (e,) = store.add_entries("b", [pdq_entry(pdq_at(BASE, 0), "l")]).added
    matcher = Matcher(store)
    matcher.load()
    (m,) = matcher.match([Query(Signal("pdq", pdq_at(BASE, 12, seed=1)))])
    assert (m.bank, m.entry_uuid, m.signal_type, m.distance, m.threshold) == (
        "b",
        e.uuid,
        "pdq",
        12,
        31,
    )
    assert m.labels == ("l",) and m.created_by == "test-org"
    assert matcher.match([Query(Signal("pdq", pdq_at(BASE, 32, seed=2)))]) == []


def test_per_bank_thresholds_and_bank_filter(store: Store) -> None:
    store.create_bank("strict", thresholds={"pdq": 10})
    store.create_bank("loose", thresholds={"pdq": 60})
    store.add_entries("strict", [pdq_entry(pdq_at(BASE, 0))])
    store.add_entries("loose", [pdq_entry(pdq_at(BASE, 0))])
    matcher = Matcher(store)
    matcher.load()
    query = [Query(Signal("pdq", pdq_at(BASE, 40, seed=3)))]
    assert [m.bank for m in matcher.match(query)] == ["loose"]
    near = [Query(Signal("pdq", pdq_at(BASE, 5, seed=4)))]
    assert sorted(m.bank for m in matcher.match(near)) == ["loose", "strict"]
    assert [m.bank for m in matcher.match(near, banks={"strict"})] == ["strict"]
    with pytest.raises(NotFound):
        matcher.match(near, banks={"nope"})


def test_refresh_follows_adds_retires_deletes_and_disables(store: Store) -> None:
    store.create_bank("b")
    matcher = Matcher(store)
    matcher.load()
    q = [Query(Signal("pdq", pdq_at(BASE, 3, seed=5)))]
    assert matcher.match(q) == []
    (e,) = store.add_entries("b", [pdq_entry(pdq_at(BASE, 0))]).added
    assert matcher.refresh() == 1
    assert [m.entry_uuid for m in matcher.match(q)] == [e.uuid]
    store.set_entry_status("b", e.uuid, EntryStatus.RETIRED)
    matcher.refresh()
    assert matcher.match(q) == [] and matcher.size("pdq") == 0
    store.set_entry_status("b", e.uuid, EntryStatus.DISPUTED)
    matcher.refresh()
    assert [m.entry_status for m in matcher.match(q)] == ["disputed"]
    store.update_bank("b", enabled=False)
    matcher.refresh()
    assert matcher.match(q) == []
    store.update_bank("b", enabled=True)
    matcher.refresh()
    assert len(matcher.match(q)) == 1
    store.delete_entry("b", e.uuid)
    matcher.refresh()
    assert matcher.match(q) == []
    store.add_entries("b", [pdq_entry(pdq_at(BASE, 1, seed=6))])
    store.delete_bank("b")
    matcher.refresh()
    assert matcher.match(q) == [] and matcher.size("pdq") == 0


def test_follow_thread_makes_new_entries_matchable_within_a_second(store: Store) -> None:
    store.create_bank("b")
    matcher = Matcher(store)
    matcher.load()
    matcher.follow(0.05)
    try:
        value = pdq_at(BASE, 0)
        store.add_entries("b", [pdq_entry(value)])
        added_at = time.monotonic()
        while not matcher.match([Query(Signal("pdq", value))]):
            assert time.monotonic() - added_at < 1.0, "entry not matchable within 1 s"
            time.sleep(0.01)
    finally:
        matcher.stop()


OPS = st.lists(
    st.tuples(st.sampled_from(["add", "retire", "dispute", "delete", "toggle"]), st.integers(0, 7)),
    min_size=1,
    max_size=25,
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=OPS, pages=st.lists(st.integers(1, 9), min_size=1, max_size=3))
def test_change_stream_in_any_chunking_gives_the_loaded_state(
    store: Store, ops: list[tuple[str, int]], pages: list[int]
) -> None:
    """Replaying the log from the start, in any page size, equals loading the current state."""
    for old, _ in store.list_banks():
        store.delete_bank(old.name)
    store.create_bank("a")
    store.create_bank("b")
    followers = [Matcher(store) for _ in pages]  # loaded before any entry exists ...
    for follower in followers:
        follower.load()
    uuids: list[str] = []
    for op, n in ops:
        bank = "ab"[n % 2]
        if op == "add":
            added = store.add_entries(bank, [pdq_entry(pdq_at(BASE, n * 3, seed=n))]).added
            uuids += [e.uuid for e in added]
        elif op == "toggle":
            store.update_bank(bank, enabled=not store.get_bank(bank).enabled)
        elif uuids:
            u = uuids[n % len(uuids)]
            owner = next(b for b in "ab" if any(e.uuid == u for e in store.iter_entries(b)))
            if op == "delete":
                store.delete_entry(owner, u)
                uuids.remove(u)
            else:
                status = EntryStatus.RETIRED if op == "retire" else EntryStatus.DISPUTED
                store.set_entry_status(owner, u, status)
    probes = [Query(Signal("pdq", pdq_at(BASE, n * 3, seed=n))) for n in range(8)]
    loaded = Matcher(store)
    loaded.load()
    expected = [loaded.match([p]) for p in probes]
    for follower, page in zip(followers, pages, strict=True):
        while follower.refresh(page=page):  # ... and catch up in pages of this size
            pass
        assert [follower.match([p]) for p in probes] == expected


def test_stored_values_in_a_retired_format_do_not_stop_the_index(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """A value stored before its type's format changed (tessera_audio version 1) is left out of
    the index with a warning; the other signals of its type and page are indexed."""
    store.create_bank("b")
    added = store.add_entries("b", [pdq_entry(pdq_at(BASE, 0)), pdq_entry(pdq_at(BASE, 100))])
    old_format = "1:10:" + "A" * 64
    with store.db.write() as conn:
        conn.execute(
            signals.update()
            .where(
                signals.c.entry_id == sa.select(sa.func.min(signals.c.entry_id)).scalar_subquery()
            )
            .values(signal_type="tessera_audio", value=old_format)
        )
    matcher = Matcher(store)
    with caplog.at_level("WARNING"):
        matcher.load()
    assert "1 stored tessera_audio signal(s) left out" in caplog.text
    (m,) = matcher.match([Query(Signal("pdq", pdq_at(BASE, 100)))])
    assert m.entry_uuid == added.added[1].uuid
