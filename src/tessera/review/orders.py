"""Removal orders: an authority's order to take a piece of content down within the hour.

TCO (Regulation 2021/784) Art. 3: a competent authority orders a hosting service provider to
remove, or disable access to, terrorist content; the provider acts within one hour of receipt,
informs the content provider (Art. 11), or says why it could not act (Art. 3(7) force majeure or
de facto impossibility, Art. 3(8) manifest errors or insufficient information). The flow:

1. ``record_order``: the order (authority, legal reference, the organisation's own content
   reference, received time) gets a deadline of ``removal_order_deadline_s`` after receipt. It
   opens a case (source ``removal_order``) for the content, or attaches to the organisation's
   newest case of that content: the case's deadline becomes the order's when that is sooner, and
   a closed case whose content is up is reopened. An organisation records orders addressed to
   itself; a coordinator may record one addressed to another organisation of this node (relaying
   an authority's order). Only the addressee sees the order afterwards;
2. ``act_on_order``: queues ``remove`` (or ``restrict``: disabling access) for the platform's
   webhook, records the action and when, and the case becomes ``actioned``. Content already down
   is not acted on twice: the order is recorded as actioned by the action that took it down;
3. ``not_actioned``: the order is not executed, for one of ``NotActionedReason`` with an
   explanation (stored as ``<reason>`` or ``<reason>: <explanation>``); it may still be actioned
   later, once the obstacle is gone;
4. ``inform_uploader``: a flag and a time, never anything about the uploader;
5. ``OrderWatch``: a background thread that writes each open order to the audit log once when
   its deadline passes (``removal_order.overdue``) and queues that event for the addressee's
   webhook. "Once" is the audit log itself: an order with such a row is not alerted again.

Every state change is one write transaction with its audit rows.
"""

from __future__ import annotations

import logging
import re
import uuid as uuidlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from tessera.errors import Conflict, Forbidden, InputError, NotFound
from tessera.review import actions, audit, cases
from tessera.review.records import OPEN_STATES, ActionKind, CaseState, Decision
from tessera.services.periodic import Periodic
from tessera.services.review import content_down
from tessera.settings import Settings
from tessera.store.db import Database, as_utc, utcnow
from tessera.store.repository import Store
from tessera.store.review_tables import actions as actions_table
from tessera.store.review_tables import audit_log, removal_orders
from tessera.store.review_tables import cases as cases_table
from tessera.store.tables import orgs

log = logging.getLogger(__name__)

OVERDUE_EVENT = "removal_order.overdue"
MAX_TEXT = 2_000
MAX_NOTE = 10_000
MEDIA_KINDS = ("image", "video", "audio", "file")
UUID_SHAPE = re.compile(r"^[0-9a-fA-F-]{1,36}$")
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(minutes=5)
"""How far in the future a received time may lie (the authority's clock may run ahead)."""


class OrderState(StrEnum):
    """Where a removal order is."""

    OPEN = "open"
    ACTIONED = "actioned"
    NOT_ACTIONED = "not_actioned"


class NotActionedReason(StrEnum):
    """Why an order was not executed (TCO Art. 3(7) and 3(8))."""

    FORCE_MAJEURE = "force_majeure"
    DE_FACTO_IMPOSSIBILITY = "de_facto_impossibility"
    MANIFEST_ERROR = "manifest_error"
    INSUFFICIENT_INFORMATION = "insufficient_information"


