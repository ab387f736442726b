"""Complaints on SQLite and PostgreSQL: reopen with a deadline, uphold (restore, false positive),
reject (back to the decision), scoping and bad input."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tessera.errors import Conflict, InputError, NotFound
from tessera.review import actions, audit, cases, complaints
from tessera.review.records import CaseState, ComplaintState, Decision, MatchMode
from tessera.services import review
from tessera.settings import Settings
from tessera.signals.base import Signal
from tessera.store import Store
from tessera.store.db import utcnow
from tessera.store.orgs import OrgStore
from tessera.store.records import NewEntry, Tier, Verdict

REF = "https://platform.example/v/9"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Default deadlines (14 days for complaints)."""
    return Settings(data_dir=tmp_path)


def _case(store: Store, decision: Decision | None = Decision.VIOLATING) -> tuple[str, str]:
    """A case of m1 matching an entry of hub's bank ``b``, decided; (case uuid, entry uuid)."""
    orgs = OrgStore(store.db)
    for name, tier in (("hub", Tier.COORDINATOR), ("m1", Tier.MEMBER), ("m2", Tier.MEMBER)):
        orgs.create_org(name, tier)
    bank = store.create_bank("b", owner_org="hub", distribution="members")
    entry = store.add_entries("b", [NewEntry(signals=(Signal("md5", "ab" * 16),))]).added[0]
    with store.db.write() as conn:
        case_id = cases.create(
            conn,
            org="m1",
            content_ref=REF,
            media_kind="image",
            signals=[{"type": "md5", "value": "ab" * 16}],
            source="match",
            deadline=utcnow() + timedelta(days=1),
            automated_detection=True,
        )
        match = cases.NewMatch(
            bank_uuid=bank.uuid,
            bank_name="b",
            entry_uuid=entry.uuid,
            signal_type="md5",
            distance=0,
            threshold=0,
            labels=(),
            policy=MatchMode.REVIEW,
        )
        cases.add_matches(conn, case_id, [match])
        case_uuid = cases.fetch_uuid(conn, case_id)
    if decision is not None:
        review.decide(
            store,
            Settings(),
            org="m1",
            case_uuid=case_uuid,
            decision=decision,
            actor="rev",
            withhold_feedback=True,
        )
    return case_uuid, entry.uuid


def _file(store: Store, settings: Settings, case_uuid: str, **kw: object) -> complaints.Complaint:
    values: dict[str, object] = {"org": "m1", "case_uuid": case_uuid, "reason": "it is news"}
    return complaints.file_complaint(store, settings, actor="rev", **(values | kw))  # type: ignore[arg-type]


def test_a_complaint_reopens_the_case_with_a_two_week_deadline(
    store: Store, settings: Settings
) -> None:
    case_uuid, _entry = _case(store)
    assert cases.get(store.db, "m1", case_uuid).state is CaseState.ACTIONED
    received = utcnow() - timedelta(days=1)
    complaint = _file(store, settings, case_uuid, received_at=received)
    assert complaint.state is ComplaintState.OPEN
    assert complaint.deadline == received + timedelta(days=14)
    assert 12.9 * 86400 < complaint.remaining_s() < 13.1 * 86400
    case = cases.get(store.db, "m1", case_uuid)
    assert case.state is CaseState.REOPENED
    assert case.deadline == complaint.deadline
    assert case_uuid in [c.uuid for c in cases.queue(store.db, "m1")]
    with pytest.raises(Conflict):
        _file(store, settings, case_uuid)  # one open complaint at a time (and it is reopened)
    kinds = [r.kind for r in audit.list_records(store.db, subject=f"complaint:{complaint.uuid}")]
    assert kinds == ["complaint.filed"]
    assert "case.reopened" in [
        r.kind for r in audit.list_records(store.db, subject=f"case:{case_uuid}")
    ]


def test_upholding_restores_the_content_and_reports_a_false_positive(
    store: Store, settings: Settings
) -> None:
    case_uuid, entry_uuid = _case(store)
    complaint = _file(store, settings, case_uuid)
    done = complaints.uphold(store, org="m1", complaint_uuid=complaint.uuid, actor="rev", note="ok")
    assert done.complaint.state is ComplaintState.UPHELD
    assert done.complaint.decided_by == "rev"
    assert done.complaint.outcome_note == "ok"
    assert done.case.state is CaseState.RESTORED
    assert done.case.decision is Decision.NOT_VIOLATING
    assert done.case.deadline is None
    assert len(done.actions) == 1
    assert actions.get_action(store.db, "m1", done.actions[0]).kind == "restore"
    assert done.feedback == [(entry_uuid, "false_positive")]
    assert done.feedback_errors == []
    opinions = store.get_opinions("b", entry_uuid)
    assert [(o.org, o.verdict) for o in opinions] == [("m1", Verdict.FALSE_POSITIVE)]
    with pytest.raises(Conflict):
        complaints.uphold(store, org="m1", complaint_uuid=complaint.uuid, actor="rev")
    with pytest.raises(Conflict):
        complaints.reject(store, org="m1", complaint_uuid=complaint.uuid, reason="x", actor="r")


def test_upholding_content_that_is_up_restores_nothing(store: Store, settings: Settings) -> None:
    case_uuid, _entry = _case(store, decision=None)
    with store.db.write() as conn:
        cases.touch(conn, cases.fetch(conn, "m1", case_uuid).id, state="decided")
    complaint = _file(store, settings, case_uuid)
    done = complaints.uphold(
        store, org="m1", complaint_uuid=complaint.uuid, actor="rev", withhold_feedback=True
    )
    assert done.actions == []
    assert done.feedback == []
    assert done.case.state is CaseState.DECIDED
    assert done.case.withhold_feedback


