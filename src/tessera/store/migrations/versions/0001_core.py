"""The core: banks, entries, signals and the change log.

Revision ID: 0001_core
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_core"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "banks",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("owner_org", sa.String(200), nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("inclusion_criterion", sa.Text, nullable=False),
        sa.Column("distribution", sa.String(100), nullable=False),
        sa.Column("thresholds", sa.JSON, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_banks"),
        sa.UniqueConstraint("uuid", name="uq_banks_uuid"),
        sa.UniqueConstraint("name", name="uq_banks_name"),
    )
    op.create_table(
        "entries",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("bank_id", BigId, nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
        sa.Column("inclusion_criterion", sa.Text, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_entries"),
        sa.UniqueConstraint("uuid", name="uq_entries_uuid"),
        sa.ForeignKeyConstraint(
            ["bank_id"], ["banks.id"], name="fk_entries_bank_id_banks", ondelete="CASCADE"
        ),
        sa.CheckConstraint("status IN ('active', 'disputed', 'retired')", name="ck_entries_status"),
    )
    op.create_index("ix_entries_bank_id", "entries", ["bank_id"])
    op.create_table(
        "signals",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("entry_id", BigId, nullable=False),
        sa.Column("bank_id", BigId, nullable=False),
        sa.Column("signal_type", sa.String(50), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("quality", sa.Integer, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_signals"),
        sa.UniqueConstraint(
            "entry_id", "signal_type", "value", name="uq_signals_entry_id_signal_type_value"
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["entries.id"], name="fk_signals_entry_id_entries", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["bank_id"], ["banks.id"], name="fk_signals_bank_id_banks", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_signals_entry_id", "signals", ["entry_id"])
    op.create_index("ix_signals_bank_id", "signals", ["bank_id"])
    op.create_index("ix_signals_type_value", "signals", ["signal_type", "value"])
    op.create_table(
        "changes",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("bank_uuid", sa.String(36), nullable=False),
        sa.Column("entry_uuid", sa.String(36), nullable=True),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_changes"),
        sqlite_autoincrement=True,
    )


def downgrade() -> None:
    op.drop_table("changes")
    op.drop_index("ix_signals_type_value", "signals")
    op.drop_index("ix_signals_bank_id", "signals")
    op.drop_index("ix_signals_entry_id", "signals")
    op.drop_table("signals")
    op.drop_index("ix_entries_bank_id", "entries")
    op.drop_table("entries")
    op.drop_table("banks")