@dataclass(frozen=True, slots=True)
class Order:
    """A removal order and what was done about it."""

    uuid: str
    org: str
    authority: str
    legal_reference: str
    content_ref: str
    received_at: datetime
    deadline: datetime
    case_uuid: str | None
    state: OrderState
    action: str | None
    actioned_at: datetime | None
    not_actioned_reason: NotActionedReason | None
    not_actioned_explanation: str
    uploader_informed: bool
    informed_at: datetime | None
    note: str
    created_at: datetime

    def remaining_s(self, now: datetime | None = None) -> float:
        """Seconds left before the deadline (negative once past it)."""
        return (self.deadline - (now or utcnow())).total_seconds()

    def overdue(self, now: datetime | None = None) -> bool:
        """Whether the order is still open past its deadline."""
        return self.state is OrderState.OPEN and self.remaining_s(now) < 0

    def as_json(self, now: datetime | None = None) -> dict[str, Any]:
        """The order as plain JSON, with the seconds remaining (for a live countdown)."""
        return {
            "id": self.uuid,
            "org": self.org,
            "authority": self.authority,
            "legal_reference": self.legal_reference,
            "content_ref": self.content_ref,
            "received_at": self.received_at.isoformat(),
            "deadline": self.deadline.isoformat(),
            "remaining_s": round(self.remaining_s(now), 3),
            "overdue": self.overdue(now),
            "case": self.case_uuid,
            "state": self.state.value,
            "action": self.action,
            "actioned_at": _iso(self.actioned_at),
            "not_actioned_reason": _value(self.not_actioned_reason),
            "not_actioned_explanation": self.not_actioned_explanation,
            "uploader_informed": self.uploader_informed,
            "informed_at": _iso(self.informed_at),
            "note": self.note,
            "created_at": self.created_at.isoformat(),
        }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _value(value: StrEnum | None) -> str | None:
    return value.value if value is not None else None


def _when(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


def _order(r: Row[Any]) -> Order:
    reason, explanation = None, ""
    if r.not_actioned_reason:
        code, _, explanation = str(r.not_actioned_reason).partition(": ")
        reason = NotActionedReason(code)
    return Order(
        uuid=r.uuid,
        org=r.org,
        authority=r.authority,
        legal_reference=r.legal_reference,
        content_ref=r.content_ref,
        received_at=as_utc(r.received_at),
        deadline=as_utc(r.deadline),
        case_uuid=r.case_uuid,
        state=OrderState(r.state),
        action=r.action,
        actioned_at=_when(r.actioned_at),
        not_actioned_reason=reason,
        not_actioned_explanation=explanation,
        uploader_informed=bool(r.uploader_informed),
        informed_at=_when(r.informed_at),
        note=r.note,
        created_at=as_utc(r.created_at),
    )


def _select() -> sa.Select[Any]:
    return sa.select(removal_orders, cases_table.c.uuid.label("case_uuid")).select_from(
        removal_orders.outerjoin(cases_table, cases_table.c.id == removal_orders.c.case_id)
    )


def _fetch(conn: Connection, org: str, order_uuid: str) -> tuple[Order, int | None]:
    check_id("removal order", order_uuid)
    row = conn.execute(
        _select().where(removal_orders.c.uuid == order_uuid, removal_orders.c.org == org)
    ).first()
    if row is None:
        raise NotFound(f"no removal order {order_uuid!r}")
    return _order(row), (int(row.case_id) if row.case_id is not None else None)


def check_text(name: str, value: str, limit: int, *, required: bool = True) -> str:
    """``value`` if it is storable text of at most ``limit`` characters (and, if ``required``,
    not blank); InputError otherwise (NUL characters and lone surrogates included)."""
    if (required and not value.strip()) or len(value) > limit:
        raise InputError(f"{name} must be {1 if required else 0}-{limit} characters")
    if "\x00" in value:
        raise InputError(f"{name} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{name} is not valid Unicode (a lone surrogate)") from None
    return value


def check_time(name: str, value: datetime | None, now: datetime) -> datetime:
    """``value`` in UTC (naive means UTC; None means ``now``) if it is neither in the future
    (beyond clock skew) nor before 2000; InputError otherwise."""
    if value is None:
        return now
    try:
        when = value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)
    except (OverflowError, ValueError):
        raise InputError(f"{name} is out of range") from None
    if when > now + CLOCK_SKEW:
        raise InputError(f"{name} lies in the future")
    if when < EARLIEST:
        raise InputError(f"{name} is before {EARLIEST.year}")
    return when


def check_id(kind: str, value: str) -> str:
    """``value`` if it looks like a uuid; NotFound (as for any unknown id) otherwise."""
    if not UUID_SHAPE.match(value):
        raise NotFound(f"no {kind} {value[:40]!r}")
    return value


