"""Opinions: each organisation's current verdict on an entry, and every verdict ever given.

Setting an opinion (inside the caller's write transaction):
1. the organisation's current opinion on the entry is inserted or replaced (one per org per entry);
2. the verdict is appended to ``opinion_history`` (nothing there is ever changed);
3. the entry's ``disputed`` flag is recomputed: true while any current opinion is ``disputed``.
   The status an entry is read with rolls that flag up (``rolled_status``): a retired entry stays
   retired, otherwise a dispute shows as ``disputed`` wherever the entry travels.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from tessera.store.db import as_utc
from tessera.store.records import EntryStatus, Opinion, Verdict
from tessera.store.tables import entries, opinion_history, opinions

MAX_REASON_CHARS = 4000


def rolled_status(status: str, disputed: bool) -> EntryStatus:
    """The status an entry shows: retired wins, then any dispute, else its own status."""
    if status == EntryStatus.RETIRED.value:
        return EntryStatus.RETIRED
    if disputed:
        return EntryStatus.DISPUTED
    return EntryStatus(status)


def _opinion(r: Row[Any]) -> Opinion:
    return Opinion(
        entry_uuid=r.entry_uuid,
        org=r.org,
        verdict=Verdict(r.verdict),
        reason=r.reason,
        origin_node=r.origin_node,
        created_at=as_utc(r.created_at),
        updated_at=as_utc(r.updated_at),
    )


def upsert(
    conn: Connection,
    entry_id: int,
    org: str,
    verdict: Verdict,
    reason: str,
    origin_node: str,
    when: datetime,
) -> bool:
    """Set ``org``'s opinion of an entry; returns whether the entry's disputed flag changed."""
    where = sa.and_(opinions.c.entry_id == entry_id, opinions.c.org == org)
    values = {"verdict": verdict.value, "reason": reason, "origin_node": origin_node}
    if conn.execute(sa.select(opinions.c.id).where(where)).first() is None:
        conn.execute(
            opinions.insert(),
            {"entry_id": entry_id, "org": org, "created_at": when, "updated_at": when} | values,
        )
    else:
        conn.execute(opinions.update().where(where).values(updated_at=when, **values))
    conn.execute(
        opinion_history.insert(),
        {"entry_id": entry_id, "org": org, "created_at": when} | values,
    )
    disputed = (
        conn.execute(
            sa.select(opinions.c.id)
            .where(opinions.c.entry_id == entry_id, opinions.c.verdict == Verdict.DISPUTED.value)
            .limit(1)
        ).first()
        is not None
    )
    before = conn.execute(sa.select(entries.c.disputed).where(entries.c.id == entry_id)).scalar()
    if bool(before) == disputed:
        return False
    conn.execute(entries.update().where(entries.c.id == entry_id).values(disputed=disputed))
    return True


def current(conn: Connection, entry_id: int) -> list[Opinion]:
    """The current opinions on an entry, by organisation."""
    q = (
        sa.select(opinions, entries.c.uuid.label("entry_uuid"))
        .join(entries, entries.c.id == opinions.c.entry_id)
        .where(opinions.c.entry_id == entry_id)
        .order_by(opinions.c.org)
    )
    return [_opinion(r) for r in conn.execute(q)]


def history(conn: Connection, entry_id: int) -> list[Opinion]:
    """Every verdict given on an entry, oldest first (``updated_at`` is when it was given)."""
    q = (
        sa.select(
            opinion_history,
            entries.c.uuid.label("entry_uuid"),
            opinion_history.c.created_at.label("updated_at"),
        )
        .join(entries, entries.c.id == opinion_history.c.entry_id)
        .where(opinion_history.c.entry_id == entry_id)
        .order_by(opinion_history.c.id)
    )
    return [_opinion(r) for r in conn.execute(q)]


def counts(conn: Connection, entry_ids: Sequence[int]) -> dict[int, tuple[tuple[str, int], ...]]:
    """For each entry that has opinions: (verdict, how many current opinions), sorted."""
    found: dict[int, list[tuple[str, int]]] = {}
    for start in range(0, len(entry_ids), 5000):
        q = (
            sa.select(opinions.c.entry_id, opinions.c.verdict, sa.func.count())
            .where(opinions.c.entry_id.in_(entry_ids[start : start + 5000]))
            .group_by(opinions.c.entry_id, opinions.c.verdict)
        )
        for entry_id, verdict, n in conn.execute(q):
            found.setdefault(int(entry_id), []).append((str(verdict), int(n)))
    return {k: tuple(sorted(v)) for k, v in found.items()}
