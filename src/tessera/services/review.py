"""Review use cases: route matches by policy into cases, decide, and give feedback.

Routing one piece of content (``route``):
1. read the organisation's policy for every bank that matched (``review`` where none is set);
2. a match in an ``allow_list`` bank suppresses everything: no case, no action, one audit row;
3. ``log_only`` matches are written to the audit log and go no further;
4. ``auto_action`` matches act at once on the content inside the rollout (a webhook action,
   audited, the case recorded as decided by machine); in shadow, or outside the rollout, they
   record the action they would have taken (shadow) and go to review;
5. whatever remains opens a case with a deadline, or joins the open case of the same content.

Deciding (``decide``): the decision and its audit row commit together, with the action it calls
for (``remove`` for violating content; ``restore`` when content that was taken down is found not
violating or exempt). Then, unless the reviewer withholds it, each matched entry's bank owner gets
the organisation's opinion: ``confirmed`` (violating, or exempt: the entry is right, the use is
not) or ``false_positive`` (not violating).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.errors import Conflict, InputError, NotFound, TesseraError
from tessera.review import actions, audit, cases, policies
from tessera.review.records import (
    OPEN_STATES,
    ActionKind,
    Case,
    CaseState,
    ComplaintState,
    Decision,
    Exemption,
    MatchMode,
    Policy,
)
from tessera.services.matching import Match
from tessera.settings import Settings
from tessera.signals.base import Signal
from tessera.store.db import utcnow
from tessera.store.records import Bank, Verdict
from tessera.store.repository import Store
from tessera.store.review_tables import actions as actions_table
from tessera.store.review_tables import complaints as complaints_table

SOURCES = ("match", "scan", "retro_hunt", "removal_order")


@dataclass(frozen=True, slots=True)
class Routed:
    """What routing a piece of content did."""

    case: Case | None
    actions: list[str] = field(default_factory=list)
    suppressed: bool = False
    logged: int = 0


@dataclass(frozen=True, slots=True)
class Decided:
    """A decision's outcome: the case as it now is, the actions queued, the feedback given."""

    case: Case
    actions: list[str]
    feedback: list[tuple[str, str]]
    feedback_errors: list[str]


def _signal_list(signals: Sequence[Signal]) -> list[dict[str, str]]:
    return [{"type": s.type, "value": s.value} for s in signals]


def _new_match(m: Match, bank: Bank, mode: MatchMode) -> cases.NewMatch:
    return cases.NewMatch(
        bank_uuid=bank.uuid,
        bank_name=bank.name,
        entry_uuid=m.entry_uuid,
        signal_type=m.signal_type,
        distance=m.distance,
        threshold=m.threshold,
        labels=m.labels,
        policy=mode,
        detail=dict(m.detail) if m.detail else None,
    )


def _banks(store: Store, matches: Sequence[Match]) -> dict[str, Bank]:
    found: dict[str, Bank] = {}
    for name in {m.bank for m in matches}:
        try:
            found[name] = store.get_bank(name)
        except NotFound:
            continue  # deleted since it matched: nothing to route
    return found


def route(
    store: Store,
    settings: Settings,
    *,
    org: str,
    content_ref: str,
    media_kind: str,
    signals: Sequence[Signal],
    matches: Sequence[Match],
    source: str = "match",
    preview: tuple[str, bytes] | None = None,
    actor: str | None = None,
) -> Routed:
    """Route one piece of the organisation's content and its matches by the banks' policies."""
    if source not in SOURCES:
        raise InputError(f"source must be one of {', '.join(SOURCES)}, got {source!r}")
    if not content_ref or len(content_ref) > cases.MAX_CONTENT_REF_CHARS:
        raise InputError(f"content_ref must be 1-{cases.MAX_CONTENT_REF_CHARS} characters")
    actor = actor or org
    banks = _banks(store, [m for m in matches if not m.demoted])
    live = [m for m in matches if m.bank in banks and not m.demoted]
    if not live:
        return Routed(case=None)
    subject = f"content:{content_ref}"
    with store.db.write() as conn:
        chosen = policies.policies_for(conn, org, [b.uuid for b in banks.values()])
        mode_of = {name: chosen[bank.uuid] for name, bank in banks.items()}
        allow = [m for m in live if mode_of[m.bank].mode is MatchMode.ALLOW_LIST]
        if allow:
            audit.append(
                conn,
                org=org,
                actor=actor,
                kind="match.suppressed",
                subject=subject,
                detail={"allow_list": sorted({m.bank for m in allow}), "matches": len(live)},
            )
            return Routed(case=None, suppressed=True)
        logged = [m for m in live if mode_of[m.bank].mode is MatchMode.LOG_ONLY]
        for m in logged:
            audit.append(
                conn,
                org=org,
                actor=actor,
                kind="match.logged",
                subject=subject,
                detail={"bank": m.bank, "entry": m.entry_uuid, "signal_type": m.signal_type},
            )
        routed = [
            m for m in live if mode_of[m.bank].mode in (MatchMode.REVIEW, MatchMode.AUTO_ACTION)
        ]
        if not routed:
            return Routed(case=None, logged=len(logged))
        return _open_case(
            conn,
            settings,
            org=org,
            actor=actor,
            content_ref=content_ref,
            media_kind=media_kind,
            signals=signals,
            routed=[(m, banks[m.bank], mode_of[m.bank]) for m in routed],
            source=source,
            preview=preview,
            logged=len(logged),
        )