def _check_recorder(conn: Connection, recorder: str, org: str) -> None:
    q = sa.select(orgs.c.name, orgs.c.tier).where(orgs.c.name.in_([org, recorder]))
    tiers = {str(name): str(tier) for name, tier in conn.execute(q)}
    if org not in tiers:
        raise NotFound(f"no organisation named {org!r}")
    if recorder != org and tiers.get(recorder) != "coordinator":
        raise Forbidden("an organisation records removal orders addressed to itself only")


def record_order(
    store: Store,
    settings: Settings,
    *,
    org: str,
    authority: str,
    legal_reference: str,
    content_ref: str,
    received_at: datetime | None = None,
    media_kind: str = "file",
    note: str = "",
    recorder: str | None = None,
    actor: str | None = None,
) -> Order:
    """Record an order addressed to ``org`` and open (or update) the content's case."""
    authority = check_text("authority", authority.strip(), 200)
    legal_reference = check_text("legal_reference", legal_reference.strip(), MAX_TEXT)
    check_text("content_ref", content_ref, cases.MAX_CONTENT_REF_CHARS)
    check_text("note", note, MAX_NOTE, required=False)
    if media_kind not in MEDIA_KINDS:
        raise InputError(f"media_kind must be one of {', '.join(MEDIA_KINDS)}")
    now = utcnow()
    received = check_time("received_at", received_at, now)
    deadline = received + timedelta(seconds=settings.removal_order_deadline_s)
    recorder = recorder or org
    actor = actor or recorder
    key = str(uuidlib.uuid4())
    with store.db.write() as conn:
        _check_recorder(conn, recorder, org)
        case_id, case_uuid, how = _case_for(conn, org, content_ref, media_kind, deadline, actor)
        conn.execute(
            removal_orders.insert().values(
                uuid=key,
                org=org,
                authority=authority,
                legal_reference=legal_reference,
                content_ref=content_ref,
                received_at=received,
                deadline=deadline,
                case_id=case_id,
                state=OrderState.OPEN.value,
                uploader_informed=False,
                note=note,
                created_at=now,
            )
        )
        detail = {
            "authority": authority,
            "legal_reference": legal_reference,
            "content_ref": content_ref,
            "received_at": received.isoformat(),
            "deadline": deadline.isoformat(),
            "case": case_uuid,
            "case_was": how,
            "recorded_by": recorder,
        }
        _audit(conn, org, actor, "removal_order.received", key, detail)
        return _fetch(conn, org, key)[0]


def _audit(
    conn: Connection, org: str, actor: str, kind: str, order_uuid: str, detail: dict[str, Any]
) -> None:
    subject = f"removal_order:{order_uuid}"
    audit.append(conn, org=org, actor=actor, kind=kind, subject=subject, detail=detail)


def _case_for(
    conn: Connection, org: str, content_ref: str, media_kind: str, deadline: datetime, actor: str
) -> tuple[int, str, str]:
    """The case the order goes to: (id, uuid, "opened" / "attached" / "reopened")."""
    existing = cases.latest_for_content(conn, org, content_ref)
    if existing is None:
        case_id = cases.create(
            conn,
            org=org,
            content_ref=content_ref,
            media_kind=media_kind,
            signals=[],
            source="removal_order",
            deadline=deadline,
            automated_detection=False,
        )
        case_uuid = cases.fetch_uuid(conn, case_id)
        detail = {"content_ref": content_ref, "source": "removal_order", "matches": 0}
        subject = f"case:{case_uuid}"
        audit.append(conn, org=org, actor=actor, kind="case.opened", subject=subject, detail=detail)
        return case_id, case_uuid, "opened"
    how = "attached"
    values: dict[str, Any] = {}
    if existing.state in OPEN_STATES:
        if existing.deadline is None or deadline < existing.deadline:
            values["deadline"] = deadline
    elif not content_down(conn, existing.id):
        how = "reopened"
        values = {"state": CaseState.REOPENED.value, "deadline": deadline}
    cases.touch(conn, existing.id, **values)
    detail = {"how": how, "deadline": _iso(values.get("deadline"))}
    audit.append(
        conn,
        org=org,
        actor=actor,
        kind="case.order_attached",
        subject=f"case:{existing.uuid}",
        detail=detail,
    )
    return existing.id, existing.uuid, how


