"""Peers this node pulls from, the banks mirrored from them, and an index for per-bank replays.

- ``peers``: name, base URL, the token this node presents to the peer (stored for outgoing use;
  it is the peer's secret, not one of ours), the peer's node uuid once known, the pull cursor
  (the peer's change-log position applied here), the push cursor (this node's change-log position
  up to which opinions were carried back), and the last sync's time and error;
- ``mirrors``: which peer each mirrored bank (a read-only copy, keyed by its origin uuid) came from;
- ``ix_changes_bank_uuid``: the change feed replays one bank's history when access is granted.

Revision ID: 0004_peers
Revises: 0003_orgs
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_peers"
down_revision = "0003_orgs"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "peers",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("token", sa.Text, nullable=False),
        sa.Column("remote_node", sa.String(36), nullable=True),
        sa.Column("cursor", sa.BigInteger, nullable=False),
        sa.Column("push_cursor", sa.BigInteger, nullable=False),
        sa.Column("last_sync", Timestamp, nullable=True),
        sa.Column("last_error", sa.Text, nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_peers"),
        sa.UniqueConstraint("name", name="uq_peers_name"),
    )
    op.create_table(
        "mirrors",
        sa.Column("bank_uuid", sa.String(36), nullable=False),
        sa.Column("peer", sa.String(200), nullable=False),
        sa.Column("origin_node", sa.String(36), nullable=False),
        sa.Column("remote_name", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("bank_uuid", name="pk_mirrors"),
    )
    op.create_index("ix_mirrors_peer", "mirrors", ["peer"])
    op.create_index("ix_changes_bank_uuid", "changes", ["bank_uuid", "seq"])


def downgrade() -> None:
    op.drop_index("ix_changes_bank_uuid", table_name="changes")
    op.drop_index("ix_mirrors_peer", table_name="mirrors")
    op.drop_table("mirrors")
    op.drop_table("peers")
