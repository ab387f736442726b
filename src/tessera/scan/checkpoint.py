"""The scan journal: the checkpoint that lets a killed scan resume with no item lost or repeated.

1. A job is one scan of one source by one organisation. ``open_job`` resumes the unfinished job
   for the same source unless asked to restart.
2. Workers hash and match a batch; ``commit`` then writes the batch's items (and, when the job
   keeps signals, their kept signals) in ONE transaction, unique per job and item key. A kill
   before the commit loses only work not yet recorded, which resume redoes; a kill after it
   loses nothing. No item is recorded twice: the unique key refuses it.
3. Routing a match to review is its own transaction (the review core's), so an item is committed
   with ``routed = false`` and marked routed after; ``unrouted`` lists the items a kill left in
   between, and routing them again is idempotent (see ``scan.routing``).
"""

from __future__ import annotations

import hashlib
import uuid as uuidlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from tessera.scan.source import SourceItem
from tessera.scan.work import ItemResult, match_json, signals_json
from tessera.services.hashing import split_by_quality
from tessera.store.db import as_utc, utcnow
from tessera.store.repository import Store
from tessera.store.scan_tables import kept_signals, scan_items, scan_jobs
from tessera.store.tables import value_key


def key_hash(key: str) -> str:
    """The lookup key of an item key (content id): its SHA-256, hex."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class ScanJob:
    """One scan of a source by an organisation."""

    id: int
    uuid: str
    org: str
    source: str
    keep_signals: bool
    state: str
    resumed: bool = False


@dataclass(frozen=True, slots=True)
class JobSummary:
    """Counts of a job's items."""

    done: int
    failed: int
    matched: int
    routed: int


@dataclass(frozen=True, slots=True)
class JournalItem:
    """A recorded item, as the report and resumed routing read it."""

    key: str
    key_hash: str
    position: int
    path: str
    state: str
    media_kind: str | None
    error: str | None
    signals: list[dict[str, Any]]
    matches: list[dict[str, Any]]
    case_uuid: str | None