def _down_kind(conn: Connection, case_id: int) -> str:
    q = (
        sa.select(actions_table.c.kind)
        .where(
            actions_table.c.case_id == case_id,
            actions_table.c.state != "shadow",
            actions_table.c.kind.in_(["remove", "restrict"]),
        )
        .order_by(actions_table.c.id.desc())
        .limit(1)
    )
    return str(conn.execute(q).scalar_one())


def act_on_order(
    store: Store,
    *,
    org: str,
    order_uuid: str,
    actor: str,
    action: ActionKind = ActionKind.REMOVE,
    note: str = "",
) -> Order:
    """Take the content down as the order asks (``remove`` or ``restrict``) and record it."""
    if action not in (ActionKind.REMOVE, ActionKind.RESTRICT):
        raise InputError("a removal order is executed by removing or restricting the content")
    check_text("note", note, cases.MAX_NOTE_CHARS, required=False)
    now = utcnow()
    with store.db.write() as conn:
        order, case_id = _fetch(conn, org, order_uuid)
        if order.state is OrderState.ACTIONED:
            raise Conflict(f"removal order {order_uuid} was already actioned")
        queued: list[str] = []
        already_down = case_id is not None and content_down(conn, case_id)
        taken = _down_kind(conn, case_id) if already_down and case_id is not None else action.value
        if not already_down:
            payload = {"removal_order": order.uuid, "legal_reference": order.legal_reference}
            queued.append(
                actions.enqueue(
                    conn,
                    org=org,
                    kind=action.value,
                    content_ref=order.content_ref,
                    case_id=case_id,
                    payload=payload,
                    actor=actor,
                )
            )
        conn.execute(
            removal_orders.update()
            .where(removal_orders.c.uuid == order.uuid)
            .values(state=OrderState.ACTIONED.value, action=taken, actioned_at=now)
        )
        if case_id is not None:
            _close_case(conn, case_id, order, actor, note)
        detail = {
            "action": taken,
            "actions": queued,
            "already_down": already_down,
            "actioned_at": now.isoformat(),
            "within_deadline": now <= order.deadline,
            "was": order.state.value,
        }
        _audit(conn, org, actor, "removal_order.actioned", order.uuid, detail)
        return _fetch(conn, org, order_uuid)[0]


def _close_case(conn: Connection, case_id: int, order: Order, actor: str, note: str) -> None:
    cases.touch(
        conn,
        case_id,
        state=CaseState.ACTIONED.value,
        decision=Decision.VIOLATING.value,
        exemption=None,
        decided_by=f"removal_order:{order.uuid}",
        decided_at=utcnow(),
        automated_decision=False,
        deadline=None,
    )
    if note.strip():
        cases.add_note(conn, case_id, actor, note)
    audit.append(
        conn,
        org=order.org,
        actor=actor,
        kind="case.actioned",
        subject=f"case:{cases.fetch_uuid(conn, case_id)}",
        detail={"removal_order": order.uuid},
    )


def not_actioned(
    store: Store,
    *,
    org: str,
    order_uuid: str,
    reason: NotActionedReason,
    explanation: str,
    actor: str,
) -> Order:
    """Record that an open order is not executed, and why (TCO Art. 3(7)/(8))."""
    explanation = check_text("explanation", explanation.strip(), MAX_NOTE, required=False)
    stored = f"{reason.value}: {explanation}" if explanation else reason.value
    with store.db.write() as conn:
        order, _case_id = _fetch(conn, org, order_uuid)
        if order.state is not OrderState.OPEN:
            raise Conflict(f"removal order {order_uuid} is {order.state.value}, not open")
        conn.execute(
            removal_orders.update()
            .where(removal_orders.c.uuid == order.uuid)
            .values(state=OrderState.NOT_ACTIONED.value, not_actioned_reason=stored)
        )
        detail = {"reason": reason.value, "explanation": explanation}
        _audit(conn, org, actor, "removal_order.not_actioned", order.uuid, detail)
        return _fetch(conn, org, order_uuid)[0]


