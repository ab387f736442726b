"""Actions: what a decision asks the organisation's own platform to do, queued for its webhook.

An action is one webhook delivery to the organisation's endpoint: a content action (``remove``,
``restrict``, ``restore``, ``preserve`` a piece of content named by the organisation's own
content reference) or an event (``incident.declared``, ...). Its uuid is the idempotency key the
receiver sees on every attempt. The flow:

1. ``enqueue`` records the action inside the caller's write transaction (a decision and its
   actions commit together), audited as ``action.queued``. A shadow action (auto_action in shadow
   mode) is recorded in state ``shadow`` and never delivered;
2. ``review.delivery`` claims due ``pending`` actions of organisations with an enabled endpoint,
   signs and POSTs them, and records the outcome: ``delivered``, or a failed attempt retried with
   backoff, or ``dead`` after ``webhook_max_attempts`` (or at once on an answer that a retry
   cannot change);
3. the dead-letter list (``dead_letters``) is shown on the pages; ``retry`` puts a dead action
   back to ``pending`` with its attempts reset.

An organisation without an enabled endpoint keeps its actions ``pending`` (their ``last_error``
says they wait for one): nothing is lost, and they go out once ``set_webhook`` gives one.

One endpoint per organisation (``set_webhook``); its secret is the HMAC key of the signatures,
returned once when set. Every state change is written to the audit log.
"""

from __future__ import annotations

import re
import secrets
import uuid as uuidlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from tessera.errors import Conflict, InputError, NotFound
from tessera.review import audit
from tessera.review.records import ActionKind, ActionState
from tessera.store.db import Database, as_utc, utcnow
from tessera.store.review_tables import actions, cases, webhooks
from tessera.store.tables import orgs

EVENT_KIND = re.compile(r"^[a-z][a-z_]{0,18}\.[a-z][a-z_]{0,18}$")
"""An event's kind: ``<subject>.<what happened>``, e.g. ``incident.declared``."""
NO_ENDPOINT = "waiting for a webhook endpoint: none is set or it is disabled"
MAX_URL = 2000
MAX_CONTENT_REF = 4000
_NODE = "node"


