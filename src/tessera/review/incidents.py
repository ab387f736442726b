"""Incidents: a coordinator's surge around one bank, like GIFCT's Content Incident Protocol.

When an attack is live-streamed and copies spread, a coordinator declares an incident on a bank
of this node (not a mirror) and curates it fast; everyone consuming the bank needs its new
entries within seconds, not at the next half-minute sync. The flow:

1. ``declare`` (coordinator tier only): the incident, its bank and the sync interval peers should
   use (``incident_sync_interval_s``) are stored, written to the audit log (``incident.declared``)
   and queued as an ``incident.declared`` event for the webhook of every organisation of this
   node that may see the bank and has an enabled endpoint;
2. peers learn of it from ``GET /v1/incidents`` (active incidents of banks the caller may see):
   their sync loop asks once per normal cycle, and while an incident is active pulls this node
   every ``incident_sync_interval_s`` (``services.sync``);
3. ``update`` changes its name or note (``incident.updated``, with what changed in the bank so
   far); ``end`` closes it (``incident.ended`` with the bank's changes over the incident, and an
   ``incident.ended`` event to the same endpoints).

The timeline (``timeline``) is the audit log: the incident's own rows, and the rows about its
bank (entries added, retired, the bank changed) between declaration and end.
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from tessera.errors import Conflict, Forbidden, InputError, NotFound
from tessera.review import actions, audit
from tessera.review.audit import AuditRecord
from tessera.review.orders import check_id, check_text
from tessera.services.access import Principal, may_see
from tessera.settings import Settings
from tessera.store.db import Database, as_utc, utcnow
from tessera.store.orgs import NAME
from tessera.store.records import Bank, Tier
from tessera.store.repository import Store
from tessera.store.review_tables import incidents, webhooks
from tessera.store.tables import banks, changes, orgs, sharing_group_members, sharing_groups

MAX_NAME = 200
MAX_NOTE = 10_000
MAX_TIMELINE = 1000


class IncidentState(StrEnum):
    """Whether an incident is under way."""

    ACTIVE = "active"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class Incident:
    """A declared incident and the bank it surges."""

    uuid: str
    name: str
    declared_by: str
    bank_uuid: str | None
    bank_name: str | None
    state: IncidentState
    sync_interval_s: float
    note: str
    declared_at: datetime
    ended_at: datetime | None

    def as_json(self) -> dict[str, Any]:
        """The incident as plain JSON (an event's payload, ``--json``)."""
        return {
            "id": self.uuid,
            "name": self.name,
            "declared_by": self.declared_by,
            "bank": self.bank_name,
            "bank_uuid": self.bank_uuid,
            "state": self.state.value,
            "sync_interval_s": self.sync_interval_s,
            "note": self.note,
            "declared_at": self.declared_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
        }


def _incident(r: Row[Any]) -> Incident:
    return Incident(
        uuid=r.uuid,
        name=r.name,
        declared_by=r.declared_by,
        bank_uuid=r.bank_uuid,
        bank_name=r.bank_name,
        state=IncidentState(r.state),
        sync_interval_s=float(r.sync_interval_s),
        note=r.note,
        declared_at=as_utc(r.declared_at),
        ended_at=as_utc(r.ended_at) if r.ended_at is not None else None,
    )


def _select() -> sa.Select[Any]:
    return sa.select(incidents, banks.c.name.label("bank_name")).select_from(
        incidents.outerjoin(banks, banks.c.uuid == incidents.c.bank_uuid)
    )


def _check(name: str | None, note: str | None) -> None:
    if name is not None:
        check_text("an incident's name", name.strip(), MAX_NAME)
    if note is not None:
        check_text("note", note, MAX_NOTE, required=False)


def _coordinator(who: Principal) -> None:
    if who.tier is not Tier.COORDINATOR:
        raise Forbidden("only a coordinator declares, updates or ends incidents")


def _principals(conn: Connection) -> list[Principal]:
    """Every organisation with an enabled webhook, as a principal (for ``may_see``)."""
    q = (
        sa.select(orgs.c.name, orgs.c.tier)
        .join(webhooks, webhooks.c.org == orgs.c.name)
        .where(webhooks.c.enabled.is_(True))
        .order_by(orgs.c.name)
    )
    found = conn.execute(q).all()
    groups: dict[str, set[str]] = {}
    membership = (
        sa.select(orgs.c.name, sharing_groups.c.name.label("group_name"))
        .join(sharing_group_members, sharing_group_members.c.org_id == orgs.c.id)
        .join(sharing_groups, sharing_groups.c.id == sharing_group_members.c.group_id)
    )
    for org, group in conn.execute(membership):
        groups.setdefault(str(org), set()).add(str(group))
    return [
        Principal(str(r.name), Tier(r.tier), frozenset(), frozenset(groups.get(str(r.name), ())))
        for r in found
    ]


def _notify(conn: Connection, bank: Bank | None, event: str, incident: Incident) -> list[str]:
    """Queue ``event`` for every endpoint of an organisation that may see the bank (only the
    coordinators' when the bank is gone)."""
    queued = []
    for who in _principals(conn):
        if visible(who, bank):
            queued.append(
                actions.enqueue(
                    conn, org=who.org, kind=event, content_ref="", payload=incident.as_json()
                )
            )
    return queued


def _bank_changes(conn: Connection, bank_uuid: str | None, since: datetime) -> dict[str, int]:
    """How many changes of each kind the bank's change log has had since ``since``."""
    if bank_uuid is None:
        return {}
    q = (
        sa.select(changes.c.kind, sa.func.count())
        .where(changes.c.bank_uuid == bank_uuid, changes.c.created_at >= since)
        .group_by(changes.c.kind)
    )
    return {str(kind): int(n) for kind, n in conn.execute(q)}


def _fetch(conn: Connection, incident_uuid: str) -> Incident:
    check_id("incident", incident_uuid)
    row = conn.execute(_select().where(incidents.c.uuid == incident_uuid)).first()
    if row is None:
        raise NotFound(f"no incident {incident_uuid!r}")
    return _incident(row)


def _bank_of(store: Store, incident: Incident) -> Bank | None:
    if incident.bank_uuid is None:
        return None
    return store.banks_by_uuid([incident.bank_uuid]).get(incident.bank_uuid)


def declare(
    store: Store,
    settings: Settings,
    who: Principal,
    *,
    name: str,
    bank: str,
    note: str = "",
    actor: str | None = None,
) -> Incident:
    """Declare an incident on a bank of this node (coordinators only) and notify endpoints."""
    _coordinator(who)
    _check(name, note)
    if not NAME.match(bank):
        raise NotFound(f"no bank named {bank[:200]!r}")
    found = store.get_bank(bank)
    if found.origin_node and found.origin_node != store.node_id:
        raise InputError(f"bank {bank!r} is a mirror of another node's: declare it there")
    if not may_see(who, found):
        raise NotFound(f"no bank named {bank!r}")
    actor = actor or who.org
    key = str(uuidlib.uuid4())
    with store.db.write() as conn:
        active = conn.execute(
            sa.select(incidents.c.uuid).where(
                incidents.c.bank_uuid == found.uuid,
                incidents.c.state == IncidentState.ACTIVE.value,
            )
        ).first()
        if active is not None:
            raise Conflict(f"bank {bank!r} already has an active incident ({active.uuid})")
        conn.execute(
            incidents.insert().values(
                uuid=key,
                name=name.strip(),
                declared_by=who.org,
                bank_uuid=found.uuid,
                state=IncidentState.ACTIVE.value,
                sync_interval_s=settings.incident_sync_interval_s,
                note=note,
                declared_at=utcnow(),
            )
        )
        incident = _fetch(conn, key)
        queued = _notify(conn, found, "incident.declared", incident)
        detail = incident.as_json() | {"notified": len(queued)}
        audit.append(
            conn,
            org=who.org,
            actor=actor,
            kind="incident.declared",
            subject=f"incident:{key}",
            detail=detail,
        )
    return incident


def update(
    store: Store,
    who: Principal,
    incident_uuid: str,
    *,
    name: str | None = None,
    note: str | None = None,
    actor: str | None = None,
) -> Incident:
    """Change an active incident's name or note (coordinators only)."""
    _coordinator(who)
    _check(name, note)
    with store.db.write() as conn:
        before = _fetch(conn, incident_uuid)
        if before.state is not IncidentState.ACTIVE:
            raise Conflict(f"incident {incident_uuid} has ended")
        values: dict[str, Any] = {}
        if name is not None and name.strip() != before.name:
            values["name"] = name.strip()
        if note is not None and note != before.note:
            values["note"] = note
        if values:
            conn.execute(
                incidents.update().where(incidents.c.uuid == incident_uuid).values(**values)
            )
        detail = {
            "changed": values,
            "bank_changes": _bank_changes(conn, before.bank_uuid, before.declared_at),
        }
        audit.append(
            conn,
            org=who.org,
            actor=actor or who.org,
            kind="incident.updated",
            subject=f"incident:{incident_uuid}",
            detail=detail,
        )
        return _fetch(conn, incident_uuid)


def end(
    store: Store, who: Principal, incident_uuid: str, *, note: str = "", actor: str | None = None
) -> Incident:
    """End an active incident (coordinators only) and notify the endpoints told of it."""
    _coordinator(who)
    _check(None, note)
    bank = _bank_of(store, get(store, who, incident_uuid))
    with store.db.write() as conn:
        before = _fetch(conn, incident_uuid)
        if before.state is not IncidentState.ACTIVE:
            raise Conflict(f"incident {incident_uuid} has already ended")
        values: dict[str, Any] = {"state": IncidentState.ENDED.value, "ended_at": utcnow()}
        if note:
            values["note"] = note
        conn.execute(incidents.update().where(incidents.c.uuid == incident_uuid).values(**values))
        incident = _fetch(conn, incident_uuid)
        queued = _notify(conn, bank, "incident.ended", incident)
        detail = {
            "note": note,
            "bank_changes": _bank_changes(conn, before.bank_uuid, before.declared_at),
            "notified": len(queued),
        }
        audit.append(
            conn,
            org=who.org,
            actor=actor or who.org,
            kind="incident.ended",
            subject=f"incident:{incident_uuid}",
            detail=detail,
        )
    return incident


def visible(who: Principal, bank: Bank | None) -> bool:
    """Whether ``who`` may see an incident: when it may see its bank (coordinators only once
    the bank is gone)."""
    if bank is None:
        return who.tier is Tier.COORDINATOR
    return may_see(who, bank)


def list_incidents(store: Store, who: Principal, *, include_ended: bool = False) -> list[Incident]:
    """The incidents ``who`` may see, newest first (only the active ones unless asked)."""
    q = _select().order_by(incidents.c.id.desc()).limit(1000)
    if not include_ended:
        q = q.where(incidents.c.state == IncidentState.ACTIVE.value)
    with store.db.read() as conn:
        rows = conn.execute(q).all()
    found = [_incident(r) for r in rows]
    known = store.banks_by_uuid(i.bank_uuid for i in found if i.bank_uuid)
    return [i for i in found if visible(who, known.get(i.bank_uuid or ""))]


def active(store: Store, who: Principal) -> list[Incident]:
    """The active incidents ``who`` may see."""
    return list_incidents(store, who)


def get(store: Store, who: Principal, incident_uuid: str) -> Incident:
    """One incident ``who`` may see; NotFound alike when absent or hidden."""
    with store.db.read() as conn:
        incident = _fetch(conn, incident_uuid)
    if not visible(who, _bank_of(store, incident)):
        raise NotFound(f"no incident {incident_uuid!r}")
    return incident


def timeline(store: Store, who: Principal, incident_uuid: str) -> list[AuditRecord]:
    """The incident's audit rows and its bank's, from declaration to end (coordinators only)."""
    _coordinator(who)
    incident = get(store, who, incident_uuid)
    own = audit.list_records(store.db, subject=f"incident:{incident.uuid}", limit=MAX_TIMELINE)
    if not own or incident.bank_name is None:
        return own
    start = own[0].seq
    end = next((r.seq for r in own if r.kind == "incident.ended"), None)
    bank_rows = audit.list_records(
        store.db, subject=f"bank:{incident.bank_name}", after=start, limit=MAX_TIMELINE
    )
    during = [r for r in bank_rows if end is None or r.seq < end]
    return sorted(own + during, key=lambda r: r.seq)


def bank_changes(db: Database, incident: Incident) -> dict[str, int]:
    """How many changes of each kind the incident's bank has had since it was declared."""
    with db.read() as conn:
        return _bank_changes(conn, incident.bank_uuid, incident.declared_at)