def _open_case(
    conn: Connection,
    settings: Settings,
    *,
    org: str,
    actor: str,
    content_ref: str,
    media_kind: str,
    signals: Sequence[Signal],
    routed: Sequence[tuple[Match, Bank, Policy]],
    source: str,
    preview: tuple[str, bytes] | None,
    logged: int,
) -> Routed:
    now = utcnow()
    new = [_new_match(m, bank, p.mode) for m, bank, p in routed]
    acting = [
        (bank, p)
        for _m, bank, p in routed
        if p.mode is MatchMode.AUTO_ACTION and policies.in_rollout(p, content_ref)
    ]
    act_now = [(bank, p) for bank, p in acting if not p.shadow]
    shadow = [(bank, p) for bank, p in acting if p.shadow]
    existing = cases.latest_for_content(conn, org, content_ref)
    known = {(cm.entry_uuid, cm.signal_type) for cm in existing.matches} if existing else set()
    fresh = [m for m in new if (m.entry_uuid, m.signal_type) not in known]
    reuse = existing is not None and (
        existing.state in OPEN_STATES
        or existing.state is CaseState.ACTIONED
        or existing.decision is Decision.VIOLATING
        or not fresh
    )
    if existing is not None and reuse:
        case_id, case_uuid = existing.id, existing.uuid
        added = cases.add_matches(conn, case_id, new)
        if added:
            audit.append(
                conn,
                org=org,
                actor=actor,
                kind="case.matched",
                subject=f"case:{existing.uuid}",
                detail={"new_matches": added, "source": source},
            )
        act_now = act_now if existing.state in OPEN_STATES else []
        shadow = shadow if existing.state in OPEN_STATES else []
    else:
        case_id = cases.create(
            conn,
            org=org,
            content_ref=content_ref,
            media_kind=media_kind,
            signals=_signal_list(signals),
            source=source,
            deadline=now + timedelta(seconds=settings.review_deadline_s),
            automated_detection=source != "removal_order",
        )
        cases.add_matches(conn, case_id, new)
        case_uuid = cases.fetch_uuid(conn, case_id)
        audit.append(
            conn,
            org=org,
            actor=actor,
            kind="case.opened",
            subject=f"case:{case_uuid}",
            detail={
                "content_ref": content_ref,
                "source": source,
                "banks": sorted({bank.name for _m, bank, _p in routed}),
                "matches": len(new),
            },
        )
    if preview is not None:
        mime, data = preview
        expires = now + timedelta(days=settings.review_retention_days)
        cases.put_media(conn, case_id, mime, data, expires)
    queued: list[str] = []
    for bank, p in shadow:
        queued.append(
            actions.enqueue(
                conn,
                org=org,
                kind=p.action.value,
                content_ref=content_ref,
                case_id=case_id,
                payload={"bank": bank.name, "policy": "auto_action", "shadow": True},
                automated=True,
                shadow=True,
            )
        )
    if act_now:
        kinds = sorted({p.action for _bank, p in act_now}, key=_severity)
        kind = kinds[0]
        queued.append(
            actions.enqueue(
                conn,
                org=org,
                kind=kind.value,
                content_ref=content_ref,
                case_id=case_id,
                payload={"banks": sorted({b.name for b, _p in act_now}), "policy": "auto_action"},
                automated=True,
            )
        )
        cases.touch(
            conn,
            case_id,
            state=CaseState.ACTIONED.value,
            decision=Decision.VIOLATING.value,
            decided_by=f"auto_action:{','.join(sorted({b.name for b, _p in act_now}))}",
            decided_at=now,
            automated_decision=True,
            deadline=None,
        )
        audit.append(
            conn,
            org=org,
            actor=actor,
            kind="case.auto_actioned",
            subject=f"case:{case_uuid}",
            detail={"action": kind.value, "banks": sorted({b.name for b, _p in act_now})},
        )
    return Routed(case=cases.fetch(conn, org, case_uuid), actions=queued, logged=logged)


