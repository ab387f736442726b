"""Scan: back-scan jobs and their journal, kept signals for retro-hunt, retro-hunt cursors.

The tables are defined here as they were at this revision (a frozen copy, not an import of the
live model), so later changes to the model never rewrite history.

Revision ID: 0006_scan
Revises: 0005_review
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_scan"
down_revision = "0005_review"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Timestamp = sa.DateTime(timezone=True)
metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

JOB_STATES = ("running", "finished")
ITEM_STATES = ("done", "error")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


scan_jobs = sa.Table(
    "scan_jobs",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("uuid", sa.String(36), nullable=False, unique=True),
    sa.Column("org", sa.String(200), nullable=False),
    # What was scanned: "folder:<absolute path>" or "manifest:<absolute path>".
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("source_key", sa.String(64), nullable=False),
    sa.Column("keep_signals", sa.Boolean, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Column("finished_at", Timestamp, nullable=True),
    sa.Index("ix_scan_jobs_org_source_key", "org", "source_key"),
    sa.CheckConstraint(_in("state", JOB_STATES), name="state"),
)

scan_items = sa.Table(
    "scan_items",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("job_id", BigId, sa.ForeignKey("scan_jobs.id", ondelete="CASCADE"), nullable=False),
    # The organisation's content id (a folder's relative path), or "#line N" for a bad line.
    sa.Column("item_key", sa.Text, nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False),
    # The item's place in the source (manifest line; folder order) when it was scanned.
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("media_kind", sa.String(20), nullable=True),
    sa.Column("error", sa.Text, nullable=True),
    # For an item that matched: its signals [{"type", "value", "quality"}] and matches (Match
    # fields), to route them again after a kill; empty lists otherwise.
    sa.Column("signals", sa.JSON, nullable=False),
    sa.Column("matches", sa.JSON, nullable=False),
    sa.Column("match_count", sa.Integer, nullable=False),
    sa.Column("routed", sa.Boolean, nullable=False),
    sa.Column("case_uuid", sa.String(36), nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("job_id", "key_hash"),
    sa.Index("ix_scan_items_job_id_routed", "job_id", "routed"),
    sa.CheckConstraint(_in("state", ITEM_STATES), name="state"),
)

kept_signals = sa.Table(
    "kept_signals",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("org", sa.String(200), nullable=False),
    sa.Column("content_ref", sa.Text, nullable=False),
    sa.Column("content_key", sa.String(64), nullable=False),
    sa.Column("media_kind", sa.String(20), nullable=False),
    sa.Column("signal_type", sa.String(50), nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("value_key", sa.String(64), nullable=False),
    sa.Column("quality", sa.Integer, nullable=True),
    # The change-log seq the scan had matched this signal against: retro-hunt covers later ones.
    sa.Column("matched_through", sa.BigInteger, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    # Also serves look-ups of one piece of content by (org, content_key), its leading columns.
    sa.UniqueConstraint("org", "content_key", "signal_type", "value_key"),
)

retro_cursors = sa.Table(
    "retro_cursors",
    metadata,
    sa.Column("name", sa.String(100), primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    # The newest kept signal the hunter had indexed (newer ones are hunted back to their scan).
    sa.Column("kept_id", sa.BigInteger, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

TABLES = [scan_jobs, scan_items, kept_signals, retro_cursors]


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=TABLES)


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=TABLES)
