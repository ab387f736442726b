"""Organisations, tokens, sharing groups, opinions, entry provenance and the node's identity.

- ``node``: one row, this node's uuid (generated here, once), recorded as the origin of what is
  created on this node;
- ``orgs`` (name, tier), ``tokens`` (lookup prefix + SHA-256 of the secret, scopes, revocation),
  ``sharing_groups`` and ``sharing_group_members``;
- ``opinions`` (one current verdict per organisation per entry) and ``opinion_history`` (every
  verdict ever given);
- ``banks.origin_node`` and ``entries.origin_node/origin_org/origin_uuid`` (backfilled with this
  node's identity), and ``entries.disputed``: whether a current opinion disputes the entry.

Revision ID: 0003_orgs
Revises: 0002_signal_value_key
Create Date: 2026-11-23
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from alembic import op

revision = "0003_orgs"
down_revision = "0002_signal_value_key"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "node",
        sa.Column("id", sa.Integer, nullable=False),
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_node"),
    )
    node_uuid = str(uuid.uuid4())
    op.execute(
        sa.text(
            "INSERT INTO node (id, uuid, created_at) VALUES (1, :n, CURRENT_TIMESTAMP)"
        ).bindparams(n=node_uuid)
    )

    op.create_table(
        "orgs",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("tier", sa.String(20), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_orgs"),
        sa.UniqueConstraint("name", name="uq_orgs_name"),
        sa.CheckConstraint(
            "tier IN ('coordinator', 'member', 'observer', 'partner')", name="ck_orgs_tier"
        ),
    )
    op.create_table(
        "tokens",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("org_id", BigId, nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False),
        sa.Column("scopes", sa.JSON, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("revoked_at", Timestamp, nullable=True),
        sa.Column("last_used_at", Timestamp, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_tokens"),
        sa.UniqueConstraint("prefix", name="uq_tokens_prefix"),
        sa.ForeignKeyConstraint(
            ["org_id"], ["orgs.id"], name="fk_tokens_org_id_orgs", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_tokens_org_id", "tokens", ["org_id"])
    op.create_table(
        "sharing_groups",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_sharing_groups"),
        sa.UniqueConstraint("name", name="uq_sharing_groups_name"),
    )
    op.create_table(
        "sharing_group_members",
        sa.Column("group_id", BigId, nullable=False),
        sa.Column("org_id", BigId, nullable=False),
        sa.PrimaryKeyConstraint("group_id", "org_id", name="pk_sharing_group_members"),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["sharing_groups.id"],
            name="fk_sharing_group_members_group_id_sharing_groups",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["orgs.id"],
            name="fk_sharing_group_members_org_id_orgs",
            ondelete="CASCADE",
        ),
    )
    verdicts = "verdict IN ('confirmed', 'false_positive', 'disputed')"
    op.create_table(
        "opinions",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("entry_id", BigId, nullable=False),
        sa.Column("org", sa.String(200), nullable=False),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("origin_node", sa.String(36), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_opinions"),
        sa.UniqueConstraint("entry_id", "org", name="uq_opinions_entry_id_org"),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["entries.id"], name="fk_opinions_entry_id_entries", ondelete="CASCADE"
        ),
        sa.CheckConstraint(verdicts, name="ck_opinions_verdict"),
    )
    op.create_table(
        "opinion_history",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("entry_id", BigId, nullable=False),
        sa.Column("org", sa.String(200), nullable=False),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("origin_node", sa.String(36), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_opinion_history"),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["entries.id"],
            name="fk_opinion_history_entry_id_entries",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(verdicts, name="ck_opinion_history_verdict"),
    )
    op.create_index("ix_opinion_history_entry_id", "opinion_history", ["entry_id"])

    # Plain ADD COLUMN (with a default, then backfilled): SQLite's batch mode would recreate the
    # tables, and dropping the old ``entries`` would cascade-delete every signal.
    empty = sa.text("''")
    op.add_column(
        "banks", sa.Column("origin_node", sa.String(36), nullable=False, server_default=empty)
    )
    op.add_column(
        "entries", sa.Column("origin_node", sa.String(36), nullable=False, server_default=empty)
    )
    op.add_column(
        "entries", sa.Column("origin_org", sa.String(200), nullable=False, server_default=empty)
    )
    op.add_column(
        "entries", sa.Column("origin_uuid", sa.String(36), nullable=False, server_default=empty)
    )
    op.add_column(
        "entries", sa.Column("disputed", sa.Boolean, nullable=False, server_default=sa.false())
    )
    op.execute(sa.text("UPDATE banks SET origin_node = :n").bindparams(n=node_uuid))
    op.execute(
        sa.text(
            "UPDATE entries SET origin_node = :n, origin_org = created_by, origin_uuid = uuid"
        ).bindparams(n=node_uuid)
    )
    op.create_index("ix_entries_origin_uuid", "entries", ["origin_uuid"])


def downgrade() -> None:
    op.drop_index("ix_entries_origin_uuid", "entries")
    for column in ("disputed", "origin_uuid", "origin_org", "origin_node"):
        op.drop_column("entries", column)
    op.drop_column("banks", "origin_node")
    op.drop_index("ix_opinion_history_entry_id", "opinion_history")
    op.drop_table("opinion_history")
    op.drop_table("opinions")
    op.drop_table("sharing_group_members")
    op.drop_table("sharing_groups")
    op.drop_index("ix_tokens_org_id", "tokens")
    op.drop_table("tokens")
    op.drop_table("orgs")
    op.drop_table("node")
