"""The audit log: append-only and hash-chained, and the check that finds any edit or deletion.

Each row's hash is SHA-256 over the previous row's hash and the row's own fields (its sequence
number included), as canonical JSON. So:

1. editing any field of a row changes its hash, and the next row's ``prev_hash`` no longer agrees;
2. deleting a row leaves a gap in ``seq`` and a broken link; deleting the newest rows leaves
   ``audit_head`` (written with every append) pointing past the end;
3. reordering rows breaks the links, because each hash covers its ``seq``.

``append`` runs inside the caller's write transaction, so a decision and its audit row commit
together or not at all; the store's single-writer protocol (``store.db``) serialises appends.
``detail`` must be JSON-native (what goes in comes back out the same), since ``verify``
recomputes every hash from the stored JSON. The hash covers values, not how the database spells
them: rewriting a stored value without changing it (JSON whitespace) is not an edit.

``verify`` reads the chain in pages of ``seq`` inside one snapshot, so a chain of millions of rows
never sits in memory, and reports each problem it finds. Someone who rewrites the whole chain and
the head can pass it: hand the head (``tessera audit head``) to an outside witness now and then,
and check against it (``verify(db, witness=(seq, hash))``).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from tessera.errors import InputError
from tessera.store.db import Database, as_utc, utcnow
from tessera.store.review_tables import audit_head, audit_log

GENESIS = "0" * 64
"""The ``prev_hash`` of the first row."""

SAMPLE_CAP = 100
"""How many uuids a record about a batch (an import, a mirrored page) names at most."""

MAX_LIST = 1000
"""The most records one ``list_records`` call returns."""

_PAGE = 5000
_MAX_PROBLEMS = 1000


def row_hash(
    prev_hash: str,
    seq: int,
    created_at: datetime,
    org: str,
    actor: str,
    kind: str,
    subject: str,
    detail: Mapping[str, Any],
) -> str:
    """The hash of one audit row, chained to ``prev_hash``."""
    body = json.dumps(
        [prev_hash, seq, _instant(created_at), org, actor, kind, subject, detail],
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return hashlib.sha256(body.encode("utf-8", "surrogatepass")).hexdigest()


def _instant(value: datetime) -> str:
    # SQLite gives timestamps back naive (in UTC), PostgreSQL aware in the session's zone: the
    # hash must not depend on the backend.
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds")


def _check_text(value: str, where: str, *, column: bool = False) -> None:
    # A text column on PostgreSQL cannot hold NUL; inside JSON it travels escaped.
    if column and "\x00" in value:
        raise TypeError(f"audit {where}: NUL characters cannot be stored")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise TypeError(f"audit {where}: not valid Unicode (a lone surrogate)") from None


def _json_native(value: Any, where: str) -> Any:
    """``value`` as plain JSON (tuples become lists); TypeError for anything JSON cannot carry."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"audit detail {where}: {value} is not a JSON number")
        return value
    if isinstance(value, str):
        _check_text(value, f"detail {where}")
        return value
    if isinstance(value, list | tuple):
        return [_json_native(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"audit detail {where}: key {k!r} is not a string")
            _check_text(k, f"detail {where}")
            out[k] = _json_native(v, f"{where}.{k}")
        return out
    raise TypeError(f"audit detail {where}: {type(value).__name__} is not JSON-native")


def sample(values: Iterable[str], cap: int = SAMPLE_CAP) -> list[str]:
    """The first ``cap`` values (what a batch's record names of its uuids)."""
    out: list[str] = []
    for v in values:
        if len(out) >= cap:
            break
        out.append(v)
    return out


def append(
    conn: Connection,
    *,
    org: str,
    actor: str,
    kind: str,
    subject: str,
    detail: Mapping[str, Any] | None = None,
) -> int:
    """Append one row in the caller's write transaction; returns its sequence number.

    TypeError when ``detail`` is not JSON-native or a text field cannot be stored as given.
    """
    for name, text in (("org", org), ("actor", actor), ("kind", kind), ("subject", subject)):
        _check_text(text, name, column=True)
    payload = _json_native(dict(detail or {}), "detail")
    head = conn.execute(sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1))
    last = head.first()
    seq, prev = (int(last.seq) + 1, str(last.hash)) if last is not None else (1, GENESIS)
    now = utcnow()
    digest = row_hash(prev, seq, now, org, actor, kind, subject, payload)
    conn.execute(
        audit_log.insert().values(
            seq=seq,
            created_at=now,
            org=org,
            actor=actor,
            kind=kind,
            subject=subject,
            detail=payload,
            prev_hash=prev,
            hash=digest,
        )
    )
    if last is None:
        conn.execute(audit_head.insert().values(id=1, seq=seq, hash=digest))
    else:
        conn.execute(audit_head.update().where(audit_head.c.id == 1).values(seq=seq, hash=digest))
    return seq


