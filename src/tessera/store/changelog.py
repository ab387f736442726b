"""The change log: append inside a write transaction, read after a cursor.

Every write to a bank appends its change in the same transaction (see ``store.db`` for why a
reader's cursor never skips a change). Followers (matcher replicas now, peers in the exchange
later) read ``changes_after(seq)`` in pages and apply them idempotently.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.store.db import as_utc, utcnow
from tessera.store.records import Change, ChangeKind
from tessera.store.tables import changes

ChangeRow = tuple[ChangeKind, str, str | None, dict[str, Any]]


def append(conn: Connection, rows: Sequence[ChangeRow]) -> None:
    """Append (kind, bank uuid, entry uuid, payload) rows inside the caller's write transaction."""
    if not rows:
        return
    now = utcnow()
    conn.execute(
        changes.insert(),
        [
            {
                "created_at": now,
                "kind": kind.value,
                "bank_uuid": bank_uuid,
                "entry_uuid": entry_uuid,
                "payload": payload,
            }
            for kind, bank_uuid, entry_uuid, payload in rows
        ],
    )


def latest_seq(conn: Connection) -> int:
    """The highest committed sequence number (0 for an empty log)."""
    return int(
        conn.execute(sa.select(sa.func.coalesce(sa.func.max(changes.c.seq), 0))).scalar_one()
    )


def changes_after(conn: Connection, after: int, limit: int) -> list[Change]:
    """Up to ``limit`` changes with ``seq > after``, oldest first."""
    rows = conn.execute(
        sa.select(changes).where(changes.c.seq > after).order_by(changes.c.seq).limit(limit)
    )
    return [
        Change(
            seq=int(r.seq),
            created_at=as_utc(r.created_at),
            kind=ChangeKind(r.kind),
            bank_uuid=r.bank_uuid,
            entry_uuid=r.entry_uuid,
            payload=dict(r.payload),
        )
        for r in rows
    ]
