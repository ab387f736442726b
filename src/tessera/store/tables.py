"""The store's tables (SQLAlchemy Core). The schema itself is created only by Alembic migrations.

Four tables carry the core:

- ``banks``: a named collection owned by one organisation, with labels, an inclusion criterion, a
  distribution level and per-signal-type match thresholds.
- ``entries``: one known item in a bank, with its provenance and status.
- ``signals``: the hashes of an entry (one row per signal type and value), looked up by
  ``value_key``, a digest of the value.
- ``node``: one row, this node's identity (a uuid made once by the migration).
- ``orgs``, ``tokens``, ``sharing_groups`` and ``sharing_group_members``: who may call this node,
  with which credentials, and which organisations share a named distribution.
- ``opinions`` (the current verdict of each organisation on an entry) and ``opinion_history``.
- ``changes``: the append-only change log. Every write to a bank appends here in the same
  transaction; ``seq`` only grows, and the writer protocol in ``store.db`` makes commits visible
  in ``seq`` order, so a reader that remembers "after n" never skips a change.
"""

from __future__ import annotations

import hashlib

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


def value_key(value: str) -> str:
    """The lookup key of a signal value: its SHA-256, hex."""
    return hashlib.sha256(value.encode()).hexdigest()


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
    # The node the bank was created on (this node's uuid unless it arrived by sync).
    sa.Column("origin_node", sa.String(36), nullable=False),
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
    # Provenance across nodes: where the entry was first created, by whom, under which uuid.
    sa.Column("origin_node", sa.String(36), nullable=False),
    sa.Column("origin_org", sa.String(200), nullable=False),
    sa.Column("origin_uuid", sa.String(36), nullable=False),
    # Whether a current opinion disputes the entry (rolled into the status entries are read with).
    sa.Column("disputed", sa.Boolean, nullable=False, default=False),
    sa.CheckConstraint("status IN ('active', 'disputed', 'retired')", name="status"),
)

signals = sa.Table(
    "signals",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    # Indexed by the unique (entry_id, signal_type, value_key) below, which starts with it.
    sa.Column("entry_id", BigId, sa.ForeignKey("entries.id", ondelete="CASCADE"), nullable=False),
    sa.Column(
        "bank_id", BigId, sa.ForeignKey("banks.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    sa.Column("signal_type", sa.String(50), nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    # SHA-256 of the value (hex): values may be megabytes, too long for a b-tree.
    sa.Column("value_key", sa.String(64), nullable=False),
    sa.Column("quality", sa.Integer, nullable=True),
    sa.UniqueConstraint("entry_id", "signal_type", "value_key"),
    sa.Index("ix_signals_type_value_key", "signal_type", "value_key"),
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
    # Replays of one bank's history (migration 0004).
    sa.Index("ix_changes_bank_uuid", "bank_uuid", "seq"),
    sqlite_autoincrement=True,
)

node = sa.Table(
    "node",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("uuid", sa.String(36), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

orgs = sa.Table(
    "orgs",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("tier", sa.String(20), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.CheckConstraint("tier IN ('coordinator', 'member', 'observer', 'partner')", name="tier"),
)

tokens = sa.Table(
    "tokens",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "org_id", BigId, sa.ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    # Public part of the token, used to find the row; the secret is stored only as a hash.
    sa.Column("prefix", sa.String(32), nullable=False, unique=True),
    sa.Column("secret_hash", sa.String(64), nullable=False),
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("note", sa.Text, nullable=False, default=""),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("revoked_at", Timestamp, nullable=True),
    sa.Column("last_used_at", Timestamp, nullable=True),
)

sharing_groups = sa.Table(
    "sharing_groups",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("created_at", Timestamp, nullable=False),
)

sharing_group_members = sa.Table(
    "sharing_group_members",
    metadata,
    sa.Column(
        "group_id",
        BigId,
        sa.ForeignKey("sharing_groups.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("org_id", BigId, sa.ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True),
)

_VERDICTS = "verdict IN ('confirmed', 'false_positive', 'disputed')"

opinions = sa.Table(
    "opinions",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("entry_id", BigId, sa.ForeignKey("entries.id", ondelete="CASCADE"), nullable=False),
    # An organisation's name, not a key: opinions arrive by sync from organisations of other nodes.
    sa.Column("org", sa.String(200), nullable=False),
    sa.Column("verdict", sa.String(20), nullable=False),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("origin_node", sa.String(36), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.UniqueConstraint("entry_id", "org"),
    sa.CheckConstraint(_VERDICTS, name="verdict"),
)

opinion_history = sa.Table(
    "opinion_history",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "entry_id",
        BigId,
        sa.ForeignKey("entries.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("org", sa.String(200), nullable=False),
    sa.Column("verdict", sa.String(20), nullable=False),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("origin_node", sa.String(36), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.CheckConstraint(_VERDICTS, name="verdict"),
)