# -- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One row of the audit log."""

    seq: int
    created_at: datetime
    org: str
    actor: str
    kind: str
    subject: str
    detail: dict[str, Any]
    prev_hash: str
    hash: str

    def as_json(self) -> dict[str, Any]:
        """The record as plain JSON."""
        return {
            "seq": self.seq,
            "created_at": self.created_at.isoformat(),
            "org": self.org,
            "actor": self.actor,
            "kind": self.kind,
            "subject": self.subject,
            "detail": self.detail,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


def _record(r: Row[Any]) -> AuditRecord:
    return AuditRecord(
        seq=int(r.seq),
        created_at=as_utc(r.created_at),
        org=r.org,
        actor=r.actor,
        kind=r.kind,
        subject=r.subject,
        detail=dict(r.detail) if isinstance(r.detail, Mapping) else {"value": r.detail},
        prev_hash=r.prev_hash,
        hash=r.hash,
    )


def list_records(
    db: Database,
    *,
    subject: str | None = None,
    kind: str | None = None,
    org: str | None = None,
    after: int = 0,
    limit: int = 100,
) -> list[AuditRecord]:
    """Up to ``limit`` records with ``seq`` over ``after``, oldest first, optionally filtered."""
    if not 1 <= limit <= MAX_LIST:
        raise InputError(f"limit must be between 1 and {MAX_LIST}, got {limit}")
    if after < 0:
        raise InputError(f"after must be 0 or more, got {after}")
    q = sa.select(audit_log).where(audit_log.c.seq > after)
    for column, wanted in (("subject", subject), ("kind", kind), ("org", org)):
        if wanted is not None:
            q = q.where(audit_log.c[column] == wanted)
    with db.read() as conn:
        return [_record(r) for r in conn.execute(q.order_by(audit_log.c.seq).limit(limit))]


def head(db: Database) -> tuple[int, str]:
    """The newest row's seq and hash as the head records them ((0, GENESIS) when empty)."""
    with db.read() as conn:
        row = conn.execute(
            sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)
        ).first()
    return (int(row.seq), str(row.hash)) if row is not None else (0, GENESIS)


# -- verifying -----------------------------------------------------------------------------------


class Problem(StrEnum):
    """What ``verify`` can find wrong with the chain."""

    EDITED = "edited"  # a row's hash does not match its fields
    BROKEN_LINK = "broken_link"  # a row's prev_hash is not the previous row's hash
    GAP = "gap"  # seq numbers missing before a row
    HEAD_MISSING = "head_missing"  # rows exist but no head
    HEAD_MISMATCH = "head_mismatch"  # the head's hash is not its row's hash
    TAIL_MISSING = "tail_missing"  # the head points past the last row
    AFTER_HEAD = "after_head"  # rows past the head
    WITNESS_MISMATCH = "witness_mismatch"  # a witnessed (seq, hash) is not in the chain


@dataclass(frozen=True, slots=True)
class AuditProblem:
    """One thing wrong with the chain, at a row (``seq``) or at the head (seq None)."""

    kind: Problem
    seq: int | None
    message: str

    def __str__(self) -> str:
        where = f"seq {self.seq}" if self.seq is not None else "head"
        return f"{where}: {self.kind.value}: {self.message}"


