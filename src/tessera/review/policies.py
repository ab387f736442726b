"""Match policies: what a match in a bank does, chosen per bank by the organisation consuming it.

``review`` (the default when nothing is set) opens a case; ``auto_action`` acts at once on a
share of the content (``rollout``, 0..1) and sends the rest to review, or in ``shadow`` acts on
none and records what it would have done; ``log_only`` writes the match to the audit log and
nothing else; ``allow_list`` marks a bank of known false positives: content matching it is
neither reviewed nor acted on, whatever else it matches.

The rollout draw is deterministic per (content, bank): the same content is always on the same
side of the ratio, so resubmitting it never flips the outcome.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from tessera.errors import InputError
from tessera.review import audit
from tessera.review.records import ActionKind, MatchMode, Policy
from tessera.store.db import Database, as_utc, utcnow
from tessera.store.review_tables import match_policies


def _policy(r: Row[Any]) -> Policy:
    return Policy(
        org=r.org,
        bank_uuid=r.bank_uuid,
        mode=MatchMode(r.mode),
        rollout=float(r.rollout),
        shadow=bool(r.shadow),
        action=ActionKind(r.action),
        updated_by=r.updated_by,
        updated_at=as_utc(r.updated_at),
    )


def default_policy(org: str, bank_uuid: str) -> Policy:
    """The policy of a bank nobody chose one for: human review."""
    return Policy(org=org, bank_uuid=bank_uuid, mode=MatchMode.REVIEW)


def policies_for(conn: Connection, org: str, bank_uuids: Iterable[str]) -> dict[str, Policy]:
    """The organisation's policy for each bank (the default where none is set)."""
    wanted = sorted(set(bank_uuids))
    found: dict[str, Policy] = {}
    if wanted:
        q = sa.select(match_policies).where(
            match_policies.c.org == org, match_policies.c.bank_uuid.in_(wanted)
        )
        found = {r.bank_uuid: _policy(r) for r in conn.execute(q)}
    return {u: found.get(u) or default_policy(org, u) for u in wanted}


def get_policy(db: Database, org: str, bank_uuid: str) -> Policy:
    """The organisation's policy for one bank."""
    with db.read() as conn:
        return policies_for(conn, org, [bank_uuid])[bank_uuid]


def list_policies(db: Database, org: str) -> list[Policy]:
    """Every policy the organisation set (banks without one are on review)."""
    q = sa.select(match_policies).where(match_policies.c.org == org).order_by(match_policies.c.id)
    with db.read() as conn:
        return [_policy(r) for r in conn.execute(q)]


def set_policy(
    db: Database,
    *,
    org: str,
    bank_uuid: str,
    bank_name: str,
    mode: MatchMode,
    actor: str,
    rollout: float = 1.0,
    shadow: bool = False,
    action: ActionKind = ActionKind.REMOVE,
) -> Policy:
    """Set the organisation's policy for a bank; the change is audited."""
    if not 0.0 <= rollout <= 1.0:
        raise InputError(f"rollout must be between 0 and 1, got {rollout}")
    if mode is not MatchMode.AUTO_ACTION and (shadow or rollout != 1.0):
        raise InputError("rollout and shadow apply to the auto_action mode only")
    if action in (ActionKind.RESTORE,):
        raise InputError("a match cannot restore content: choose remove, restrict or preserve")
    values = {
        "mode": mode.value,
        "rollout": rollout,
        "shadow": shadow,
        "action": action.value,
        "updated_by": actor,
        "updated_at": utcnow(),
    }
    with db.write() as conn:
        where = (match_policies.c.org == org) & (match_policies.c.bank_uuid == bank_uuid)
        if conn.execute(match_policies.update().where(where).values(**values)).rowcount == 0:
            conn.execute(match_policies.insert().values(org=org, bank_uuid=bank_uuid, **values))
        audit.append(
            conn,
            org=org,
            actor=actor,
            kind="policy.set",
            subject=f"bank:{bank_name}",
            detail={
                "bank_uuid": bank_uuid,
                "mode": mode.value,
                "rollout": rollout,
                "shadow": shadow,
                "action": action.value,
            },
        )
        return policies_for(conn, org, [bank_uuid])[bank_uuid]


def in_rollout(policy: Policy, content_ref: str) -> bool:
    """Whether auto_action acts on this content (a stable draw against the rollout ratio)."""
    if policy.rollout >= 1.0:
        return True
    if policy.rollout <= 0.0:
        return False
    digest = hashlib.sha256(f"{policy.bank_uuid}\0{content_ref}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < policy.rollout