@dataclass(frozen=True, slots=True)
class Webhook:
    """An organisation's endpoint (its secret is never part of it: it is shown once, when set)."""

    org: str
    url: str
    enabled: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Action:
    """One webhook delivery: what to do with which content, and how its delivery goes."""

    uuid: str
    org: str
    kind: str
    content_ref: str
    case_uuid: str | None
    payload: dict[str, Any]
    automated: bool
    state: ActionState
    attempts: int
    next_attempt_at: datetime | None
    last_error: str
    created_at: datetime
    delivered_at: datetime | None

    def body(self) -> dict[str, Any]:
        """The JSON body its webhook carries: content and decision only, never a person."""
        return {
            "id": self.uuid,
            "kind": self.kind,
            "content_ref": self.content_ref,
            "case": self.case_uuid,
            "automated": self.automated,
            "created_at": self.created_at.isoformat(timespec="microseconds"),
            "payload": self.payload,
        }

    def as_json(self) -> dict[str, Any]:
        """Everything about it, JSON-native (for ``--json`` and the pages)."""
        return self.body() | {
            "org": self.org,
            "state": self.state.value,
            "attempts": self.attempts,
            "next_attempt_at": _iso(self.next_attempt_at),
            "last_error": self.last_error,
            "delivered_at": _iso(self.delivered_at),
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def check_kind(kind: str) -> str:
    """``kind`` if it is a content action or an event kind; InputError otherwise."""
    if kind in {k.value for k in ActionKind} or EVENT_KIND.match(kind):
        return kind
    actions_named = ", ".join(k.value for k in ActionKind)
    raise InputError(f"unknown action {kind!r}: use {actions_named}, or an event like x.happened")


def check_url(url: str) -> str:
    """``url`` if it is an http(s) URL with a host and no credentials; InputError otherwise."""
    url = url.strip()
    if not url or len(url) > MAX_URL:
        raise InputError(f"a webhook URL must be 1-{MAX_URL} characters")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as e:
        raise InputError(f"not a URL: {url[:200]!r} ({e})") from None
    if parsed.scheme not in ("http", "https"):
        raise InputError(f"a webhook URL must be http or https, not {parsed.scheme or 'none'!r}")
    if not parsed.host:
        raise InputError(f"the webhook URL {url[:200]!r} has no host")
    if parsed.userinfo:
        raise InputError("a webhook URL may not carry a user name or password")
    return url


# -- endpoints -----------------------------------------------------------------------------------


def _webhook(r: Row[Any]) -> Webhook:
    return Webhook(r.org, r.url, bool(r.enabled), as_utc(r.created_at), as_utc(r.updated_at))


def set_webhook(db: Database, org: str, url: str, *, actor: str = _NODE) -> str:
    """Set (or replace) ``org``'s endpoint with a new secret, enabled; returns the secret."""
    url = check_url(url)
    secret = "whsec_" + secrets.token_urlsafe(32)
    now = utcnow()
    with db.write() as conn:
        if conn.execute(sa.select(orgs.c.name).where(orgs.c.name == org)).first() is None:
            raise NotFound(f"no organisation named {org!r}")
        values = {"url": url, "secret": secret, "enabled": True, "updated_at": now}
        done = conn.execute(webhooks.update().where(webhooks.c.org == org).values(**values))
        if done.rowcount == 0:
            conn.execute(webhooks.insert().values(org=org, created_at=now, **values))
        subject = f"webhook:{org}"
        detail = {"url": url}
        audit.append(conn, org=org, actor=actor, kind="webhook.set", subject=subject, detail=detail)
    return secret


def get_webhook(db: Database, org: str) -> Webhook | None:
    """``org``'s endpoint, or None when it has none."""
    with db.read() as conn:
        row = conn.execute(sa.select(webhooks).where(webhooks.c.org == org)).first()
    return _webhook(row) if row is not None else None


def disable_webhook(db: Database, org: str, *, actor: str = _NODE) -> Webhook:
    """Stop deliveries to ``org``'s endpoint (its actions wait, pending); NotFound without one."""
    with db.write() as conn:
        done = conn.execute(
            webhooks.update()
            .where(webhooks.c.org == org)
            .values(enabled=False, updated_at=utcnow())
        )
        if done.rowcount == 0:
            raise NotFound(f"organisation {org!r} has no webhook")
        audit.append(conn, org=org, actor=actor, kind="webhook.disabled", subject=f"webhook:{org}")
        row = conn.execute(sa.select(webhooks).where(webhooks.c.org == org)).one()
    return _webhook(row)


# -- actions -------------------------------------------------------------------------------------


def enqueue(
    conn: Connection,
    *,
    org: str,
    kind: str,
    content_ref: str,
    case_id: int | None = None,
    payload: Mapping[str, Any] | None = None,
    automated: bool = False,
    shadow: bool = False,
    actor: str = _NODE,
) -> str:
    """Queue an action in the caller's write transaction; returns its uuid (idempotency key)."""
    check_kind(kind)
    if len(content_ref) > MAX_CONTENT_REF or (not content_ref and kind in set(ActionKind)):
        raise InputError(f"a content action needs a content reference of 1-{MAX_CONTENT_REF} chars")
    key = str(uuidlib.uuid4())
    now = utcnow()
    state = ActionState.SHADOW if shadow else ActionState.PENDING
    waiting = not shadow and not _has_endpoint(conn, org)
    conn.execute(
        actions.insert().values(
            uuid=key,
            org=org,
            case_id=case_id,
            kind=kind,
            content_ref=content_ref,
            payload=dict(payload or {}),
            automated=automated,
            state=state.value,
            attempts=0,
            next_attempt_at=None if shadow else now,
            last_error=NO_ENDPOINT if waiting else "",
            created_at=now,
        )
    )
    detail = {"kind": kind, "content_ref": content_ref, "automated": automated, "shadow": shadow}
    audit.append(
        conn, org=org, actor=actor, kind="action.queued", subject=f"action:{key}", detail=detail
    )
    return key


def _has_endpoint(conn: Connection, org: str) -> bool:
    query = sa.select(webhooks.c.id).where(webhooks.c.org == org, webhooks.c.enabled.is_(True))
    return conn.execute(query).first() is not None


def action_select() -> sa.Select[Any]:
    """A query of actions with their case's uuid as ``case_uuid`` (for ``action_from_row``)."""
    return sa.select(actions, cases.c.uuid.label("case_uuid")).select_from(
        actions.outerjoin(cases, cases.c.id == actions.c.case_id)
    )


def action_from_row(r: Row[Any]) -> Action:
    """An Action from a row of ``actions`` joined with its case's uuid (``case_uuid``)."""
    return Action(
        uuid=r.uuid,
        org=r.org,
        kind=r.kind,
        content_ref=r.content_ref,
        case_uuid=r.case_uuid,
        payload=dict(r.payload),
        automated=bool(r.automated),
        state=ActionState(r.state),
        attempts=int(r.attempts),
        next_attempt_at=as_utc(r.next_attempt_at) if r.next_attempt_at is not None else None,
        last_error=r.last_error,
        created_at=as_utc(r.created_at),
        delivered_at=as_utc(r.delivered_at) if r.delivered_at is not None else None,
    )


def list_actions(
    db: Database,
    org: str,
    *,
    state: ActionState | str | None = None,
    case_id: int | None = None,
    case_uuid: str | None = None,
    limit: int = 100,
) -> list[Action]:
    """``org``'s actions, newest first, optionally of one state or one case."""
    if not 1 <= limit <= 10_000:
        raise InputError("limit must be 1-10000")
    query = action_select().where(actions.c.org == org)
    if state is not None:
        try:
            query = query.where(actions.c.state == ActionState(state).value)
        except ValueError:
            names = ", ".join(s.value for s in ActionState)
            raise InputError(f"unknown action state {state!r}: use {names}") from None
    if case_id is not None:
        query = query.where(actions.c.case_id == case_id)
    if case_uuid is not None:
        query = query.where(cases.c.uuid == case_uuid)
    with db.read() as conn:
        rows = conn.execute(query.order_by(actions.c.id.desc()).limit(limit)).all()
    return [action_from_row(r) for r in rows]


def dead_letters(db: Database, org: str, *, limit: int = 100) -> list[Action]:
    """``org``'s actions that gave up (the dead-letter list), newest first."""
    return list_actions(db, org, state=ActionState.DEAD, limit=limit)


def get_action(db: Database, org: str, key: str) -> Action:
    """One of ``org``'s actions by uuid; NotFound when absent or another organisation's."""
    with db.read() as conn:
        row = conn.execute(
            action_select().where(actions.c.uuid == key, actions.c.org == org)
        ).first()
    if row is None:
        raise NotFound(f"no action {key!r}")
    return action_from_row(row)


def retry(db: Database, org: str, key: str, *, actor: str = _NODE) -> Action:
    """Put a dead action back to pending, due now, with its attempts reset (same uuid)."""
    with db.write() as conn:
        row = conn.execute(
            sa.select(actions.c.state).where(actions.c.uuid == key, actions.c.org == org)
        ).first()
        if row is None:
            raise NotFound(f"no action {key!r}")
        if row.state != ActionState.DEAD.value:
            raise Conflict(f"action {key} is {row.state}: only a dead action can be retried")
        conn.execute(
            actions.update()
            .where(actions.c.uuid == key)
            .values(state=ActionState.PENDING.value, attempts=0, next_attempt_at=utcnow())
        )
        audit.append(conn, org=org, actor=actor, kind="action.retried", subject=f"action:{key}")
        return action_from_row(conn.execute(action_select().where(actions.c.uuid == key)).one())