@dataclass
class AuditReport:
    """What ``verify`` found: the rows read, the head, and each problem (the first 1000)."""

    records: int = 0
    head_seq: int | None = None
    head_hash: str | None = None
    last_seq: int = 0
    last_hash: str = GENESIS
    problems: list[AuditProblem] = field(default_factory=list)
    problem_count: int = 0

    @property
    def ok(self) -> bool:
        """True when the chain and its head are intact."""
        return self.problem_count == 0

    @property
    def first_bad_seq(self) -> int | None:
        """The lowest seq at which a problem shows (None when intact or only the head is off)."""
        seqs = [p.seq for p in self.problems if p.seq is not None]
        return min(seqs) if seqs else None

    @property
    def kinds(self) -> set[Problem]:
        """The kinds of problem found."""
        return {p.kind for p in self.problems}

    def add(self, kind: Problem, seq: int | None, message: str) -> None:
        """Record a problem (only the first 1000 are kept; all are counted)."""
        self.problem_count += 1
        if len(self.problems) < _MAX_PROBLEMS:
            self.problems.append(AuditProblem(kind, seq, message))


def _pages(conn: Connection, page: int) -> Iterator[Row[Any]]:
    after: int | None = None
    while True:
        q = sa.select(audit_log).order_by(audit_log.c.seq).limit(page)
        if after is not None:
            q = q.where(audit_log.c.seq > after)
        rows = conn.execute(q).all()
        if not rows:
            return
        yield from rows
        after = int(rows[-1].seq)


def _snapshot(conn: Connection) -> None:
    # On PostgreSQL each statement of a READ COMMITTED transaction sees newer commits: a scan
    # racing appends would see rows the head it read does not cover. SQLite WAL reads keep one
    # snapshot for the whole transaction already.
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))


def verify(
    db: Database, *, witness: tuple[int, str] | None = None, page: int = _PAGE
) -> AuditReport:
    """Check every row's hash and link, the seq numbers and the head, in one snapshot."""
    if page < 1:
        raise ValueError("page must be at least 1")
    report = AuditReport()
    witnessed = False
    with db.read() as conn:
        _snapshot(conn)
        head_row = conn.execute(
            sa.select(audit_head.c.seq, audit_head.c.hash).where(audit_head.c.id == 1)
        ).first()
        if head_row is not None:
            report.head_seq, report.head_hash = int(head_row.seq), str(head_row.hash)
        past_head = False
        for r in _pages(conn, page):
            seq = int(r.seq)
            report.records += 1
            if seq != report.last_seq + 1:
                gone = f"{report.last_seq + 1}..{seq - 1}"
                report.add(Problem.GAP, seq, f"seq {gone} missing before this row")
            if r.prev_hash != report.last_hash:
                report.add(
                    Problem.BROKEN_LINK,
                    seq,
                    f"prev_hash {r.prev_hash[:12]}… is not the previous row's hash "
                    f"{report.last_hash[:12]}…",
                )
            if _stored_hash(r) != r.hash:
                report.add(Problem.EDITED, seq, "the row's fields do not match its hash")
            if seq == report.head_seq and r.hash != report.head_hash:
                report.add(Problem.HEAD_MISMATCH, seq, "the head's hash is not this row's hash")
            if report.head_seq is not None and seq > report.head_seq and not past_head:
                past_head = True
                report.add(Problem.AFTER_HEAD, seq, f"rows after the head (seq {report.head_seq})")
            if witness is not None and seq == witness[0]:
                witnessed = True
                if r.hash != witness[1]:
                    report.add(Problem.WITNESS_MISMATCH, seq, "not the hash the witness holds")
            report.last_seq, report.last_hash = seq, str(r.hash)
    _check_head(report)
    if witness is not None and not witnessed:
        report.add(Problem.WITNESS_MISMATCH, None, f"no row at the witnessed seq {witness[0]}")
    return report


def _stored_hash(r: Row[Any]) -> str | None:
    try:
        detail = r.detail if isinstance(r.detail, Mapping) else {"": r.detail}
        return row_hash(
            r.prev_hash, int(r.seq), r.created_at, r.org, r.actor, r.kind, r.subject, detail
        )
    except (TypeError, ValueError):
        return None  # a field edited into something that cannot be hashed at all


def _check_head(report: AuditReport) -> None:
    if report.head_seq is None:
        if report.records:
            report.add(Problem.HEAD_MISSING, None, f"no head, but {report.records} rows exist")
        return
    if report.head_seq > report.last_seq:
        last = f"the last row is seq {report.last_seq}" if report.records else "there are no rows"
        report.add(
            Problem.TAIL_MISSING,
            report.last_seq + 1,
            f"the head is at seq {report.head_seq} but {last}",
        )
