"""Routing matches by policy into cases, and deciding cases: on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tessera.errors import Conflict, InputError, NotFound
from tessera.review import cases, policies
from tessera.review.records import (
    ActionKind,
    CaseState,
    Decision,
    Exemption,
    MatchMode,
)
from tessera.services import review
from tessera.services.matching import Match, Matcher, Query
from tessera.settings import Settings
from tessera.signals.base import Signal
from tessera.store import Store
from tessera.store.db import utcnow
from tessera.store.records import NewEntry
from tessera.store.review_tables import actions, audit_log, case_media

ORG = "platform"
SETTINGS = Settings(review_deadline_s=3600, review_retention_days=1)


def pdq(seed: int) -> str:
    return f"{random.Random(seed).getrandbits(256):064x}"


def near(value: str, flips: int, seed: int = 0) -> str:
    bits = int(value, 16)
    for bit in random.Random(seed).sample(range(256), flips):
        bits ^= 1 << bit
    return f"{bits:064x}"


def bank_with(store: Store, name: str, value: str) -> str:
    store.create_bank(name, labels=["propaganda"])
    (entry,) = store.add_entries(name, [NewEntry(signals=(Signal("pdq", value, 100),))]).added
    return entry.uuid


def matches_of(store: Store, value: str) -> list[Match]:
    matcher = Matcher(store)
    matcher.load()
    return matcher.match([Query(Signal("pdq", value))])


def submit(store: Store, content_ref: str, value: str, **kw: object) -> review.Routed:
    return review.route(
        store,
        SETTINGS,
        org=ORG,
        content_ref=content_ref,
        media_kind="image",
        signals=[Signal("pdq", value)],
        matches=matches_of(store, value),
        **kw,  # type: ignore[arg-type]
    )


def set_mode(store: Store, bank: str, mode: MatchMode, **kw: object) -> None:
    found = store.get_bank(bank)
    policies.set_policy(
        store.db,
        org=ORG,
        bank_uuid=found.uuid,
        bank_name=bank,
        mode=mode,
        actor="admin",
        **kw,  # type: ignore[arg-type]
    )


def audit_kinds(store: Store) -> list[str]:
    with store.db.read() as conn:
        return list(conn.execute(sa.select(audit_log.c.kind).order_by(audit_log.c.seq)).scalars())


def action_rows(store: Store) -> list[tuple[str, str, bool]]:
    with store.db.read() as conn:
        q = sa.select(actions.c.kind, actions.c.state, actions.c.automated).order_by(actions.c.id)
        return [(str(k), str(s), bool(a)) for k, s, a in conn.execute(q)]


def test_a_match_opens_a_case_with_a_deadline_and_the_same_content_joins_it(store: Store) -> None:
    base = pdq(1)
    entry = bank_with(store, "tco", base)
    before = utcnow()
    routed = submit(store, "post/1", near(base, 5))
    case = routed.case
    assert case is not None and case.state is CaseState.OPEN and case.source == "match"
    assert case.deadline is not None
    assert timedelta(seconds=3590) < case.deadline - before < timedelta(seconds=3610)
    assert [(m.bank_name, m.entry_uuid, m.distance) for m in case.matches] == [("tco", entry, 5)]
    assert case.matches[0].policy is MatchMode.REVIEW and case.automated_detection
    again = submit(store, "post/1", near(base, 5))
    assert again.case is not None and again.case.uuid == case.uuid
    assert len(again.case.matches) == 1
    other = bank_with(store, "gifct", near(base, 3, seed=9))
    third = submit(store, "post/1", near(base, 5))
    assert third.case is not None and third.case.uuid == case.uuid
    assert {m.entry_uuid for m in third.case.matches} == {entry, other}
    assert audit_kinds(store).count("case.opened") == 1
    assert audit_kinds(store).count("case.matched") == 1


def test_no_match_no_case(store: Store) -> None:
    bank_with(store, "tco", pdq(1))
    assert submit(store, "post/2", pdq(2)).case is None
    assert cases.list_cases(store.db, ORG) == []


def test_allow_list_suppresses_every_other_match(store: Store) -> None:
    base = pdq(3)
    bank_with(store, "tco", base)
    bank_with(store, "known-fp", near(base, 2))
    set_mode(store, "known-fp", MatchMode.ALLOW_LIST)
    routed = submit(store, "post/3", base)
    assert routed.case is None and routed.suppressed
    assert "match.suppressed" in audit_kinds(store)
    assert action_rows(store) == []


def test_log_only_writes_the_audit_log_and_nothing_else(store: Store) -> None:
    base = pdq(4)
    bank_with(store, "watch", base)
    set_mode(store, "watch", MatchMode.LOG_ONLY)
    routed = submit(store, "post/4", base)
    assert routed.case is None and routed.logged == 1 and not routed.suppressed
    assert audit_kinds(store).count("match.logged") == 1


def test_auto_action_acts_at_once_and_records_a_machine_decision(store: Store) -> None:
    base = pdq(5)
    bank_with(store, "tco", base)
    set_mode(store, "tco", MatchMode.AUTO_ACTION, action=ActionKind.RESTRICT)
    routed = submit(store, "post/5", base)
    case = routed.case
    assert case is not None and case.state is CaseState.ACTIONED
    assert case.decision is Decision.VIOLATING and case.automated_decision
    assert case.decided_by == "auto_action:tco" and case.deadline is None
    assert len(routed.actions) == 1
    assert [(k, a) for k, _s, a in action_rows(store)] == [("restrict", True)]
    assert "case.auto_actioned" in audit_kinds(store)


def test_shadow_mode_records_what_it_would_do_and_sends_the_case_to_review(store: Store) -> None:
    base = pdq(6)
    bank_with(store, "tco", base)
    set_mode(store, "tco", MatchMode.AUTO_ACTION, shadow=True)
    routed = submit(store, "post/6", base)
    assert routed.case is not None and routed.case.state is CaseState.OPEN
    assert not routed.case.automated_decision
    assert action_rows(store) == [("remove", "shadow", True)]


def test_rollout_is_a_stable_share_of_content(store: Store) -> None:
    bank = store.create_bank("tco")
    policy = policies.set_policy(
        store.db,
        org=ORG,
        bank_uuid=bank.uuid,
        bank_name="tco",
        mode=MatchMode.AUTO_ACTION,
        rollout=0.3,
        actor="admin",
    )
    drawn = [policies.in_rollout(policy, f"post/{i}") for i in range(2000)]
    assert 0.25 < sum(drawn) / len(drawn) < 0.35
    assert drawn == [policies.in_rollout(policy, f"post/{i}") for i in range(2000)]


def test_policy_arguments_are_checked(store: Store) -> None:
    bank = store.create_bank("tco")
    common = {"org": ORG, "bank_uuid": bank.uuid, "bank_name": "tco", "actor": "a"}
    with pytest.raises(InputError, match="rollout"):
        policies.set_policy(store.db, mode=MatchMode.AUTO_ACTION, rollout=1.5, **common)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="auto_action"):
        policies.set_policy(store.db, mode=MatchMode.REVIEW, shadow=True, **common)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="restore"):
        policies.set_policy(
            store.db,
            mode=MatchMode.AUTO_ACTION,
            action=ActionKind.RESTORE,
            **common,  # type: ignore[arg-type]
        )


def test_violating_decision_queues_removal_and_confirms_the_entry(store: Store) -> None:
    base = pdq(7)
    entry = bank_with(store, "tco", base)
    case = submit(store, "post/7", base).case
    assert case is not None
    done = review.decide(
        store, SETTINGS, org=ORG, case_uuid=case.uuid, decision=Decision.VIOLATING, actor="rev-1"
    )
    assert done.case.state is CaseState.ACTIONED and done.case.decided_by == "rev-1"
    assert [(k, a) for k, _s, a in action_rows(store)] == [("remove", False)]
    assert done.feedback == [(entry, "confirmed")]
    (opinion,) = store.get_opinions("tco", entry)
    assert (opinion.org, opinion.verdict.value) == (ORG, "confirmed")
    with pytest.raises(Conflict, match="actioned"):
        review.decide(
            store, SETTINGS, org=ORG, case_uuid=case.uuid, decision=Decision.VIOLATING, actor="r"
        )


def test_withheld_feedback_sends_no_opinion(store: Store) -> None:
    base = pdq(8)
    entry = bank_with(store, "tco", base)
    case = submit(store, "post/8", base).case
    assert case is not None
    done = review.decide(
        store,
        SETTINGS,
        org=ORG,
        case_uuid=case.uuid,
        decision=Decision.NOT_VIOLATING,
        actor="rev",
        withhold_feedback=True,
    )
    assert done.case.state is CaseState.DECIDED and done.case.withhold_feedback
    assert done.feedback == [] and store.get_opinions("tco", entry) == []
    assert action_rows(store) == []


def test_not_violating_after_auto_action_restores_and_reports_a_false_positive(
    store: Store,
) -> None:
    base = pdq(9)
    entry = bank_with(store, "tco", base)
    set_mode(store, "tco", MatchMode.AUTO_ACTION)
    case = submit(store, "post/9", base).case
    assert case is not None and case.state is CaseState.ACTIONED
    with store.db.write() as conn:  # a complaint reopens it (the complaints module does this)
        cases.touch(conn, case.id, state=CaseState.REOPENED.value)
    done = review.decide(
        store, SETTINGS, org=ORG, case_uuid=case.uuid, decision=Decision.NOT_VIOLATING, actor="r"
    )
    assert done.case.state is CaseState.RESTORED
    assert [k for k, _s, _a in action_rows(store)] == ["remove", "restore"]
    assert done.feedback == [(entry, "false_positive")]


def test_exempt_needs_an_exemption_and_confirms_the_entry(store: Store) -> None:
    base = pdq(10)
    entry = bank_with(store, "tco", base)
    case = submit(store, "post/10", base).case
    assert case is not None
    with pytest.raises(InputError, match="exemption"):
        review.decide(
            store, SETTINGS, org=ORG, case_uuid=case.uuid, decision=Decision.EXEMPT, actor="r"
        )
    done = review.decide(
        store,
        SETTINGS,
        org=ORG,
        case_uuid=case.uuid,
        decision=Decision.EXEMPT,
        exemption=Exemption.NEWS_REPORTING,
        actor="r",
        note="broadcaster's report",
    )
    assert done.case.exemption is Exemption.NEWS_REPORTING and done.case.state is CaseState.DECIDED
    assert done.feedback == [(entry, "confirmed")]
    assert [n.text for n in done.case.notes] == ["broadcaster's report"]


def test_escalation_keeps_the_case_in_the_queue(store: Store) -> None:
    base = pdq(11)
    bank_with(store, "tco", base)
    case = submit(store, "post/11", base).case
    assert case is not None
    done = review.decide(
        store, SETTINGS, org=ORG, case_uuid=case.uuid, decision=Decision.ESCALATE, actor="r"
    )
    assert done.case.state is CaseState.OPEN and done.case.decision is Decision.ESCALATE
    assert [c.uuid for c in cases.queue(store.db, ORG)] == [case.uuid]


def test_another_organisation_never_sees_a_case(store: Store) -> None:
    base = pdq(12)
    bank_with(store, "tco", base)
    case = submit(store, "post/12", base, preview=("image/jpeg", b"\xff\xd8jpeg")).case
    assert case is not None and case.has_media
    for call in (
        lambda: cases.get(store.db, "someone-else", case.uuid),
        lambda: cases.get_media(store.db, "someone-else", case.uuid),
        lambda: review.decide(
            store,
            SETTINGS,
            org="someone-else",
            case_uuid=case.uuid,
            decision=Decision.VIOLATING,
            actor="x",
        ),
    ):
        with pytest.raises(NotFound):
            call()
    assert cases.list_cases(store.db, "someone-else") == []
    assert cases.get_media(store.db, ORG, case.uuid) == ("image/jpeg", b"\xff\xd8jpeg")


def test_kept_content_is_deleted_after_retention(store: Store) -> None:
    base = pdq(13)
    bank_with(store, "tco", base)
    case = submit(store, "post/13", base, preview=("image/jpeg", b"jpeg")).case
    assert case is not None
    assert review.purge_expired_media(store) == 0
    with store.db.write() as conn:
        conn.execute(case_media.update().values(expires_at=utcnow() - timedelta(seconds=1)))
    with pytest.raises(NotFound):
        cases.get_media(store.db, ORG, case.uuid)
    assert review.purge_expired_media(store) == 1
    assert not cases.get(store.db, ORG, case.uuid).has_media
    assert "media.deleted" in audit_kinds(store)


def test_assign_and_notes_are_audited(store: Store) -> None:
    base = pdq(14)
    bank_with(store, "tco", base)
    case = submit(store, "post/14", base).case
    assert case is not None
    review.assign(store, org=ORG, case_uuid=case.uuid, assignee="rev-2", actor="lead")
    found = review.add_note(
        store, org=ORG, case_uuid=case.uuid, text="looks like a re-upload", actor="rev-2"
    )
    assert found.assignee == "rev-2" and found.notes[0].author == "rev-2"
    assert [c.uuid for c in cases.list_cases(store.db, ORG, assignee="rev-2")] == [case.uuid]
    with pytest.raises(InputError):
        review.add_note(store, org=ORG, case_uuid=case.uuid, text=" ", actor="rev-2")
    assert {"case.assigned", "case.note"} <= set(audit_kinds(store))


def test_bad_routing_input_is_refused(store: Store) -> None:
    bank_with(store, "tco", pdq(15))
    with pytest.raises(InputError, match="source"):
        submit(store, "post/15", pdq(15), source="crawler")
    with pytest.raises(InputError, match="content_ref"):
        submit(store, "x" * 2001, pdq(15))
