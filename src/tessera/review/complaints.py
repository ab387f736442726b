"""Complaints: an uploader contests a decision on their content, and the organisation answers.

TCO Art. 10 (and DSA Art. 20): a content provider whose content was removed or restricted may
complain; the provider answers within two weeks and reinstates the content when the complaint
is upheld. Nothing about the person who complained is stored: only what the complaint says about
the content. The flow:

1. ``file_complaint``: a complaint on a decided or actioned case reopens it (``reopened``, in the
   review queue) with a deadline of ``complaint_deadline_days`` after receipt; a case has at most
   one open complaint;
2. ``uphold``: the decision was wrong. Content that is down is restored (a ``restore`` action for
   the platform's webhook) and the case becomes ``restored``; content that is up stays up and the
   case is ``decided`` not violating. Then, unless withheld, each matched entry's bank owner gets
   the organisation's ``false_positive`` opinion (after the commit, as a decision's feedback);
3. ``reject``: the decision stands. The case goes back to ``actioned`` (its content is down) or
   ``decided``, and the reason is noted on the complaint and on the case;
4. or a reviewer decides the reopened case in the queue (``services.review.decide``), which
   answers the complaint the same way: ``violating`` rejects it, any other decision upholds it.

Each step is one write transaction with its audit rows.
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from tessera.errors import Conflict, InputError, NotFound
from tessera.review import actions, audit, cases
from tessera.review.orders import UUID_SHAPE, check_id, check_text, check_time
from tessera.review.records import ActionKind, Case, CaseState, ComplaintState, Decision
from tessera.services.review import OpinionCheck, content_down, give_opinions
from tessera.settings import Settings
from tessera.store.db import Database, as_utc, utcnow
from tessera.store.records import Verdict
from tessera.store.repository import Store
from tessera.store.review_tables import cases as cases_table
from tessera.store.review_tables import complaints

COMPLAINABLE = (CaseState.DECIDED, CaseState.ACTIONED)
"""States of a case a complaint may contest: a decision was taken on it."""


@dataclass(frozen=True, slots=True)
class Complaint:
    """An uploader's complaint about a decision on a piece of content."""

    uuid: str
    org: str
    case_uuid: str
    received_at: datetime
    deadline: datetime
    reason: str
    state: ComplaintState
    decided_by: str | None
    decided_at: datetime | None
    outcome_note: str

    def remaining_s(self, now: datetime | None = None) -> float:
        """Seconds left before the deadline (negative once past it)."""
        return (self.deadline - (now or utcnow())).total_seconds()

    def as_json(self, now: datetime | None = None) -> dict[str, Any]:
        """The complaint as plain JSON."""
        return {
            "id": self.uuid,
            "org": self.org,
            "case": self.case_uuid,
            "received_at": self.received_at.isoformat(),
            "deadline": self.deadline.isoformat(),
            "remaining_s": round(self.remaining_s(now), 3),
            "reason": self.reason,
            "state": self.state.value,
            "decided_by": self.decided_by,
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "outcome_note": self.outcome_note,
        }


@dataclass(frozen=True, slots=True)
class Upheld:
    """What upholding did: the complaint, the case, the restore queued, the feedback given."""

    complaint: Complaint
    case: Case
    actions: list[str]
    feedback: list[tuple[str, str]]
    feedback_errors: list[str]


def _complaint(r: Row[Any]) -> Complaint:
    return Complaint(
        uuid=r.uuid,
        org=r.org,
        case_uuid=r.case_uuid,
        received_at=as_utc(r.received_at),
        deadline=as_utc(r.deadline),
        reason=r.reason,
        state=ComplaintState(r.state),
        decided_by=r.decided_by,
        decided_at=as_utc(r.decided_at) if r.decided_at is not None else None,
        outcome_note=r.outcome_note,
    )


def _select() -> sa.Select[Any]:
    return sa.select(complaints, cases_table.c.uuid.label("case_uuid")).join(
        cases_table, cases_table.c.id == complaints.c.case_id
    )