class ScanJournal:
    """Scan jobs and their items in the store."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = store.db

    def open_job(
        self, org: str, source: str, *, keep_signals: bool, restart: bool = False
    ) -> ScanJob:
        """The running job of ``org`` for ``source`` (resumed), or a new one."""
        source_key = key_hash(source)
        now = utcnow()
        with self.db.write() as conn:
            running = sa.and_(
                scan_jobs.c.org == org,
                scan_jobs.c.source_key == source_key,
                scan_jobs.c.state == "running",
            )
            if restart:
                conn.execute(
                    scan_jobs.update().where(running).values(state="finished", finished_at=now)
                )
            row = conn.execute(
                sa.select(scan_jobs).where(running).order_by(scan_jobs.c.id.desc()).limit(1)
            ).first()
            if row is not None:
                if keep_signals and not row.keep_signals:
                    conn.execute(
                        scan_jobs.update()
                        .where(scan_jobs.c.id == row.id)
                        .values(keep_signals=True, updated_at=now)
                    )
                return ScanJob(
                    int(row.id),
                    row.uuid,
                    org,
                    source,
                    keep_signals or bool(row.keep_signals),
                    "running",
                    True,
                )
            values = {
                "uuid": str(uuidlib.uuid4()),
                "org": org,
                "source": source,
                "source_key": source_key,
                "keep_signals": keep_signals,
                "state": "running",
                "created_at": now,
                "updated_at": now,
            }
            job_id = conn.execute(scan_jobs.insert().returning(scan_jobs.c.id), values).scalar_one()
        return ScanJob(int(job_id), str(values["uuid"]), org, source, keep_signals, "running")

    def get_job(self, job_uuid: str) -> ScanJob | None:
        """A job by uuid."""
        with self.db.read() as conn:
            r = conn.execute(sa.select(scan_jobs).where(scan_jobs.c.uuid == job_uuid)).first()
        if r is None:
            return None
        return ScanJob(int(r.id), r.uuid, r.org, r.source, bool(r.keep_signals), r.state)

    def done(self, job: ScanJob, items: Sequence[SourceItem]) -> dict[str, int]:
        """Of these items' keys, those the job has recorded, with the position recorded."""
        hashes = {key_hash(i.key): i.key for i in items}
        if not hashes:
            return {}
        q = sa.select(scan_items.c.key_hash, scan_items.c.position).where(
            scan_items.c.job_id == job.id, scan_items.c.key_hash.in_(sorted(hashes))
        )
        with self.db.read() as conn:
            return {hashes[h]: int(p) for h, p in conn.execute(q)}

    def commit(self, job: ScanJob, results: Sequence[ItemResult], min_quality: int = 0) -> None:
        """Record a batch of results, and their kept signals, in one transaction."""
        if not results:
            return
        now = utcnow()
        rows = [
            {
                "job_id": job.id,
                "item_key": r.item.key,
                "key_hash": key_hash(r.item.key),
                "position": r.item.position,
                "path": r.item.path,
                "state": "done" if r.ok else "error",
                "media_kind": r.media_kind,
                "error": r.error,
                "signals": signals_json(r.signals) if r.matches else [],
                "matches": [match_json(m) for m in r.matches],
                "match_count": len(r.matches),
                "routed": not r.matches,
                "case_uuid": None,
                "created_at": now,
            }
            for r in results
        ]
        with self.db.write() as conn:
            conn.execute(scan_items.insert(), rows)
            if job.keep_signals:
                keep(conn, job.org, [r for r in results if r.ok], now, min_quality)
            conn.execute(scan_jobs.update().where(scan_jobs.c.id == job.id).values(updated_at=now))

    def unrouted(self, job: ScanJob, page: int = 500) -> Iterator[JournalItem]:
        """Items with matches not yet routed to review, in pages."""
        after = 0
        while True:
            q = (
                sa.select(scan_items)
                .where(
                    scan_items.c.job_id == job.id,
                    scan_items.c.routed.is_(False),
                    scan_items.c.id > after,
                )
                .order_by(scan_items.c.id)
                .limit(page)
            )
            with self.db.read() as conn:
                rows = conn.execute(q).all()
            if not rows:
                return
            for r in rows:
                yield _journal_item(r)
            after = int(rows[-1].id)

    def mark_routed(self, job: ScanJob, key: str, case_uuid: str | None) -> None:
        """Note that an item's matches were routed (and the case they opened or joined)."""
        with self.db.write() as conn:
            conn.execute(
                scan_items.update()
                .where(scan_items.c.job_id == job.id, scan_items.c.key_hash == key_hash(key))
                .values(routed=True, case_uuid=case_uuid)
            )

    def finish(self, job: ScanJob) -> None:
        """Mark the job finished (a later scan of the source starts afresh)."""
        now = utcnow()
        with self.db.write() as conn:
            conn.execute(
                scan_jobs.update()
                .where(scan_jobs.c.id == job.id)
                .values(state="finished", finished_at=now, updated_at=now)
            )

    def summary(self, job: ScanJob) -> JobSummary:
        """Counts of the job's items."""
        c = scan_items.c
        q = sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(sa.case((c.state == "error", 1), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(sa.case((c.match_count > 0, 1), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(sa.case((c.case_uuid.is_not(None), 1), else_=0)), 0),
        ).where(c.job_id == job.id)
        with self.db.read() as conn:
            n, failed, matched, routed = conn.execute(q).one()
        return JobSummary(int(n), int(failed), int(matched), int(routed))

    def items(
        self, job: ScanJob, *, errors_only: bool = False, matched_only: bool = False
    ) -> Iterator[JournalItem]:
        """The job's recorded items in source order (failed or matched ones only, if asked)."""
        after: tuple[int, int] = (-1, 0)
        while True:
            q = sa.select(scan_items).where(
                scan_items.c.job_id == job.id,
                sa.tuple_(scan_items.c.position, scan_items.c.id) > sa.tuple_(*after),
            )
            if errors_only:
                q = q.where(scan_items.c.state == "error")
            if matched_only:
                q = q.where(scan_items.c.match_count > 0)
            q = q.order_by(scan_items.c.position, scan_items.c.id).limit(1000)
            with self.db.read() as conn:
                rows = conn.execute(q).all()
            if not rows:
                return
            yield from (_journal_item(r) for r in rows)
            after = (int(rows[-1].position), int(rows[-1].id))

    def job_times(self, job: ScanJob) -> tuple[str, str | None]:
        """When the job started and finished (ISO 8601)."""
        with self.db.read() as conn:
            r = conn.execute(sa.select(scan_jobs).where(scan_jobs.c.id == job.id)).one()
        finished = as_utc(r.finished_at).isoformat() if r.finished_at else None
        return as_utc(r.created_at).isoformat(), finished


def _journal_item(r: Any) -> JournalItem:
    return JournalItem(
        key=r.item_key,
        key_hash=r.key_hash,
        position=int(r.position),
        path=r.path,
        state=r.state,
        media_kind=r.media_kind,
        error=r.error,
        signals=list(r.signals),
        matches=list(r.matches),
        case_uuid=r.case_uuid,
    )


def keep(
    conn: Connection,
    org: str,
    results: Sequence[ItemResult],
    now: datetime,
    min_quality: int = 0,
) -> None:
    """Keep the usable signals of hashed content for retro-hunt (one kept before stays as is)."""
    rows = [
        {
            "org": org,
            "content_ref": r.item.key,
            "content_key": key_hash(r.item.key),
            "media_kind": r.media_kind or "file",
            "signal_type": s.type,
            "value": s.value,
            "value_key": value_key(s.value),
            "quality": s.quality,
            "matched_through": r.matched_through,
            "created_at": now,
        }
        for r in results
        for s in dict.fromkeys(split_by_quality(r.signals, min_quality)[0])
    ]
    if not rows:
        return
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(dialect.insert(kept_signals).on_conflict_do_nothing(), rows)