def test_feedback_the_caller_may_not_give_is_reported(store: Store, settings: Settings) -> None:
    case_uuid, entry_uuid = _case(store)
    complaint = _file(store, settings, case_uuid)
    done = complaints.uphold(
        store, org="m1", complaint_uuid=complaint.uuid, actor="rev", may_opine=lambda _b: False
    )
    assert done.feedback == []
    assert len(done.feedback_errors) == 1
    assert store.get_opinions("b", entry_uuid) == []


def test_rejecting_returns_the_case_to_its_decision(store: Store, settings: Settings) -> None:
    case_uuid, entry_uuid = _case(store)
    complaint = _file(store, settings, case_uuid)
    found, case = complaints.reject(
        store, org="m1", complaint_uuid=complaint.uuid, reason="it is propaganda", actor="rev"
    )
    assert found.state is ComplaintState.REJECTED
    assert found.outcome_note == "it is propaganda"
    assert case.state is CaseState.ACTIONED
    assert case.deadline is None
    assert case.notes[-1].text == "complaint rejected: it is propaganda"
    assert [a.kind for a in actions.list_actions(store.db, "m1", case_uuid=case_uuid)] == ["remove"]
    assert store.get_opinions("b", entry_uuid) == []
    # Complaining again after a rejection is allowed (a new complaint).
    again = _file(store, settings, case_uuid)
    assert again.uuid != complaint.uuid


def test_a_not_violating_decision_goes_back_to_decided(store: Store, settings: Settings) -> None:
    case_uuid, _entry = _case(store, decision=Decision.NOT_VIOLATING)
    assert cases.get(store.db, "m1", case_uuid).state is CaseState.DECIDED
    complaint = _file(store, settings, case_uuid)
    _found, case = complaints.reject(
        store, org="m1", complaint_uuid=complaint.uuid, reason="stays", actor="rev"
    )
    assert case.state is CaseState.DECIDED


def _decide(store: Store, case_uuid: str, decision: Decision) -> review.Decided:
    return review.decide(
        store,
        Settings(),
        org="m1",
        case_uuid=case_uuid,
        decision=decision,
        actor="rev2",
        note="looked again",
        withhold_feedback=True,
    )


def test_deciding_the_reopened_case_in_the_queue_answers_the_complaint(
    store: Store, settings: Settings
) -> None:
    case_uuid, _entry = _case(store)
    complaint = _file(store, settings, case_uuid)
    # Escalating is not an answer: the complaint stays open.
    assert _decide(store, case_uuid, Decision.ESCALATE).case.state is CaseState.REOPENED
    assert complaints.get(store.db, "m1", complaint.uuid).state is ComplaintState.OPEN
    decided = _decide(store, case_uuid, Decision.NOT_VIOLATING)
    assert decided.case.state is CaseState.RESTORED
    assert decided.case.deadline is None
    assert [actions.get_action(store.db, "m1", a).kind for a in decided.actions] == ["restore"]
    answered = complaints.get(store.db, "m1", complaint.uuid)
    assert answered.state is ComplaintState.UPHELD
    assert (answered.decided_by, answered.outcome_note) == ("rev2", "looked again")
    records = audit.list_records(store.db, subject=f"complaint:{complaint.uuid}")
    assert [r.kind for r in records] == ["complaint.filed", "complaint.upheld"]
    with pytest.raises(Conflict):
        complaints.uphold(store, org="m1", complaint_uuid=complaint.uuid, actor="rev")


def test_a_violating_decision_in_the_queue_rejects_the_complaint(
    store: Store, settings: Settings
) -> None:
    case_uuid, _entry = _case(store)
    complaint = _file(store, settings, case_uuid)
    decided = _decide(store, case_uuid, Decision.VIOLATING)
    assert decided.case.state is CaseState.ACTIONED
    assert decided.actions == []  # the content is still down
    assert complaints.get(store.db, "m1", complaint.uuid).state is ComplaintState.REJECTED
    # A new complaint may follow.
    assert _file(store, settings, case_uuid).state is ComplaintState.OPEN


def test_complaints_need_a_decided_case(store: Store, settings: Settings) -> None:
    case_uuid, _entry = _case(store, decision=None)
    with pytest.raises(Conflict):
        _file(store, settings, case_uuid)


def test_complaints_are_scoped_to_the_org(store: Store, settings: Settings) -> None:
    case_uuid, _entry = _case(store)
    with pytest.raises(NotFound):
        _file(store, settings, case_uuid, org="m2")
    complaint = _file(store, settings, case_uuid)
    with pytest.raises(NotFound):
        complaints.get(store.db, "m2", complaint.uuid)
    with pytest.raises(NotFound):
        complaints.uphold(store, org="m2", complaint_uuid=complaint.uuid, actor="x")
    assert complaints.list_complaints(store.db, "m2") == []
    assert complaints.list_complaints(store.db, "m1", state=ComplaintState.OPEN) == [complaint]
    assert complaints.list_complaints(store.db, "m1", case_uuid=case_uuid) == [complaint]


@pytest.mark.parametrize(
    "kw",
    [{"reason": "  "}, {"reason": "x" * 10_001}, {"received_at": utcnow() + timedelta(days=1)}],
)
def test_bad_input_is_refused(store: Store, settings: Settings, kw: dict[str, object]) -> None:
    case_uuid, _entry = _case(store)
    with pytest.raises(InputError):
        _file(store, settings, case_uuid, **kw)
    with pytest.raises(InputError):
        complaints.reject(store, org="m1", complaint_uuid="nope", reason=" ", actor="r")
