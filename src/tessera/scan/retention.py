"""How long kept signals stay: the hashes an organisation kept of scanned content for retro-hunt.

Kept signals are hashes of content, never media, but they still say what an organisation hosted,
so they do not stay forever: ``purge_kept`` deletes those kept longer than ``kept_signal_days``
(``tessera serve`` runs it hourly), and ``forget_content`` deletes one piece of content's at once
(it was taken down, or its owner deleted it). Both leave an audit record with the count.

The retro-hunter selects its hits' rows by id, so a deleted row stops matching at once; its
in-memory index keeps the dead ids until the next start.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from tessera.errors import InputError
from tessera.review import audit
from tessera.scan.checkpoint import key_hash
from tessera.settings import Settings
from tessera.store.db import utcnow
from tessera.store.repository import Store
from tessera.store.scan_tables import kept_signals

MAX_REF_CHARS = 2000
"""The longest content reference ``forget_content`` accepts."""


def purge_kept(store: Store, settings: Settings, now: datetime | None = None) -> int:
    """Delete signals kept longer than ``kept_signal_days`` (0: keep until forgotten); how many."""
    if settings.kept_signal_days == 0:
        return 0
    cutoff = (now or utcnow()) - timedelta(days=settings.kept_signal_days)
    c = kept_signals.c
    with store.db.write() as conn:
        per_org = conn.execute(
            sa.select(c.org, sa.func.count()).where(c.created_at < cutoff).group_by(c.org)
        ).all()
        if not per_org:
            return 0
        conn.execute(kept_signals.delete().where(c.created_at < cutoff))
        for org, count in per_org:
            audit.append(
                conn,
                org=org,
                actor="node",
                kind="kept_signals.purged",
                subject=f"org:{org}",
                detail={"count": int(count), "kept_before": cutoff.isoformat()},
            )
    return sum(int(count) for _org, count in per_org)


def forget_content(store: Store, *, org: str, content_ref: str, actor: str) -> int:
    """Delete every signal ``org`` kept of one piece of content; how many (0 if none)."""
    if not content_ref.strip() or len(content_ref) > MAX_REF_CHARS:
        raise InputError(f"a content reference is 1-{MAX_REF_CHARS} characters")
    c = kept_signals.c
    where = sa.and_(c.org == org, c.content_key == key_hash(content_ref))
    with store.db.write() as conn:
        count = int(conn.execute(kept_signals.delete().where(where)).rowcount or 0)
        if count:
            audit.append(
                conn,
                org=org,
                actor=actor,
                kind="kept_signals.forgotten",
                subject=f"content:{key_hash(content_ref)}",
                detail={"count": count},
            )
    return count
