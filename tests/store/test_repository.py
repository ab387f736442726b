"""The store on SQLite and PostgreSQL: banks, entries, provenance, duplicates, atomicity."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tessera.errors import Conflict, InputError, NotFound
from tessera.signals.base import Signal
from tessera.store import Store
from tessera.store.records import ChangeKind, EntryStatus, NewEntry


def md5(n: int) -> Signal:
    return Signal("md5", f"{n:032x}")


def entry(n: int, **kw: object) -> NewEntry:
    return NewEntry(signals=(md5(n), Signal("sha256", f"{n:064x}")), **kw)  # type: ignore[arg-type]


def test_bank_lifecycle(store: Store) -> None:
    bank = store.create_bank("b1", labels=["x", "a", "x"], inclusion_criterion="crit")
    assert bank.labels == ("a", "x")
    assert bank.owner_org == "test-org"
    with pytest.raises(Conflict):
        store.create_bank("b1")
    with pytest.raises(InputError, match="invalid bank name"):
        store.create_bank("no spaces allowed")
    with pytest.raises(InputError, match="distribution"):
        store.create_bank("b2", distribution="everyone")
    updated = store.update_bank("b1", thresholds={"pdq": 20}, description="d")
    assert updated.thresholds == {"pdq": 20} and updated.description == "d"
    with pytest.raises(InputError, match="cannot update"):
        store.update_bank("b1", uuid="x")
    assert [b.name for b, _ in store.list_banks()] == ["b1"]
    assert store.delete_bank("b1") == 0
    with pytest.raises(NotFound):
        store.get_bank("b1")


def test_entries_carry_provenance_and_round_trip(store: Store) -> None:
    store.create_bank("b")
    result = store.add_entries(
        "b", [entry(1, labels=("l2", "l1"), inclusion_criterion="c", source="s", note="n")]
    )
    (e,) = result.added
    assert e.labels == ("l1", "l2")
    assert (e.inclusion_criterion, e.source, e.note) == ("c", "s", "n")
    assert e.created_by == "test-org" and e.created_at.tzinfo is not None
    assert e.status is EntryStatus.ACTIVE
    assert {s.type for s in e.signals} == {"md5", "sha256"}
    assert store.get_entry("b", e.uuid) == e
    assert store.get_entry("b", e.uuid[:8]) == e
    with pytest.raises(NotFound):
        store.get_entry("b", "0" * 36)


def test_duplicates_are_skipped_not_added_twice(store: Store) -> None:
    store.create_bank("b")
    first = store.add_entries("b", [entry(1), entry(2)])
    again = store.add_entries("b", [entry(1), entry(3), entry(3)])
    assert len(first.added) == 2
    assert [e.signals[0].value for e in again.added] == [md5(3).value]
    assert len(again.duplicates) == 2
    assert again.duplicates[0][1] == first.added[0].uuid
    # A retired entry no longer blocks adding the same item again.
    store.set_entry_status("b", first.added[0].uuid, EntryStatus.RETIRED)
    assert len(store.add_entries("b", [entry(1)]).added) == 1
    # Same uuid is the same entry even with other signals.
    u = first.added[1].uuid
    assert store.add_entries("b", [entry(9, uuid=u)]).duplicates[0][1] == u


def test_the_same_item_in_another_bank_is_no_duplicate_here(store: Store) -> None:
    store.create_bank("a")
    store.create_bank("b")
    (in_a,) = store.add_entries("a", [entry(1)]).added
    added = store.add_entries("b", [entry(1), entry(2)])
    assert [e.signals[0].value for e in added.added] == [md5(1).value, md5(2).value]
    assert added.duplicates == []
    assert in_a.uuid not in {e.uuid for e in added.added}
    # ... while in its own bank it still is one.
    assert store.add_entries("b", [entry(1)]).duplicates[0][1] == added.added[0].uuid


def test_failed_bulk_add_leaves_the_bank_as_it_was(store: Store) -> None:
    store.create_bank("b")
    store.add_entries("b", [entry(1)])
    seq = store.latest_seq()

    def items() -> Iterator[NewEntry]:
        for n in range(2, 1200):  # spans several internal chunks
            yield entry(n)
        raise InputError("the import file broke here")

    with pytest.raises(InputError, match="broke here"):
        store.add_entries("b", items())
    assert sum(1 for _ in store.iter_entries("b")) == 1
    assert store.latest_seq() == seq


def test_every_write_appends_its_change(store: Store) -> None:
    bank = store.create_bank("b")
    (e,) = store.add_entries("b", [entry(1)]).added
    store.set_entry_status("b", e.uuid, EntryStatus.DISPUTED)
    store.delete_entry("b", e.uuid)
    store.update_bank("b", enabled=False)
    store.delete_bank("b")
    log = store.changes_after(0)
    assert [c.kind for c in log] == [
        ChangeKind.BANK_CREATED,
        ChangeKind.ENTRY_ADDED,
        ChangeKind.ENTRY_UPDATED,
        ChangeKind.ENTRY_REMOVED,
        ChangeKind.BANK_UPDATED,
        ChangeKind.BANK_DELETED,
    ]
    assert [c.seq for c in log] == sorted(c.seq for c in log)
    assert all(c.bank_uuid == bank.uuid for c in log)
    assert log[1].payload["signals"][0]["value"] == md5(1).value
    assert log[2].payload["status"] == "disputed"
    assert store.changes_after(log[2].seq, 2) == log[3:5]


def test_matchable_signals_exclude_retired_and_disabled(store: Store) -> None:
    store.create_bank("b")
    store.create_bank("off")
    a, b = store.add_entries("b", [entry(1), entry(2)]).added
    store.add_entries("off", [entry(3)])
    store.update_bank("off", enabled=False)
    store.set_entry_status("b", b.uuid, EntryStatus.RETIRED)
    pages = list(store.iter_matchable_signals("md5", page=1))
    assert [value for page in pages for _, value in page] == [md5(1).value]
    owners = store.resolve_signals([s.id for s in a.signals] + [999_999])
    assert {o.entry_uuid for o in owners.values()} == {a.uuid}
    assert all(o.bank.name == "b" for o in owners.values())


def test_delete_bank_cascades_and_lists_signal_ids(store: Store) -> None:
    store.create_bank("b")
    added = store.add_entries("b", [entry(1), entry(2)]).added
    assert store.delete_bank("b") == 2
    tomb = store.changes_after(0)[-1]
    ids = sorted(i for ids in tomb.payload["signal_ids"].values() for i in ids)
    assert ids == sorted(s.id for e in added for s in e.signals)
    store.create_bank("b")
    assert list(store.iter_entries("b")) == []


def test_an_entry_copied_from_another_bank_gets_its_own_uuid(store: Store) -> None:
    store.create_bank("a")
    store.create_bank("b")
    (original,) = store.add_entries("a", [entry(1)]).added
    (copy,) = store.add_entries("b", [entry(1, uuid=original.uuid)]).added
    assert copy.uuid != original.uuid and copy.bank_name == "b"
    assert store.add_entries("b", [entry(1, uuid=copy.uuid)]).duplicates[0][1] == copy.uuid