def _fetch(conn: Connection, org: str, complaint_uuid: str) -> tuple[Complaint, int]:
    check_id("complaint", complaint_uuid)
    row = conn.execute(
        _select().where(complaints.c.uuid == complaint_uuid, complaints.c.org == org)
    ).first()
    if row is None:
        raise NotFound(f"no complaint {complaint_uuid!r}")
    return _complaint(row), int(row.case_id)


def _check_text(name: str, value: str) -> str:
    return check_text(name, value.strip(), cases.MAX_NOTE_CHARS)


def file_complaint(
    store: Store,
    settings: Settings,
    *,
    org: str,
    case_uuid: str,
    reason: str,
    actor: str,
    received_at: datetime | None = None,
) -> Complaint:
    """Record a complaint on the organisation's decided case and reopen the case."""
    reason = _check_text("reason", reason)
    check_id("case", case_uuid)
    now = utcnow()
    received = check_time("received_at", received_at, now)
    deadline = received + timedelta(days=settings.complaint_deadline_days)
    key = str(uuidlib.uuid4())
    with store.db.write() as conn:
        case = cases.fetch(conn, org, case_uuid)
        if case.state not in COMPLAINABLE:
            raise Conflict(
                f"case {case_uuid} is {case.state.value}: a complaint contests a decided or "
                "actioned case"
            )
        pending = conn.execute(
            sa.select(complaints.c.uuid).where(
                complaints.c.case_id == case.id, complaints.c.state == ComplaintState.OPEN.value
            )
        ).first()
        if pending is not None:
            raise Conflict(f"case {case_uuid} already has an open complaint ({pending.uuid})")
        conn.execute(
            complaints.insert().values(
                uuid=key,
                case_id=case.id,
                org=org,
                received_at=received,
                deadline=deadline,
                reason=reason,
                state=ComplaintState.OPEN.value,
                outcome_note="",
            )
        )
        cases.touch(conn, case.id, state=CaseState.REOPENED.value, deadline=deadline)
        detail = {
            "case": case.uuid,
            "received_at": received.isoformat(),
            "deadline": deadline.isoformat(),
            "case_was": case.state.value,
        }
        subject = f"complaint:{key}"
        audit.append(
            conn, org=org, actor=actor, kind="complaint.filed", subject=subject, detail=detail
        )
        audit.append(
            conn,
            org=org,
            actor=actor,
            kind="case.reopened",
            subject=f"case:{case.uuid}",
            detail={"complaint": key, "deadline": deadline.isoformat()},
        )
        return _fetch(conn, org, key)[0]


def _open(conn: Connection, org: str, complaint_uuid: str) -> tuple[Complaint, Case]:
    complaint, case_id = _fetch(conn, org, complaint_uuid)
    if complaint.state is not ComplaintState.OPEN:
        raise Conflict(f"complaint {complaint_uuid} was already {complaint.state.value}")
    return complaint, cases.fetch(conn, org, cases.fetch_uuid(conn, case_id))


def _close(
    conn: Connection, complaint: Complaint, state: ComplaintState, actor: str, note: str
) -> None:
    conn.execute(
        complaints.update()
        .where(complaints.c.uuid == complaint.uuid)
        .values(state=state.value, decided_by=actor, decided_at=utcnow(), outcome_note=note)
    )


