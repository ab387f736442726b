"""The change log: append inside a write transaction, read after a cursor.

Every write to a bank appends its change in the same transaction (see ``store.db`` for why a
reader's cursor never skips a change). Followers (matcher replicas, peers) read
``changes_after(seq)`` in pages and apply them idempotently.

Payloads are JSON. They are encoded and decoded here with orjson, outside SQLAlchemy's JSON type
(which calls the standard library per row): the log is written and read in bulk by every sync
and every replica, so this is where JSON costs most. The stored text is ordinary JSON either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.store.db import as_utc, utcnow
from tessera.store.records import Change, ChangeKind
from tessera.store.tables import changes

ChangeRow = tuple[ChangeKind, str, str | None, dict[str, Any]]

_COLUMNS = ("created_at", "kind", "bank_uuid", "entry_uuid", "payload")
# The payload as text, whatever the backend's JSON type (PostgreSQL's driver would parse it).
_PAYLOAD_TEXT = sa.cast(changes.c.payload, sa.Text).label("payload")


def encode(payload: dict[str, Any]) -> str:
    """A payload as JSON text (non-string keys become strings, as the standard library does)."""
    return encode_value(payload)


def encode_value(value: Any) -> str:
    """Any JSON column's value as JSON text, the way ``encode`` writes payloads."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def append(conn: Connection, rows: Sequence[ChangeRow]) -> None:
    """Append (kind, bank uuid, entry uuid, payload) rows inside the caller's write transaction."""
    if not rows:
        return
    now = utcnow()
    if conn.dialect.name == "sqlite":
        stamp = changes.c.created_at.type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        when = stamp(now) if stamp is not None else now
        names = ", ".join(_COLUMNS)
        conn.exec_driver_sql(
            f"INSERT INTO changes ({names}) VALUES (?, ?, ?, ?, ?)",
            [
                (when, kind.value, bank_uuid, entry_uuid, encode(payload))
                for kind, bank_uuid, entry_uuid, payload in rows
            ],
        )
        return
    insert = changes.insert().values(
        {c: sa.bindparam(f"v_{c}") for c in _COLUMNS[:-1]}
        | {"payload": sa.cast(sa.bindparam("v_payload", type_=sa.Text), changes.c.payload.type)}
    )
    conn.execute(
        insert,
        [
            {
                "v_created_at": now,
                "v_kind": kind.value,
                "v_bank_uuid": bank_uuid,
                "v_entry_uuid": entry_uuid,
                "v_payload": encode(payload),
            }
            for kind, bank_uuid, entry_uuid, payload in rows
        ],
    )


def latest_seq(conn: Connection) -> int:
    """The highest committed sequence number (0 for an empty log)."""
    return int(
        conn.execute(sa.select(sa.func.coalesce(sa.func.max(changes.c.seq), 0))).scalar_one()
    )


def _read(conn: Connection, condition: sa.ColumnElement[bool], limit: int) -> list[Change]:
    c = changes.c
    q = (
        sa.select(c.seq, c.created_at, c.kind, c.bank_uuid, c.entry_uuid, _PAYLOAD_TEXT)
        .where(condition)
        .order_by(c.seq)
        .limit(limit)
    )
    return [
        Change(
            seq=int(r[0]),
            created_at=as_utc(r[1]),
            kind=ChangeKind(r[2]),
            bank_uuid=r[3],
            entry_uuid=r[4],
            payload=orjson.loads(r[5]),
        )
        for r in conn.execute(q)
    ]


def changes_after(conn: Connection, after: int, limit: int) -> list[Change]:
    """Up to ``limit`` changes with ``seq > after``, oldest first."""
    return _read(conn, changes.c.seq > after, limit)


def bank_changes_after(
    conn: Connection, bank_uuid: str, after: int, until: int, limit: int
) -> list[Change]:
    """Up to ``limit`` changes of one bank with ``after < seq <= until``, oldest first."""
    c = changes.c
    return _read(conn, sa.and_(c.bank_uuid == bank_uuid, c.seq > after, c.seq <= until), limit)
