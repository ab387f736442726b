"""Cases in the store: one piece of an organisation's content, its matches, notes and preview.

Every read takes the organisation and answers NotFound for another organisation's case, exactly
as for a case that does not exist: a case, and the content kept for it, is visible only to the
organisation that submitted the content.

The functions taking a ``Connection`` run inside the caller's transaction (the service layer
composes them with the audit log and actions); those taking a ``Database`` open their own.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from tessera.errors import NotFound
from tessera.review.records import (
    OPEN_STATES,
    Case,
    CaseMatch,
    CaseNote,
    CaseState,
    Decision,
    Exemption,
    MatchMode,
)
from tessera.store.db import Database, as_utc, utcnow
from tessera.store.review_tables import case_matches, case_media, case_notes, cases

MAX_NOTE_CHARS = 10_000
MAX_CONTENT_REF_CHARS = 2_000


@dataclass(frozen=True, slots=True)
class NewMatch:
    """A match to record on a case."""

    bank_uuid: str
    bank_name: str
    entry_uuid: str
    signal_type: str
    distance: int
    threshold: int
    labels: tuple[str, ...]
    policy: MatchMode
    detail: dict[str, Any] | None = None


def _when(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def _case(r: Row[Any], matches: Sequence[CaseMatch] = (), notes: Sequence[CaseNote] = ()) -> Case:
    return Case(
        id=int(r.id),
        uuid=r.uuid,
        org=r.org,
        content_ref=r.content_ref,
        media_kind=r.media_kind,
        signals=tuple(r.signals),
        state=CaseState(r.state),
        source=r.source,
        assignee=r.assignee,
        deadline=_when(r.deadline),
        decision=Decision(r.decision) if r.decision else None,
        exemption=Exemption(r.exemption) if r.exemption else None,
        decided_by=r.decided_by,
        decided_at=_when(r.decided_at),
        withhold_feedback=bool(r.withhold_feedback),
        automated_detection=bool(r.automated_detection),
        automated_decision=bool(r.automated_decision),
        created_at=as_utc(r.created_at),
        updated_at=as_utc(r.updated_at),
        matches=tuple(matches),
        notes=tuple(notes),
        has_media=bool(getattr(r, "has_media", False)),
    )


def _match(r: Row[Any]) -> CaseMatch:
    return CaseMatch(
        bank_uuid=r.bank_uuid,
        bank_name=r.bank_name,
        entry_uuid=r.entry_uuid,
        signal_type=r.signal_type,
        distance=int(r.distance),
        threshold=int(r.threshold),
        labels=tuple(r.labels),
        policy=MatchMode(r.policy),
        created_at=as_utc(r.created_at),
        detail=r.detail,
    )


def _with_media() -> sa.Select[Any]:
    has = sa.exists().where(case_media.c.case_id == cases.c.id).label("has_media")
    return sa.select(cases, has)


def latest_for_content(conn: Connection, org: str, content_ref: str) -> Case | None:
    """The newest case of this organisation about this content, if any."""
    q = (
        _with_media()
        .where(cases.c.org == org, cases.c.content_ref == content_ref)
        .order_by(cases.c.id.desc())
        .limit(1)
    )
    row = conn.execute(q).first()
    return load(conn, row) if row is not None else None


def create(
    conn: Connection,
    *,
    org: str,
    content_ref: str,
    media_kind: str,
    signals: Sequence[dict[str, str]],
    source: str,
    deadline: datetime | None,
    automated_detection: bool,
    state: CaseState = CaseState.OPEN,
) -> int:
    """Insert a new case; returns its row id."""
    now = utcnow()
    result = conn.execute(
        cases.insert().values(
            uuid=str(uuidlib.uuid4()),
            org=org,
            content_ref=content_ref,
            media_kind=media_kind,
            signals=list(signals),
            state=state.value,
            source=source,
            assignee=None,
            deadline=deadline,
            withhold_feedback=False,
            automated_detection=automated_detection,
            automated_decision=False,
            created_at=now,
            updated_at=now,
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def add_matches(conn: Connection, case_id: int, matches: Sequence[NewMatch]) -> int:
    """Record matches on a case (a match of the same entry and signal type already there is kept);
    returns how many were new."""
    known = {
        (r.entry_uuid, r.signal_type)
        for r in conn.execute(
            sa.select(case_matches.c.entry_uuid, case_matches.c.signal_type).where(
                case_matches.c.case_id == case_id
            )
        )
    }
    now = utcnow()
    rows = []
    for m in matches:
        if (m.entry_uuid, m.signal_type) in known:
            continue
        known.add((m.entry_uuid, m.signal_type))
        rows.append(
            {
                "case_id": case_id,
                "bank_uuid": m.bank_uuid,
                "bank_name": m.bank_name,
                "entry_uuid": m.entry_uuid,
                "signal_type": m.signal_type,
                "distance": m.distance,
                "threshold": m.threshold,
                "labels": list(m.labels),
                "policy": m.policy.value,
                "detail": m.detail,
                "created_at": now,
            }
        )
    if rows:
        conn.execute(case_matches.insert(), rows)
        touch(conn, case_id)
    return len(rows)


def touch(conn: Connection, case_id: int, **values: Any) -> None:
    """Update a case's columns (and its ``updated_at``)."""
    conn.execute(cases.update().where(cases.c.id == case_id).values(updated_at=utcnow(), **values))