def _severity(kind: ActionKind) -> int:
    """Order of actions from strongest: several auto_action banks agree on the strongest."""
    return {ActionKind.REMOVE: 0, ActionKind.RESTRICT: 1, ActionKind.PRESERVE: 2}.get(kind, 3)


def content_down(conn: Connection, case_id: int) -> bool:
    """Whether the case's latest delivered-or-queued content action took the content down."""
    q = (
        sa.select(actions_table.c.kind)
        .where(
            actions_table.c.case_id == case_id,
            actions_table.c.state != "shadow",
            actions_table.c.kind.in_(["remove", "restrict", "restore"]),
        )
        .order_by(actions_table.c.id.desc())
        .limit(1)
    )
    last = conn.execute(q).scalar()
    return last in ("remove", "restrict")


OpinionCheck = Callable[[Bank], bool]


def decide(
    store: Store,
    settings: Settings,
    *,
    org: str,
    case_uuid: str,
    decision: Decision,
    actor: str,
    exemption: Exemption | None = None,
    note: str = "",
    withhold_feedback: bool = False,
    action: ActionKind = ActionKind.REMOVE,
    may_opine: OpinionCheck | None = None,
) -> Decided:
    """Record a reviewer's decision on an open case, queue its action, and give feedback."""
    del settings  # decisions take no settings today; kept for a uniform service signature
    if (decision is Decision.EXEMPT) != (exemption is not None):
        raise InputError("an exemption goes with the decision 'exempt', and 'exempt' needs one")
    if action not in (ActionKind.REMOVE, ActionKind.RESTRICT):
        raise InputError("violating content is removed or restricted")
    if len(note) > cases.MAX_NOTE_CHARS:
        raise InputError(f"note is over {cases.MAX_NOTE_CHARS} characters")
    now = utcnow()
    queued: list[str] = []
    with store.db.write() as conn:
        case = cases.fetch(conn, org, case_uuid)
        if case.state not in OPEN_STATES:
            raise Conflict(
                f"case {case_uuid} is {case.state.value}: only an open or reopened case is decided"
            )
        down = content_down(conn, case.id)
        state = CaseState.DECIDED
        if decision is Decision.ESCALATE:
            state = case.state
        elif decision is Decision.VIOLATING and not down:
            queued.append(_queue(conn, case, action, org))
            state = CaseState.ACTIONED
        elif decision is Decision.VIOLATING:
            state = CaseState.ACTIONED
        elif down:
            queued.append(_queue(conn, case, ActionKind.RESTORE, org))
            state = CaseState.RESTORED
        answered = decision is not Decision.ESCALATE and _answer_complaint(
            conn, case, decision, actor, note.strip()
        )
        cases.touch(
            conn,
            case.id,
            state=state.value,
            decision=decision.value,
            exemption=exemption.value if exemption else None,
            decided_by=actor,
            decided_at=now,
            withhold_feedback=withhold_feedback,
            automated_decision=False,
            **({"deadline": None} if answered else {}),
        )
        if note.strip():
            cases.add_note(conn, case.id, actor, note)
        audit.append(
            conn,
            org=org,
            actor=actor,
            kind="case.decided",
            subject=f"case:{case.uuid}",
            detail={
                "decision": decision.value,
                "exemption": exemption.value if exemption else None,
                "state": state.value,
                "actions": queued,
                "withhold_feedback": withhold_feedback,
            },
        )
    feedback, errors = (
        ([], []) if withhold_feedback else _feedback(store, case, decision, org, may_opine)
    )
    return Decided(
        case=cases.get(store.db, org, case_uuid),
        actions=queued,
        feedback=feedback,
        feedback_errors=errors,
    )