def uphold(
    store: Store,
    *,
    org: str,
    complaint_uuid: str,
    actor: str,
    note: str = "",
    withhold_feedback: bool = False,
    may_opine: OpinionCheck | None = None,
) -> Upheld:
    """Uphold a complaint: restore the content if it is down, and report a false positive."""
    note = check_text("note", note.strip(), cases.MAX_NOTE_CHARS, required=False)
    queued: list[str] = []
    with store.db.write() as conn:
        complaint, case = _open(conn, org, complaint_uuid)
        down = content_down(conn, case.id)
        if down:
            queued.append(
                actions.enqueue(
                    conn,
                    org=org,
                    kind=ActionKind.RESTORE.value,
                    content_ref=case.content_ref,
                    case_id=case.id,
                    payload={"complaint": complaint.uuid, "decision": "restore"},
                    actor=actor,
                )
            )
        # Content restored meanwhile (a reviewer decided the reopened case) stays restored.
        restored = down or case.state is CaseState.RESTORED
        state = CaseState.RESTORED if restored else CaseState.DECIDED
        cases.touch(
            conn,
            case.id,
            state=state.value,
            decision=Decision.NOT_VIOLATING.value,
            exemption=None,
            decided_by=actor,
            decided_at=utcnow(),
            automated_decision=False,
            withhold_feedback=withhold_feedback,
            deadline=None,
        )
        cases.add_note(conn, case.id, actor, f"complaint upheld{': ' + note if note else ''}")
        _close(conn, complaint, ComplaintState.UPHELD, actor, note)
        detail = {
            "case": case.uuid,
            "state": state.value,
            "actions": queued,
            "withhold_feedback": withhold_feedback,
        }
        subject = f"complaint:{complaint.uuid}"
        audit.append(
            conn, org=org, actor=actor, kind="complaint.upheld", subject=subject, detail=detail
        )
    feedback: tuple[list[tuple[str, str]], list[str]] = ([], [])
    if not withhold_feedback:
        reason = f"complaint upheld: {complaint.uuid}"
        feedback = give_opinions(store, case, Verdict.FALSE_POSITIVE, org, may_opine, reason)
    return Upheld(
        complaint=get(store.db, org, complaint_uuid),
        case=cases.get(store.db, org, case.uuid),
        actions=queued,
        feedback=feedback[0],
        feedback_errors=feedback[1],
    )


def reject(
    store: Store, *, org: str, complaint_uuid: str, reason: str, actor: str
) -> tuple[Complaint, Case]:
    """Reject a complaint: the case returns to its decided or actioned state, the reason noted."""
    reason = _check_text("reason", reason)
    with store.db.write() as conn:
        complaint, case = _open(conn, org, complaint_uuid)
        state = CaseState.ACTIONED if content_down(conn, case.id) else CaseState.DECIDED
        cases.touch(conn, case.id, state=state.value, deadline=None)
        cases.add_note(conn, case.id, actor, f"complaint rejected: {reason}")
        _close(conn, complaint, ComplaintState.REJECTED, actor, reason)
        audit.append(
            conn,
            org=org,
            actor=actor,
            kind="complaint.rejected",
            subject=f"complaint:{complaint.uuid}",
            detail={"case": case.uuid, "state": state.value, "reason": reason},
        )
        return _fetch(conn, org, complaint_uuid)[0], cases.fetch(conn, org, case.uuid)


def get(db: Database, org: str, complaint_uuid: str) -> Complaint:
    """The organisation's complaint; NotFound for an unknown one or another organisation's."""
    with db.read() as conn:
        return _fetch(conn, org, complaint_uuid)[0]


def list_complaints(
    db: Database,
    org: str,
    *,
    state: ComplaintState | None = None,
    case_uuid: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Complaint]:
    """The organisation's complaints: open ones soonest deadline first, then the newest."""
    if not 1 <= limit <= 10_000 or offset < 0:
        raise InputError("limit must be 1-10000 and offset not negative")
    q = _select().where(complaints.c.org == org)
    if state is not None:
        q = q.where(complaints.c.state == state.value)
    if case_uuid is not None:
        if not UUID_SHAPE.match(case_uuid):
            return []
        q = q.where(cases_table.c.uuid == case_uuid)
    is_open = sa.case((complaints.c.state == ComplaintState.OPEN.value, 0), else_=1)
    q = q.order_by(is_open, complaints.c.deadline, complaints.c.id.desc())
    with db.read() as conn:
        return [_complaint(r) for r in conn.execute(q.limit(limit).offset(offset))]
