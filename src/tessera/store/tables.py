"""The store's tables (SQLAlchemy Core). The schema itself is created only by Alembic migrations.

Four tables carry the core:

- ``banks``: a named collection owned by one organisation, with labels, an inclusion criterion, a
  distribution level and per-signal-type match thresholds.
- ``entries``: one known item in a bank, with its provenance and status.
- ``signals``: the hashes of an entry (one row per signal type and value).
- ``changes``: the append-only change log. Every write to a bank appends here in the same
  transaction; ``seq`` only grows, and the writer protocol in ``store.db`` makes commits visible
  in ``seq`` order, so a reader that remembers "after n" never skips a change.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

# A 64-bit key on PostgreSQL, SQLite's rowid alias (INTEGER PRIMARY KEY) there.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)

banks = sa.Table(
    "banks",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("uuid", sa.String(36), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=False, default=""),
    sa.Column("owner_org", sa.String(200), nullable=False),
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("inclusion_criterion", sa.Text, nullable=False, default=""),
    sa.Column("distribution", sa.String(100), nullable=False, default="owner"),
    sa.Column("thresholds", sa.JSON, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False, default=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

entries = sa.Table(
    "entries",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("uuid", sa.String(36), nullable=False, unique=True),
    sa.Column(
        "bank_id", BigId, sa.ForeignKey("banks.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("inclusion_criterion", sa.Text, nullable=False, default=""),
    sa.Column("status", sa.String(20), nullable=False, default="active"),
    sa.Column("created_by", sa.String(200), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("source", sa.Text, nullable=False, default=""),
    sa.Column("note", sa.Text, nullable=False, default=""),
    sa.CheckConstraint("status IN ('active', 'disputed', 'retired')", name="status"),
)

signals = sa.Table(
    "signals",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "entry_id",
        BigId,
        sa.ForeignKey("entries.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column(
        "bank_id", BigId, sa.ForeignKey("banks.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    sa.Column("signal_type", sa.String(50), nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("quality", sa.Integer, nullable=True),
    sa.UniqueConstraint("entry_id", "signal_type", "value"),
    sa.Index("ix_signals_type_value", "signal_type", "value"),
)

changes = sa.Table(
    "changes",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("bank_uuid", sa.String(36), nullable=False),
    sa.Column("entry_uuid", sa.String(36), nullable=True),
    sa.Column("payload", sa.JSON, nullable=False),
    sqlite_autoincrement=True,
)
