"""Signals are looked up by a digest of their value, so values of any length can be stored.

Video (vPDQ frame lists) and audio fingerprints run to megabytes, over what a PostgreSQL b-tree
can index. ``value_key`` (SHA-256 of the value, hex) takes the value's place in the unique
constraint and the lookup index.

Revision ID: 0002_signal_value_key
Revises: 0001_core
Create Date: 2026-11-22
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0002_signal_value_key"
down_revision = "0001_core"
branch_labels = None
depends_on = None


def _key(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def upgrade() -> None:
    with op.batch_alter_table("signals") as batch:
        batch.add_column(sa.Column("value_key", sa.String(64), nullable=True))
    conn = op.get_bind()
    table = sa.table(
        "signals",
        sa.column("id", sa.BigInteger),
        sa.column("value", sa.Text),
        sa.column("value_key", sa.String),
    )
    rows = conn.execute(sa.select(table.c.id, table.c.value)).all()
    if rows:
        conn.execute(
            table.update().where(table.c.id == sa.bindparam("row_id")),
            [{"row_id": r.id, "value_key": _key(r.value)} for r in rows],
        )
    op.drop_index("ix_signals_type_value", "signals")
    with op.batch_alter_table("signals") as batch:
        batch.alter_column("value_key", existing_type=sa.String(64), nullable=False)
        batch.drop_constraint("uq_signals_entry_id_signal_type_value", type_="unique")
        batch.create_unique_constraint(
            "uq_signals_entry_id_signal_type_value_key", ["entry_id", "signal_type", "value_key"]
        )
    op.create_index("ix_signals_type_value_key", "signals", ["signal_type", "value_key"])


def downgrade() -> None:
    op.drop_index("ix_signals_type_value_key", "signals")
    with op.batch_alter_table("signals") as batch:
        batch.drop_constraint("uq_signals_entry_id_signal_type_value_key", type_="unique")
        batch.create_unique_constraint(
            "uq_signals_entry_id_signal_type_value", ["entry_id", "signal_type", "value"]
        )
        batch.drop_column("value_key")
    op.create_index("ix_signals_type_value", "signals", ["signal_type", "value"])
