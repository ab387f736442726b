"""Review: match policies, cases (matches, notes, kept media), removal orders, complaints,
webhooks and actions, the hash-chained audit log, and incidents.

The tables are defined here as they were at this revision (a frozen copy, not an import of the
live model), so later changes to the model never rewrite history.

Revision ID: 0005_review
Revises: 0004_peers
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_review"
down_revision = "0004_peers"
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


MATCH_MODES = ("review", "auto_action", "log_only", "allow_list")
CASE_STATES = ("open", "decided", "actioned", "reopened", "restored")
DECISIONS = ("violating", "not_violating", "escalate", "exempt")
EXEMPTIONS = ("documentation", "news_reporting", "counter_speech", "research")
ACTION_KINDS = ("remove", "restrict", "restore", "preserve")
ACTION_STATES = ("pending", "delivered", "dead", "shadow")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


match_policies = sa.Table(
    "match_policies",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("org", sa.String(200), nullable=False),
    sa.Column("bank_uuid", sa.String(36), nullable=False),
    sa.Column("mode", sa.String(20), nullable=False),
    # Share of matching content auto_action acts on (the rest goes to review), 0..1.
    sa.Column("rollout", sa.Float, nullable=False),
    # auto_action in shadow: record the action it would have taken, take none, open a case.
    sa.Column("shadow", sa.Boolean, nullable=False),
    sa.Column("action", sa.String(20), nullable=False),
    sa.Column("updated_by", sa.String(200), nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.UniqueConstraint("org", "bank_uuid"),
    sa.CheckConstraint(_in("mode", MATCH_MODES), name="mode"),
    sa.CheckConstraint(_in("action", ACTION_KINDS), name="action"),
)

cases = sa.Table(
    "cases",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("uuid", sa.String(36), nullable=False, unique=True),
    sa.Column("org", sa.String(200), nullable=False),
    # The organisation's own id of the content (a URL, a storage key): never a person.
    sa.Column("content_ref", sa.Text, nullable=False),
    sa.Column("media_kind", sa.String(20), nullable=False),
    # The content's signals as hashed: [{"type": ..., "value": ...}].
    sa.Column("signals", sa.JSON, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    # How the case came about: match, removal_order, scan, retro_hunt.
    sa.Column("source", sa.String(20), nullable=False),
    sa.Column("assignee", sa.String(200), nullable=True),
    sa.Column("deadline", Timestamp, nullable=True),
    sa.Column("decision", sa.String(20), nullable=True),
    sa.Column("exemption", sa.String(30), nullable=True),
    sa.Column("decided_by", sa.String(200), nullable=True),
    sa.Column("decided_at", Timestamp, nullable=True),
    # The reviewer chose not to send the decision's opinion to the banks' owners.
    sa.Column("withhold_feedback", sa.Boolean, nullable=False),
    # For the DSA statement of reasons: was the content found, and was it decided, by machine?
    sa.Column("automated_detection", sa.Boolean, nullable=False),
    sa.Column("automated_decision", sa.Boolean, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sa.Index("ix_cases_org_state", "org", "state"),
    sa.Index("ix_cases_org_content_ref", "org", "content_ref"),
    sa.CheckConstraint(_in("state", CASE_STATES), name="state"),
    sa.CheckConstraint(f"decision IS NULL OR {_in('decision', DECISIONS)}", name="decision"),
    sa.CheckConstraint(f"exemption IS NULL OR {_in('exemption', EXEMPTIONS)}", name="exemption"),
)

case_matches = sa.Table(
    "case_matches",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "case_id", BigId, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    sa.Column("bank_uuid", sa.String(36), nullable=False),
    sa.Column("bank_name", sa.String(200), nullable=False),
    sa.Column("entry_uuid", sa.String(36), nullable=False),
    sa.Column("signal_type", sa.String(50), nullable=False),
    sa.Column("distance", sa.Integer, nullable=False),
    sa.Column("threshold", sa.Integer, nullable=False),
    sa.Column("labels", sa.JSON, nullable=False),
    # The policy mode that routed the match (review, auto_action, log_only).
    sa.Column("policy", sa.String(20), nullable=False),
    sa.Column("detail", sa.JSON, nullable=True),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.UniqueConstraint("case_id", "entry_uuid", "signal_type"),
)

case_notes = sa.Table(
    "case_notes",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "case_id", BigId, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    sa.Column("author", sa.String(200), nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
)

case_media = sa.Table(
    "case_media",
    metadata,
    sa.Column("case_id", BigId, sa.ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("mime", sa.String(100), nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("expires_at", Timestamp, nullable=False, index=True),
)

removal_orders = sa.Table(
    "removal_orders",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("uuid", sa.String(36), nullable=False, unique=True),
    # The organisation the order is addressed to (the hosting service provider).
    sa.Column("org", sa.String(200), nullable=False),
    sa.Column("authority", sa.String(200), nullable=False),
    sa.Column("legal_reference", sa.Text, nullable=False),
    sa.Column("content_ref", sa.Text, nullable=False),
    sa.Column("received_at", Timestamp, nullable=False),
    sa.Column("deadline", Timestamp, nullable=False),
    sa.Column("case_id", BigId, sa.ForeignKey("cases.id", ondelete="SET NULL"), nullable=True),
    # open, actioned, not_actioned (with the reason: TCO Art. 3(7)/(8) and the report ask why).
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("action", sa.String(20), nullable=True),
    sa.Column("actioned_at", Timestamp, nullable=True),
    sa.Column("not_actioned_reason", sa.Text, nullable=True),
    sa.Column("uploader_informed", sa.Boolean, nullable=False),
    sa.Column("informed_at", Timestamp, nullable=True),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Index("ix_removal_orders_org_state", "org", "state"),
    sa.CheckConstraint(_in("state", ("open", "actioned", "not_actioned")), name="state"),
)

complaints = sa.Table(
    "complaints",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("uuid", sa.String(36), nullable=False, unique=True),
    sa.Column(
        "case_id", BigId, sa.ForeignKey("cases.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    sa.Column("org", sa.String(200), nullable=False),
    sa.Column("received_at", Timestamp, nullable=False),
    sa.Column("deadline", Timestamp, nullable=False),
    # What the complaint says about the content; never who sent it.
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("decided_by", sa.String(200), nullable=True),
    sa.Column("decided_at", Timestamp, nullable=True),
    sa.Column("outcome_note", sa.Text, nullable=False),
    sa.CheckConstraint(_in("state", ("open", "upheld", "rejected")), name="state"),
)

webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("org", sa.String(200), nullable=False, unique=True),
    sa.Column("url", sa.Text, nullable=False),
    # The HMAC key the receiver checks signatures with; shown once when set.
    sa.Column("secret", sa.String(200), nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
)

actions = sa.Table(
    "actions",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    # The idempotency key the receiver sees: a retried delivery carries the same one.
    sa.Column("uuid", sa.String(36), nullable=False, unique=True),
    sa.Column("org", sa.String(200), nullable=False),
    sa.Column("case_id", BigId, sa.ForeignKey("cases.id", ondelete="SET NULL"), nullable=True),
    # remove, restrict, restore, preserve; or an event (incident.declared) for the org's endpoint.
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("content_ref", sa.Text, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("automated", sa.Boolean, nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", Timestamp, nullable=True, index=True),
    sa.Column("last_error", sa.Text, nullable=False),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("delivered_at", Timestamp, nullable=True),
    sa.Index("ix_actions_org_state", "org", "state"),
    sa.CheckConstraint(_in("state", ACTION_STATES), name="state"),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("seq", BigId, primary_key=True, autoincrement=True),
    sa.Column("created_at", Timestamp, nullable=False),
    # The organisation acting (or "node" for the node itself) and the token or process it used.
    sa.Column("org", sa.String(200), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(60), nullable=False),
    # What was acted on: "case:<uuid>", "bank:<name>", "token:<prefix>", ...
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("detail", sa.JSON, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.Index("ix_audit_log_subject", "subject"),
    sqlite_autoincrement=True,
)

# The newest audit row's seq and hash, written with every append: deleting the last rows of the
# chain (which a chain alone cannot show) leaves the head pointing past the end.
audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

incidents = sa.Table(
    "incidents",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("uuid", sa.String(36), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("declared_by", sa.String(200), nullable=False),
    sa.Column("bank_uuid", sa.String(36), nullable=True),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("sync_interval_s", sa.Float, nullable=False),
    sa.Column("note", sa.Text, nullable=False),
    sa.Column("declared_at", Timestamp, nullable=False),
    sa.Column("ended_at", Timestamp, nullable=True),
    sa.CheckConstraint(_in("state", ("active", "ended")), name="state"),
)

TABLES = [
    match_policies,
    cases,
    case_matches,
    case_notes,
    case_media,
    removal_orders,
    complaints,
    webhooks,
    actions,
    audit_log,
    audit_head,
    incidents,
]


def upgrade() -> None:
    metadata.create_all(op.get_bind(), tables=TABLES)


def downgrade() -> None:
    metadata.drop_all(op.get_bind(), tables=TABLES)
