"""The audit log: appends chain, and every tampering (edit, delete, reorder, insert) is caught, on
SQLite and PostgreSQL; bank changes and mirrored pages are audited in their own transaction."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from tessera.errors import InputError
from tessera.exchange.protocol import BankWire, ChangesPage, ChangeWire, EntryWire, read_page
from tessera.review import audit
from tessera.review.audit import GENESIS, Problem
from tessera.signals.base import Signal
from tessera.store import Database, Store
from tessera.store.mirror import apply_page
from tessera.store.records import EntryStatus, NewEntry, Verdict
from tessera.store.review_tables import audit_head, audit_log


def add(db: Database, n: int, *, subject: str = "case:x", kind: str = "case.decided") -> None:
    """Append ``n`` records, one transaction each."""
    for i in range(n):
        with db.write() as conn:
            detail = {"i": i, "note": "décision ✓", "nested": {"list": [1, 2.5, None, True]}}
            audit.append(conn, org="m1", actor="alice", kind=kind, subject=subject, detail=detail)


def sql(db: Database, statement: str, **params: Any) -> None:
    """Run raw SQL outside the audit code, as someone with database access would."""
    with db.engine.begin() as conn:
        conn.execute(sa.text(statement), params)


def test_an_untampered_chain_verifies(store: Store) -> None:
    db = store.db
    empty = audit.verify(db)
    assert empty.ok and empty.records == 0 and empty.last_hash == GENESIS
    add(db, 12)
    report = audit.verify(db, page=5)  # pages smaller than the chain: the seams are checked too
    assert report.ok, report.problems
    assert report.records == 12 and report.head_seq == 12
    assert audit.head(db) == (12, report.last_hash)
    rows = audit.list_records(db, limit=1000)
    assert [r.seq for r in rows] == list(range(1, 13))
    assert rows[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:], strict=False))
    assert rows[3].detail == {
        "i": 3,
        "note": "décision ✓",
        "nested": {"list": [1, 2.5, None, True]},
    }


FIELDS = {
    "org": "'m2'",
    "actor": "'mallory'",
    "kind": "'case.reopened'",
    "subject": "'case:y'",
    "detail": "'{\"i\": 99}'",
    "prev_hash": f"'{'1' * 64}'",
    "hash": f"'{'2' * 64}'",
}


@pytest.mark.parametrize("column", [*FIELDS, "created_at"])
def test_editing_any_field_is_caught(store: Store, column: str) -> None:
    db = store.db
    add(db, 6)
    if column == "created_at":
        moved = datetime(2026, 1, 1, 12, 0, 0, 1, tzinfo=UTC)
        sql(db, "UPDATE audit_log SET created_at = :t WHERE seq = 3", t=moved)
    else:
        sql(db, f"UPDATE audit_log SET {column} = {FIELDS[column]} WHERE seq = 3")
    report = audit.verify(db)
    assert not report.ok
    assert report.first_bad_seq == 3
    if column == "hash":
        assert {Problem.EDITED, Problem.BROKEN_LINK} <= report.kinds  # row 3 and row 4's link
    elif column == "prev_hash":
        assert {Problem.EDITED, Problem.BROKEN_LINK} <= report.kinds
    else:
        assert Problem.EDITED in report.kinds


def test_a_one_microsecond_edit_of_the_time_is_caught(store: Store) -> None:
    db = store.db
    add(db, 3)
    with db.read() as conn:
        at = conn.execute(sa.select(audit_log.c.created_at).where(audit_log.c.seq == 2)).scalar()
    assert at is not None
    sql(db, "UPDATE audit_log SET created_at = :t WHERE seq = 2", t=at + timedelta(microseconds=1))
    assert audit.verify(db).kinds == {Problem.EDITED}


def test_deleting_a_middle_row_is_caught(store: Store) -> None:
    db = store.db
    add(db, 6)
    sql(db, "DELETE FROM audit_log WHERE seq = 4")
    report = audit.verify(db)
    assert report.kinds == {Problem.GAP, Problem.BROKEN_LINK}
    assert report.first_bad_seq == 5
    assert "seq 4..4 missing" in str(report.problems[0])


def test_deleting_the_first_row_is_caught(store: Store) -> None:
    db = store.db
    add(db, 3)
    sql(db, "DELETE FROM audit_log WHERE seq = 1")
    report = audit.verify(db)
    assert report.kinds == {Problem.GAP, Problem.BROKEN_LINK}
    assert report.first_bad_seq == 2


def test_deleting_the_tail_is_caught(store: Store) -> None:
    db = store.db
    add(db, 6)
    sql(db, "DELETE FROM audit_log WHERE seq >= 5")
    report = audit.verify(db)
    assert report.kinds == {Problem.TAIL_MISSING}
    assert report.first_bad_seq == 5


def test_deleting_every_row_is_caught(store: Store) -> None:
    db = store.db
    add(db, 3)
    sql(db, "DELETE FROM audit_log")
    assert audit.verify(db).kinds == {Problem.TAIL_MISSING}


def test_deleting_the_head_is_caught(store: Store) -> None:
    db = store.db
    add(db, 3)
    sql(db, "DELETE FROM audit_head")
    report = audit.verify(db)
    assert report.kinds == {Problem.HEAD_MISSING}


def test_deleting_the_tail_and_moving_the_head_back_is_caught_by_a_witness(store: Store) -> None:
    db = store.db
    add(db, 5)
    witness = audit.head(db)
    sql(db, "DELETE FROM audit_log WHERE seq = 5")
    sql(db, "UPDATE audit_head SET seq = 4, hash = (SELECT hash FROM audit_log WHERE seq = 4)")
    assert audit.verify(db).ok  # consistent on its own: only a witness can tell
    report = audit.verify(db, witness=witness)
    assert report.kinds == {Problem.WITNESS_MISMATCH}
    assert audit.verify(db, witness=(4, audit.head(db)[1])).ok


def test_a_head_pointing_at_the_wrong_hash_is_caught(store: Store) -> None:
    db = store.db
    add(db, 3)
    sql(db, f"UPDATE audit_head SET hash = '{'3' * 64}'")
    assert audit.verify(db).kinds == {Problem.HEAD_MISMATCH}


def test_reordering_two_rows_is_caught(store: Store) -> None:
    db = store.db
    add(db, 6)
    # Swap rows 2 and 3 whole (every column but seq), as moving them would.
    columns = ["created_at", "org", "actor", "kind", "subject", "detail", "prev_hash", "hash"]
    with db.engine.begin() as conn:
        rows = {
            int(r.seq): r
            for r in conn.execute(sa.select(audit_log).where(audit_log.c.seq.in_([2, 3])))
        }
        for seq, other in ((2, 3), (3, 2)):
            values = {c: getattr(rows[other], c) for c in columns}
            conn.execute(audit_log.update().where(audit_log.c.seq == seq).values(**values))
    report = audit.verify(db)
    assert {Problem.EDITED, Problem.BROKEN_LINK} <= report.kinds
    assert report.first_bad_seq == 2


def _forge(db: Database, seq: int, prev: str, *, good_hash: bool) -> None:
    now = datetime.now(UTC)
    detail = {"forged": True}
    digest = audit.row_hash(prev, seq, now, "m1", "x", "bank.deleted", "bank:b", detail)
    with db.engine.begin() as conn:
        conn.execute(
            audit_log.insert().values(
                seq=seq,
                created_at=now,
                org="m1",
                actor="x",
                kind="bank.deleted",
                subject="bank:b",
                detail=detail,
                prev_hash=prev,
                hash=digest if good_hash else "f" * 64,
            )
        )


def test_a_forged_row_with_a_correct_hash_after_the_head_is_caught(store: Store) -> None:
    db = store.db
    add(db, 3)
    _forge(db, 4, audit.head(db)[1], good_hash=True)
    report = audit.verify(db)
    assert report.kinds == {Problem.AFTER_HEAD}
    assert report.first_bad_seq == 4


def test_a_forged_row_in_a_gap_is_caught(store: Store) -> None:
    db = store.db
    add(db, 4)
    sql(db, "DELETE FROM audit_log WHERE seq = 2")
    _forge(db, 2, GENESIS, good_hash=False)
    report = audit.verify(db)
    assert Problem.EDITED in report.kinds and report.first_bad_seq == 2


def test_many_problems_are_counted_but_only_the_first_thousand_kept(store: Store) -> None:
    db = store.db
    add(db, 3)
    sql(db, "UPDATE audit_log SET actor = 'm'")
    report = audit.verify(db)
    assert report.problem_count == len(report.problems) == 3


# -- appending -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "detail",
    [
        {"t": datetime.now(UTC)},
        {"x": float("nan")},
        {"x": float("inf")},
        {1: "int key"},
        {"s": {1, 2}},
        {"b": b"bytes"},
        {"lone": "\ud800"},
    ],
)
def test_details_that_would_not_round_trip_through_json_are_refused(
    store: Store, detail: dict[Any, Any]
) -> None:
    with pytest.raises(TypeError), store.db.write() as conn:
        audit.append(conn, org="m1", actor="a", kind="k", subject="s", detail=detail)
    assert audit.verify(store.db).records == 0  # the transaction rolled back


def test_a_nul_in_a_text_column_is_refused_but_travels_inside_detail(store: Store) -> None:
    with pytest.raises(TypeError), store.db.write() as conn:
        audit.append(conn, org="m\x001", actor="a", kind="k", subject="s")
    with store.db.write() as conn:
        audit.append(conn, org="m1", actor="a", kind="k", subject="s", detail={"n": "a\x00b"})
    assert audit.verify(store.db).ok
    assert audit.list_records(store.db)[0].detail == {"n": "a\x00b"}


def test_appends_from_four_threads_make_one_valid_chain(store: Store) -> None:
    db = store.db
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            for i in range(10):
                with db.write() as conn:
                    audit.append(
                        conn, org=f"o{t}", actor="w", kind="k", subject="s", detail={"i": i}
                    )
        except BaseException as e:  # surfaced in the assertion below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    report = audit.verify(db)
    assert report.ok, report.problems
    assert report.records == 40 and report.head_seq == 40


def test_list_filters_and_limits(store: Store) -> None:
    db = store.db
    add(db, 3, subject="case:a", kind="case.decided")
    add(db, 2, subject="case:b", kind="case.reopened")
    assert [r.seq for r in audit.list_records(db, subject="case:b")] == [4, 5]
    assert [r.seq for r in audit.list_records(db, kind="case.decided", after=1)] == [2, 3]
    assert [r.seq for r in audit.list_records(db, limit=2)] == [1, 2]
    assert audit.list_records(db, org="nobody") == []
    with pytest.raises(InputError):
        audit.list_records(db, limit=0)
    with pytest.raises(InputError):
        audit.list_records(db, limit=audit.MAX_LIST + 1)


# -- a property: any single tamper is caught ------------------------------------------------------

TAMPERS = ["edit", "delete", "swap", "forge_after_head", "delete_head", "move_head"]


@given(
    n=st.integers(min_value=1, max_value=8),
    tamper=st.sampled_from(TAMPERS),
    at=st.integers(min_value=0, max_value=100),
    column=st.sampled_from([*FIELDS, "created_at"]),
    text=st.text(
        alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        max_size=12,
    ),
)
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_single_tamper_is_caught(
    store: Store, n: int, tamper: str, at: int, column: str, text: str
) -> None:
    db = store.db
    with db.engine.begin() as conn:
        conn.execute(audit_log.delete())
        conn.execute(audit_head.delete())
    for i in range(n):
        with db.write() as conn:
            audit.append(conn, org="o", actor=text, kind="k", subject=f"s{i}", detail={"t": text})
    assert audit.verify(db).ok
    seq = at % n + 1
    if tamper == "swap" and n < 2:
        tamper = "delete"
    if tamper == "edit":
        if column == "created_at":
            sql(
                db,
                "UPDATE audit_log SET created_at = :t WHERE seq = :s",
                t=datetime(2001, 1, 1),
                s=seq,
            )
        else:
            sql(db, f"UPDATE audit_log SET {column} = {FIELDS[column]} WHERE seq = :s", s=seq)
    elif tamper == "delete":
        sql(db, "DELETE FROM audit_log WHERE seq = :s", s=seq)
    elif tamper == "swap":
        a = seq if seq < n else seq - 1
        sql(db, "UPDATE audit_log SET seq = -1 WHERE seq = :a", a=a)
        sql(db, "UPDATE audit_log SET seq = :a WHERE seq = :b", a=a, b=a + 1)
        sql(db, "UPDATE audit_log SET seq = :b WHERE seq = -1", b=a + 1)
    elif tamper == "forge_after_head":
        _forge(db, n + 1, audit.head(db)[1], good_hash=True)
    elif tamper == "delete_head":
        sql(db, "DELETE FROM audit_head")
    else:
        sql(db, "UPDATE audit_head SET seq = seq + 1")
    assert not audit.verify(db).ok


# -- bank changes ---------------------------------------------------------------------------------


def md5(i: int) -> NewEntry:
    """An entry with one md5 signal."""
    return NewEntry(signals=(Signal("md5", f"{i:032x}"),))


def test_every_bank_change_is_audited_in_its_transaction(store: Store) -> None:
    db = store.db
    store.create_bank("b", labels=["x"], actor="m1")
    store.update_bank("b", description="d", actor="m1")
    result = store.add_entries("b", [md5(i) for i in range(150)] + [md5(0)])
    uuid = result.added[0].uuid
    store.update_entry("b", uuid, note="n")
    store.set_entry_status("b", uuid, EntryStatus.RETIRED)
    store.set_opinion("b", uuid, "m2", Verdict.DISPUTED, "not terrorist")
    store.delete_entry("b", result.added[1].uuid)
    store.add_entries("b", [md5(5)])  # only a duplicate: nothing changed, nothing audited
    store.delete_bank("b")
    records = audit.list_records(db, subject="bank:b")
    assert [r.kind for r in records] == [
        "bank.created",
        "bank.updated",
        "entries.added",
        "entry.updated",
        "entry.updated",
        "opinion.set",
        "entry.removed",
        "bank.deleted",
    ]
    bank_uuid = records[0].detail["bank_uuid"]
    assert all(r.detail["bank_uuid"] == bank_uuid for r in records)
    assert [r.org for r in records[:3]] == ["m1", "m1", "test-org"]
    assert records[1].detail["fields"] == {"description": "d"}
    added = records[2].detail
    assert added["added"] == 150 and added["duplicates"] == 1
    assert len(added["entries"]) == audit.SAMPLE_CAP and added["entries"][0] == uuid
    assert records[4].detail == {"bank_uuid": bank_uuid, "entry": uuid, "status": "retired"}
    assert records[5].org == "m2" and records[5].detail["verdict"] == "disputed"
    assert records[7].detail["entries"] == 149
    assert audit.verify(db).ok


def test_a_failed_bank_change_leaves_no_audit_record(store: Store) -> None:
    store.create_bank("b")
    with pytest.raises(InputError):
        store.add_entries("b", [md5(1), NewEntry(signals=())])
    assert [r.kind for r in audit.list_records(store.db)] == ["bank.created"]


def test_verify_reads_one_snapshot_while_appends_go_on(store: Store) -> None:
    db = store.db
    add(db, 3)
    stop = threading.Event()

    def appender() -> None:
        while not stop.is_set():
            with db.write() as conn:
                audit.append(conn, org="o", actor="a", kind="k", subject="s")

    thread = threading.Thread(target=appender)
    thread.start()
    try:
        reports = [audit.verify(db, page=2) for _ in range(5)]
    finally:
        stop.set()
        thread.join()
    assert all(r.ok for r in reports), [r.problems for r in reports]
    assert audit.verify(db).ok


# -- mirrored pages --------------------------------------------------------------------------------

PEER_NODE = "11111111-2222-3333-4444-555555555555"


def _page(changes: list[ChangeWire], next_after: int) -> ChangesPage:
    page = ChangesPage(
        node=PEER_NODE, changes=changes, banks={}, next_after=next_after, latest_seq=9, more=False
    )
    # As a peer's page arrives: JSON, read (and completed) by the protocol.
    return read_page(TypeAdapter(ChangesPage).dump_json(page))


def test_each_applied_page_of_a_peer_is_one_audit_record(store: Store) -> None:
    now = datetime.now(UTC)
    bank = BankWire(
        uuid="aaaaaaaa-0000-0000-0000-000000000001",
        name="tve",
        owner_org="hub",
        distribution="members",
        thresholds={},
        enabled=True,
        origin_node=PEER_NODE,
    )
    entries = [
        EntryWire(
            uuid=f"eeeeeeee-0000-0000-0000-{i:012d}",
            status="active",
            created_by="hub",
            created_at=now,
            updated_at=now,
            signals=[{"type": "md5", "value": f"{i:032x}"}],
            origin_node=PEER_NODE,
            origin_org="hub",
            origin_uuid=f"eeeeeeee-0000-0000-0000-{i:012d}",
            opinions={},
        )
        for i in range(3)
    ]
    first = [ChangeWire(seq=1, kind="bank_created", bank_uuid=bank.uuid, bank=bank)] + [
        ChangeWire(
            seq=2 + i, kind="entry_added", bank_uuid=bank.uuid, entry_uuid=e["uuid"], entry=e
        )
        for i, e in enumerate(entries)
    ]
    removal = ChangeWire(
        seq=5, kind="entry_removed", bank_uuid=bank.uuid, entry_uuid=entries[0]["uuid"]
    )
    for page in (_page(first, 4), _page([], 4), _page([removal], 5)):
        with store.db.write() as conn:
            apply_page(conn, page, peer="hub", local_node=store.node_id)
    records = audit.list_records(store.db, subject="peer:hub")
    assert [r.kind for r in records] == ["mirror.applied", "mirror.applied"]
    assert records[0].org == "node" and records[0].actor == "sync"
    one, two = records[0].detail, records[1].detail
    assert (one["changes"], one["banks"], one["entries"], one["first_seq"]) == (4, 1, 3, 1)
    assert one["bank_uuids"] == [bank.uuid]
    assert one["entry_uuids"] == [e["uuid"] for e in entries]
    assert (two["removed"], two["entry_uuids"]) == (1, [entries[0]["uuid"]])
    assert audit.verify(store.db).ok
