"""Lean indexes: two indexes every entry insert paid for and no query used.

- ``ix_signals_entry_id``: the unique ``(entry_id, signal_type, value_key)`` index starts with
  ``entry_id``, so it already finds an entry's signals (and serves the cascade on delete);
- ``ix_entries_origin_uuid``: no query looks entries up by their origin uuid (a mirrored entry
  keeps its origin's uuid as its own, which ``uq_entries_uuid`` indexes). A random key, it cost a
  b-tree insert at a random place per entry: a tenth of a large sync's write time.

Revision ID: 0007_lean_indexes
Revises: 0006_scan
Create Date: 2026-12-04
"""

from __future__ import annotations

from alembic import op

revision = "0007_lean_indexes"
down_revision = "0006_scan"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_signals_entry_id", "signals")
    op.drop_index("ix_entries_origin_uuid", "entries")


def downgrade() -> None:
    op.create_index("ix_entries_origin_uuid", "entries", ["origin_uuid"])
    op.create_index("ix_signals_entry_id", "signals", ["entry_id"])