def _answer_complaint(
    conn: Connection, case: Case, decision: Decision, actor: str, note: str
) -> bool:
    """Close the case's open complaint with the reviewer's decision; whether there was one.

    A complaint reopens its case into the review queue; a reviewer who decides it there answers
    the complaint: content left up or restored upholds it, content found violating rejects it.
    """
    c = complaints_table.c
    open_one = conn.execute(
        sa.select(c.uuid).where(c.case_id == case.id, c.state == ComplaintState.OPEN.value)
    ).scalar()
    if open_one is None:
        return False
    state = ComplaintState.REJECTED if decision is Decision.VIOLATING else ComplaintState.UPHELD
    outcome = note or f"case decided {decision.value}"
    conn.execute(
        complaints_table.update()
        .where(c.uuid == open_one)
        .values(state=state.value, decided_by=actor, decided_at=utcnow(), outcome_note=outcome)
    )
    audit.append(
        conn,
        org=case.org,
        actor=actor,
        kind=f"complaint.{state.value}",
        subject=f"complaint:{open_one}",
        detail={"case": case.uuid, "decision": decision.value, "via": "case.decided"},
    )
    return True


def _queue(conn: Connection, case: Case, kind: ActionKind, org: str) -> str:
    return actions.enqueue(
        conn,
        org=org,
        kind=kind.value,
        content_ref=case.content_ref,
        case_id=case.id,
        payload={"decision": kind.value},
        automated=False,
    )


VERDICT_OF = {
    Decision.VIOLATING: Verdict.CONFIRMED,
    Decision.EXEMPT: Verdict.CONFIRMED,
    Decision.NOT_VIOLATING: Verdict.FALSE_POSITIVE,
}


def _feedback(
    store: Store, case: Case, decision: Decision, org: str, may_opine: OpinionCheck | None
) -> tuple[list[tuple[str, str]], list[str]]:
    """Give the decision's opinion on every entry the case matched; (given, errors)."""
    verdict = VERDICT_OF.get(decision)
    if verdict is None:
        return [], []
    return give_opinions(store, case, verdict, org, may_opine, reason=f"case decision: {decision}")


def give_opinions(
    store: Store,
    case: Case,
    verdict: Verdict,
    org: str,
    may_opine: OpinionCheck | None,
    reason: str,
) -> tuple[list[tuple[str, str]], list[str]]:
    """Set ``verdict`` as the organisation's opinion on each entry the case matched."""
    given: list[tuple[str, str]] = []
    errors: list[str] = []
    for bank_name, entry in sorted({(m.bank_name, m.entry_uuid) for m in case.matches}):
        try:
            if may_opine is not None and not may_opine(store.get_bank(bank_name)):
                errors.append(f"{bank_name}/{entry}: this organisation may not give opinions")
                continue
            store.set_opinion(bank_name, entry, org, verdict, reason)
            given.append((entry, verdict.value))
        except TesseraError as e:
            errors.append(f"{bank_name}/{entry}: {e}")
    return given, errors


def assign(store: Store, *, org: str, case_uuid: str, assignee: str | None, actor: str) -> Case:
    """Assign the case to a reviewer (or unassign it with None)."""
    if assignee is not None and not 0 < len(assignee) <= 200:
        raise InputError("assignee must be 1-200 characters")
    with store.db.write() as conn:
        case = cases.fetch(conn, org, case_uuid)
        cases.touch(conn, case.id, assignee=assignee)
        audit.append(
            conn,
            org=org,
            actor=actor,
            kind="case.assigned",
            subject=f"case:{case.uuid}",
            detail={"assignee": assignee},
        )
        return cases.fetch(conn, org, case_uuid)


def add_note(store: Store, *, org: str, case_uuid: str, text: str, actor: str) -> Case:
    """Add a reviewer's note to the case."""
    if not text.strip() or len(text) > cases.MAX_NOTE_CHARS:
        raise InputError(f"a note is 1-{cases.MAX_NOTE_CHARS} characters")
    with store.db.write() as conn:
        case = cases.fetch(conn, org, case_uuid)
        cases.add_note(conn, case.id, actor, text)
        audit.append(
            conn, org=org, actor=actor, kind="case.note", subject=f"case:{case.uuid}", detail={}
        )
        return cases.fetch(conn, org, case_uuid)


def purge_expired_media(store: Store) -> int:
    """Delete content kept for review past its retention; returns how many previews went."""
    with store.db.write() as conn:
        expired = cases.expired_media(conn, utcnow())
        cases.delete_media(conn, [case_id for case_id, _uuid, _org in expired])
        for _case_id, case_uuid, org in expired:
            audit.append(
                conn,
                org=org,
                actor="node",
                kind="media.deleted",
                subject=f"case:{case_uuid}",
                detail={"reason": "retention"},
            )
    return len(expired)