def inform_uploader(
    store: Store, *, org: str, order_uuid: str, actor: str, informed_at: datetime | None = None
) -> Order:
    """Record that the content's uploader was informed (a flag and a time, nothing more)."""
    when = check_time("informed_at", informed_at, utcnow())
    with store.db.write() as conn:
        order, _case_id = _fetch(conn, org, order_uuid)
        if order.uploader_informed:
            raise Conflict(f"the uploader was already recorded as informed of {order_uuid}")
        conn.execute(
            removal_orders.update()
            .where(removal_orders.c.uuid == order.uuid)
            .values(uploader_informed=True, informed_at=when)
        )
        detail = {"informed_at": when.isoformat()}
        _audit(conn, org, actor, "removal_order.uploader_informed", order.uuid, detail)
        return _fetch(conn, org, order_uuid)[0]


def get(db: Database, org: str, order_uuid: str) -> Order:
    """The organisation's order; NotFound for an unknown one or another organisation's."""
    with db.read() as conn:
        return _fetch(conn, org, order_uuid)[0]


def list_orders(
    db: Database,
    org: str,
    *,
    state: OrderState | None = None,
    case_uuid: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Order]:
    """The organisation's orders: open ones soonest deadline first, then the newest."""
    if not 1 <= limit <= 10_000 or offset < 0:
        raise InputError("limit must be 1-10000 and offset not negative")
    q = _select().where(removal_orders.c.org == org)
    if state is not None:
        q = q.where(removal_orders.c.state == state.value)
    if case_uuid is not None:
        if not UUID_SHAPE.match(case_uuid):
            return []
        q = q.where(cases_table.c.uuid == case_uuid)
    is_open = sa.case((removal_orders.c.state == OrderState.OPEN.value, 0), else_=1)
    order_by = (is_open, removal_orders.c.deadline, removal_orders.c.id.desc())
    with db.read() as conn:
        rows = conn.execute(q.order_by(*order_by).limit(limit).offset(offset)).all()
    return [_order(r) for r in rows]


def _alerted() -> sa.Exists:
    subject = sa.literal("removal_order:") + removal_orders.c.uuid
    return sa.exists().where(audit_log.c.subject == subject, audit_log.c.kind == OVERDUE_EVENT)


def overdue(db: Database, now: datetime | None = None) -> list[Order]:
    """Every organisation's open orders past their deadline at ``now``, oldest deadline first."""
    q = _select().where(
        removal_orders.c.state == OrderState.OPEN.value,
        removal_orders.c.deadline < (now or utcnow()),
    )
    with db.read() as conn:
        return [_order(r) for r in conn.execute(q.order_by(removal_orders.c.deadline))]


def alert_overdue(db: Database, now: datetime | None = None) -> list[str]:
    """Audit and notify each order that became overdue and was not yet alerted; their uuids."""
    now = now or utcnow()
    q = (
        _select()
        .where(
            removal_orders.c.state == OrderState.OPEN.value,
            removal_orders.c.deadline < now,
            ~_alerted(),
        )
        .order_by(removal_orders.c.deadline)
        .limit(1000)
    )
    alerted: list[str] = []
    with db.write() as conn:
        for row in conn.execute(q).all():
            order = _order(row)
            late = round(-order.remaining_s(now), 3)
            detail = {"deadline": order.deadline.isoformat(), "overdue_s": late}
            _audit(conn, order.org, "node", OVERDUE_EVENT, order.uuid, detail)
            actions.enqueue(
                conn,
                org=order.org,
                kind=OVERDUE_EVENT,
                content_ref=order.content_ref,
                case_id=int(row.case_id) if row.case_id is not None else None,
                payload=order.as_json(now),
            )
            alerted.append(order.uuid)
    return alerted


def _alert_and_log(db: Database) -> None:
    for key in alert_overdue(db):
        log.warning("removal order %s is overdue", key)


class OrderWatch(Periodic):
    """Alerts overdue removal orders every ``interval_s`` seconds on a background thread."""

    def __init__(self, db: Database, interval_s: float = 5.0) -> None:
        super().__init__("orders", interval_s, lambda: _alert_and_log(db))