def load(conn: Connection, row: Row[Any]) -> Case:
    """A case row with its matches and notes."""
    case_id = int(row.id)
    matches = [
        _match(r)
        for r in conn.execute(
            sa.select(case_matches)
            .where(case_matches.c.case_id == case_id)
            .order_by(case_matches.c.distance, case_matches.c.id)
        )
    ]
    notes = [
        CaseNote(author=r.author, text=r.text, created_at=as_utc(r.created_at))
        for r in conn.execute(
            sa.select(case_notes).where(case_notes.c.case_id == case_id).order_by(case_notes.c.id)
        )
    ]
    return _case(row, matches, notes)


def fetch(conn: Connection, org: str, case_uuid: str) -> Case:
    """The organisation's case with this uuid; NotFound for an unknown or another's case."""
    row = conn.execute(_with_media().where(cases.c.uuid == case_uuid, cases.c.org == org)).first()
    if row is None:
        raise NotFound(f"no case {case_uuid!r}")
    return load(conn, row)


def fetch_uuid(conn: Connection, case_id: int) -> str:
    """The uuid of the case with this row id."""
    return str(conn.execute(sa.select(cases.c.uuid).where(cases.c.id == case_id)).scalar_one())


def get(db: Database, org: str, case_uuid: str) -> Case:
    """The organisation's case with this uuid, with its matches and notes."""
    with db.read() as conn:
        return fetch(conn, org, case_uuid)


def list_cases(
    db: Database,
    org: str,
    *,
    states: Sequence[CaseState] | None = None,
    assignee: str | None = None,
    content_ref: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[Case]:
    """The organisation's cases, soonest deadline first (cases without one last), without their
    matches' details loaded beyond the list each case carries."""
    q = _with_media().where(cases.c.org == org)
    if states:
        q = q.where(cases.c.state.in_([s.value for s in states]))
    if assignee is not None:
        q = q.where(cases.c.assignee == assignee)
    if content_ref is not None:
        q = q.where(cases.c.content_ref == content_ref)
    q = q.order_by(cases.c.deadline.is_(None), cases.c.deadline, cases.c.id)
    with db.read() as conn:
        return [load(conn, r) for r in conn.execute(q.limit(limit).offset(offset))]


def queue(db: Database, org: str, limit: int = 50, offset: int = 0) -> list[Case]:
    """The review queue: open and reopened cases, soonest deadline first."""
    return list_cases(db, org, states=OPEN_STATES, limit=limit, offset=offset)


def counts(db: Database, org: str) -> dict[str, int]:
    """How many of the organisation's cases are in each state."""
    q = sa.select(cases.c.state, sa.func.count()).where(cases.c.org == org).group_by(cases.c.state)
    with db.read() as conn:
        found = {str(state): int(n) for state, n in conn.execute(q)}
    return {s.value: found.get(s.value, 0) for s in CaseState}


def add_note(conn: Connection, case_id: int, author: str, text: str) -> None:
    """Append a reviewer's note to a case."""
    conn.execute(
        case_notes.insert().values(case_id=case_id, author=author, text=text, created_at=utcnow())
    )
    touch(conn, case_id)


def put_media(conn: Connection, case_id: int, mime: str, data: bytes, expires_at: datetime) -> None:
    """Keep the content for review until ``expires_at`` (replacing what was kept)."""
    conn.execute(case_media.delete().where(case_media.c.case_id == case_id))
    conn.execute(
        case_media.insert().values(case_id=case_id, mime=mime, data=data, expires_at=expires_at)
    )


def get_media(db: Database, org: str, case_uuid: str) -> tuple[str, bytes]:
    """The content kept for the organisation's case (mime, bytes); NotFound once deleted."""
    q = (
        sa.select(case_media.c.mime, case_media.c.data)
        .join(cases, cases.c.id == case_media.c.case_id)
        .where(cases.c.uuid == case_uuid, cases.c.org == org, case_media.c.expires_at > utcnow())
    )
    with db.read() as conn:
        row = conn.execute(q).first()
    if row is None:
        raise NotFound(f"no content is kept for case {case_uuid!r}")
    return str(row.mime), bytes(row.data)


def expired_media(conn: Connection, now: datetime) -> list[tuple[int, str, str]]:
    """(case id, case uuid, org) of every preview past its retention."""
    q = (
        sa.select(cases.c.id, cases.c.uuid, cases.c.org)
        .join(case_media, case_media.c.case_id == cases.c.id)
        .where(case_media.c.expires_at <= now)
    )
    return [(int(r.id), str(r.uuid), str(r.org)) for r in conn.execute(q)]


def delete_media(conn: Connection, case_ids: Sequence[int]) -> None:
    """Delete the content kept for these cases."""
    if case_ids:
        conn.execute(case_media.delete().where(case_media.c.case_id.in_(list(case_ids))))
