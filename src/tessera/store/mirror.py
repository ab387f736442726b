"""Mirrors: applying a peer's page of changes to read-only copies of its banks.

``apply_page`` runs inside the caller's write transaction, the same one that moves the peer's
cursor (``store.peers.set_cursor``), so a page is applied whole or not at all. Applying is
idempotent: a bank or entry is upserted from its snapshot (keyed by its origin uuid, which the
copy keeps), a tombstone deletes what is there, an opinion already recorded is left alone. Each
write is appended to this node's own change log (marked ``via`` the peer), so matcher replicas
index mirrored entries and further peers can pull them in turn. A page that changed anything adds
one record to the audit log (``review.audit``, kind ``mirror.applied``, subject ``peer:<name>``)
with its counts and the first bank and entry uuids.

Rules that keep a hostile or confused peer from doing harm:
- a change about a bank or entry whose origin is this node is ignored (never loop);
- a bank uuid that names one of this node's own banks, or an entry uuid held by another bank,
  refuses the page (``PeerError``); a signal value its signal type rejects refuses it earlier,
  when the page is read (``exchange.protocol``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.errors import InputError
from tessera.exchange.protocol import BankWire, ChangesPage, ChangeWire, EntryWire, PeerError
from tessera.review import audit
from tessera.store import changelog, opinions
from tessera.store.db import as_utc, utcnow
from tessera.store.orgs import check_distribution
from tessera.store.peers import mirrors
from tessera.store.records import ChangeKind, Verdict
from tessera.store.tables import banks, entries, signals, value_key

_CHUNK = 5000


@dataclass
class Applied:
    """What applying pages did."""

    banks: int = 0
    entries: int = 0
    removed: int = 0
    opinions: int = 0

    def add(self, other: Applied) -> None:
        """Add another page's counts."""
        self.banks += other.banks
        self.entries += other.entries
        self.removed += other.removed
        self.opinions += other.opinions


@dataclass(frozen=True, slots=True)
class _LocalBank:
    id: int
    uuid: str
    name: str


def _normal_signals(entry: EntryWire) -> list[tuple[str, str, int | None]]:
    """An entry's signals without repeats (values were checked and normalised by their signal
    type when the page was read: ``exchange.protocol.SignalWire``)."""
    out: list[tuple[str, str, int | None]] = []
    seen: set[tuple[str, str]] = set()
    for s in entry["signals"]:
        t, v = s["type"], s["value"]
        if (t, v) not in seen:
            seen.add((t, v))
            out.append((t, v, s.get("quality")))
    return out


def _bulk_insert(
    conn: Connection, table: sa.Table, names: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    """Insert many rows, given as tuples of the ``names`` columns. On SQLite, one DB-API
    executemany; the columns whose type has a bind processor are converted column by column (the
    values SQLAlchemy would store, without its per-row overhead; JSON as ``changelog`` encodes
    it), the others pass as they are."""
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        conn.execute(table.insert(), [dict(zip(names, row, strict=True)) for row in rows])
        return
    converters: dict[int, Any] = {}
    for i, n in enumerate(names):
        column_type = table.c[n].type
        proc = column_type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
        if isinstance(column_type, sa.JSON):
            converters[i] = changelog.encode_value
        elif proc is not None:
            converters[i] = proc
    values: Sequence[tuple[Any, ...]] = rows
    if converters:
        columns: list[Sequence[Any]] = list(zip(*rows, strict=True))
        for i, convert in converters.items():
            # Rows of a batch share few distinct times and label lists: convert each once.
            if isinstance(table.c[names[i]].type, sa.DateTime):
                formatted = {v: convert(v) for v in set(columns[i])}
                columns[i] = [formatted[v] for v in columns[i]]
            else:
                columns[i] = list(map(convert, columns[i]))
        values = list(zip(*columns, strict=True))
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})"
    conn.exec_driver_sql(sql, list(values))


_SIGNAL_COLUMNS = ("id", "entry_id", "bank_id", "signal_type", "value", "value_key", "quality")
# The columns of a mirrored entry's row that come from its snapshot (``_Applier._row_values``).
_ROW_FIELDS = (
    "bank_id",
    "labels",
    "inclusion_criterion",
    "status",
    "created_by",
    "created_at",
    "updated_at",
    "source",
    "note",
    "origin_node",
    "origin_org",
    "origin_uuid",
)


def _labels(labels: Sequence[str]) -> list[str]:
    """An entry's labels as stored: sorted, without repeats."""
    return sorted(set(labels)) if labels else []


@lru_cache(maxsize=4096)
def _utc(moment: datetime) -> tuple[datetime, str]:
    """A timestamp in UTC and its ISO form (entries of one batch often share their times)."""
    utc = moment.astimezone(UTC)
    return utc, utc.isoformat()


def _new_ids(conn: Connection, table: sa.Table, n: int) -> list[int]:
    """``n`` fresh primary keys of ``table``, the ones the database would give the next inserts
    (SQLite: after the largest; PostgreSQL: taken from the column's sequence)."""
    if conn.dialect.name == "sqlite":
        top = conn.execute(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))).scalar_one()
        return list(range(int(top) + 1, int(top) + n + 1))
    sequence = sa.func.pg_get_serial_sequence(table.name, "id")
    q = sa.select(sa.func.nextval(sequence)).select_from(sa.func.generate_series(1, n))
    return [int(i) for i in conn.execute(q).scalars()]


def _in(
    conn: Connection, column: sa.ColumnElement[Any], values: Sequence[Any]
) -> sa.ColumnElement[bool]:
    """``column IN (values)`` with one parameter. On SQLite the values travel as one JSON array
    read by ``json_each``: an expanding IN is rendered anew for every chunk, a thousand bind names
    at a time. Elsewhere one expanding parameter (no per-value literal coercion)."""
    if conn.dialect.name == "sqlite":
        listed = sa.func.json_each(
            sa.bindparam(f"in_{column.key}", orjson.dumps(list(values)).decode())
        )
        return column.in_(sa.select(listed.table_valued("value").c.value))
    return column.in_(sa.bindparam(f"in_{column.key}", list(values), expanding=True))


class _Applier:
    def __init__(self, conn: Connection, peer: str, local_node: str) -> None:
        self.conn = conn
        self.peer = peer
        self.local_node = local_node
        self.applied = Applied()
        self.log: list[changelog.ChangeRow] = []
        self._banks: dict[str, _LocalBank | None] = {}

    # -- banks -------------------------------------------------------------------------------

    def bank(self, uuid: str) -> _LocalBank | None:
        """The local mirror of a bank, if there is one."""
        if uuid not in self._banks:
            row = self.conn.execute(
                sa.select(banks.c.id, banks.c.name, mirrors.c.peer)
                .outerjoin(mirrors, mirrors.c.bank_uuid == banks.c.uuid)
                .where(banks.c.uuid == uuid)
            ).first()
            if row is not None and row.peer is None:
                raise PeerError(f"the peer sent bank {uuid}, which is one of this node's own")
            self._banks[uuid] = _LocalBank(int(row.id), uuid, row.name) if row else None
        return self._banks[uuid]

    def _free_name(self, wanted: str, uuid: str) -> str:
        name = f"{self.peer}.{wanted}"[:200]
        taken = self.conn.execute(sa.select(banks.c.id).where(banks.c.name == name)).first()
        return name if taken is None else f"{name[:160]}.{uuid[:8]}"

    def upsert_bank(self, wire: BankWire) -> _LocalBank | None:
        """Create or update the mirror of a bank (None for this node's own banks)."""
        if wire.origin_node == self.local_node:
            return None
        try:
            check_distribution(wire.distribution)
        except InputError as e:
            raise PeerError(f"bank {wire.uuid}: {e}") from None
        fields = {
            "description": wire.description,
            "owner_org": wire.owner_org,
            "labels": sorted(set(wire.labels)),
            "inclusion_criterion": wire.inclusion_criterion,
            "distribution": wire.distribution,
            "thresholds": dict(wire.thresholds),
            "enabled": wire.enabled,
            "updated_at": utcnow(),
        }
        local = self.bank(wire.uuid)
        snapshot = {k: v for k, v in fields.items() if k != "updated_at"}
        if local is None:
            name = self._free_name(wire.name, wire.uuid)
            self.conn.execute(
                banks.insert(),
                fields
                | {
                    "uuid": wire.uuid,
                    "name": name,
                    "created_at": fields["updated_at"],
                    "origin_node": wire.origin_node,
                },
            )
            # A mirror deleted by hand on this node leaves its record; the bank comes back anew.
            self.conn.execute(mirrors.delete().where(mirrors.c.bank_uuid == wire.uuid))
            self.conn.execute(
                mirrors.insert(),
                {
                    "bank_uuid": wire.uuid,
                    "peer": self.peer,
                    "origin_node": wire.origin_node,
                    "remote_name": wire.name,
                },
            )
            local = self.bank_reload(wire.uuid)
            payload = snapshot | {"uuid": wire.uuid, "name": name, "origin_node": wire.origin_node}
            self.log.append(
                (ChangeKind.BANK_CREATED, wire.uuid, None, payload | {"via": self.peer})
            )
        else:
            old = self.conn.execute(sa.select(banks).where(banks.c.id == local.id)).one()
            if all(getattr(old, k) == v for k, v in snapshot.items()):
                return local
            self.conn.execute(banks.update().where(banks.c.id == local.id).values(**fields))
            payload = snapshot | {"uuid": wire.uuid, "name": local.name}
            payload |= {"origin_node": wire.origin_node, "previous_distribution": old.distribution}
            self.log.append(
                (ChangeKind.BANK_UPDATED, wire.uuid, None, payload | {"via": self.peer})
            )
        self.applied.banks += 1
        return local

    def bank_reload(self, uuid: str) -> _LocalBank | None:
        self._banks.pop(uuid, None)
        return self.bank(uuid)

    def drop_bank(self, uuid: str) -> None:
        """Delete a mirror with all its entries (a deletion or a loss of access upstream)."""
        local = self.bank(uuid)
        if local is None:
            return
        by_type: dict[str, list[int]] = {}
        q = sa.select(signals.c.signal_type, signals.c.id).where(signals.c.bank_id == local.id)
        for signal_type, signal_id in self.conn.execute(q):
            by_type.setdefault(signal_type, []).append(int(signal_id))
        self.conn.execute(signals.delete().where(signals.c.bank_id == local.id))
        self.conn.execute(entries.delete().where(entries.c.bank_id == local.id))
        self.conn.execute(banks.delete().where(banks.c.id == local.id))
        self.conn.execute(mirrors.delete().where(mirrors.c.bank_uuid == uuid))
        payload = {"uuid": uuid, "name": local.name, "signal_ids": by_type, "via": self.peer}
        self.log.append((ChangeKind.BANK_DELETED, uuid, None, payload))
        self._banks[uuid] = None
        self.applied.banks += 1

    # -- entries -----------------------------------------------------------------------------

    def upsert_entries(self, bank: _LocalBank, batch: Sequence[EntryWire]) -> None:
        """Insert or update entries of a mirror from their snapshots (the last one wins)."""
        latest = {e["uuid"]: e for e in batch if e["origin_node"] != self.local_node}
        for start in range(0, len(latest), _CHUNK):
            self._upsert_chunk(bank, list(latest.values())[start : start + _CHUNK])

    def _upsert_chunk(self, bank: _LocalBank, chunk: list[EntryWire]) -> None:
        have = self._held(bank, chunk)
        normal = {e["uuid"]: _normal_signals(e) for e in chunk}
        fresh = [e for e in chunk if e["uuid"] not in have]
        old = [e for e in chunk if e["uuid"] in have]
        ids: dict[str, int] = dict(have)
        if fresh:
            # Keys are given here, not read back: this transaction is the only writer.
            new_ids = _new_ids(self.conn, entries, len(fresh))
            ids.update(zip([e["uuid"] for e in fresh], new_ids, strict=True))
            names = ("id", "uuid", "disputed", *_ROW_FIELDS)
            rows = [(ids[e["uuid"]], e["uuid"], False, *self._row_values(bank, e)) for e in fresh]
            _bulk_insert(self.conn, entries, names, rows)
        stored: dict[int, list[dict[str, Any]]] = {}
        replace: list[EntryWire] = list(fresh)
        if old:
            self._update(bank, old, have)
            q = sa.select(signals).where(
                _in(self.conn, signals.c.entry_id, [have[e["uuid"]] for e in old])
            )
            for s in self.conn.execute(q.order_by(signals.c.id)):
                stored.setdefault(int(s.entry_id), []).append(
                    {"id": int(s.id), "type": s.signal_type, "value": s.value, "quality": s.quality}
                )
            for e in old:
                now = stored.get(have[e["uuid"]], [])
                if {(s["type"], s["value"], s["quality"]) for s in now} != set(normal[e["uuid"]]):
                    replace.append(e)
            changed = [have[e["uuid"]] for e in replace if e["uuid"] in have]
            if changed:
                self.conn.execute(
                    signals.delete().where(_in(self.conn, signals.c.entry_id, changed))
                )
                for entry_id in changed:
                    stored.pop(entry_id, None)
        self._insert_signals(bank, [(ids[e["uuid"]], normal[e["uuid"]]) for e in replace], stored)
        for e in chunk:
            uuid = e["uuid"]
            kind = ChangeKind.ENTRY_UPDATED if uuid in have else ChangeKind.ENTRY_ADDED
            payload = self._payload(bank, e, stored.get(ids[uuid], []))
            self.log.append((kind, bank.uuid, uuid, payload))
        self.applied.entries += len(chunk)

    def _held(self, bank: _LocalBank, chunk: list[EntryWire]) -> dict[str, int]:
        """The local ids of the chunk's entries this node has already (in this bank only)."""
        have: dict[str, int] = {}
        q = sa.select(entries.c.id, entries.c.uuid, entries.c.bank_id).where(
            _in(self.conn, entries.c.uuid, [e["uuid"] for e in chunk])
        )
        found = self.conn.execute(q).all()
        for entry_id, uuid, bank_id in found:
            if int(bank_id) != bank.id:
                raise PeerError(f"entry {uuid} already belongs to another bank here")
            have[uuid] = int(entry_id)
        return have

    def _update(self, bank: _LocalBank, old: list[EntryWire], have: dict[str, int]) -> None:
        self.conn.execute(
            entries.update()
            .where(entries.c.id == sa.bindparam("b_id"))
            .values({k: sa.bindparam(f"b_{k}") for k in self._row(bank, old[0])}),
            [
                {f"b_{k}": v for k, v in self._row(bank, e).items()} | {"b_id": have[e["uuid"]]}
                for e in old
            ],
        )

    def _insert_signals(
        self,
        bank: _LocalBank,
        wanted: list[tuple[int, list[tuple[str, str, int | None]]]],
        stored: dict[int, list[dict[str, Any]]],
    ) -> None:
        """Insert (entry id, signals) and note each signal, with its new id, in ``stored``."""
        count = sum(len(held) for _, held in wanted)
        if not count:
            return
        new_ids = iter(_new_ids(self.conn, signals, count))
        rows: list[tuple[int, int, int, str, str, str, int | None]] = []
        for entry_id, held in wanted:
            listed = stored.setdefault(entry_id, [])
            for t, v, q in held:
                signal_id = next(new_ids)
                rows.append((signal_id, entry_id, bank.id, t, v, value_key(v), q))
                listed.append({"id": signal_id, "type": t, "value": v, "quality": q})
        _bulk_insert(self.conn, signals, _SIGNAL_COLUMNS, rows)

    def _row_values(self, bank: _LocalBank, e: EntryWire) -> tuple[Any, ...]:
        """The ``_ROW_FIELDS`` of an entry's row."""
        return (
            bank.id,
            _labels(e["labels"]),
            e["inclusion_criterion"],
            e["status"],
            e["created_by"],
            _utc(e["created_at"])[0],
            _utc(e["updated_at"])[0],
            e["source"],
            e["note"],
            e["origin_node"],
            e["origin_org"],
            e["origin_uuid"],
        )

    def _row(self, bank: _LocalBank, e: EntryWire) -> dict[str, Any]:
        return dict(zip(_ROW_FIELDS, self._row_values(bank, e), strict=True))

    def _payload(
        self, bank: _LocalBank, e: EntryWire, stored: list[dict[str, Any]]
    ) -> dict[str, Any]:
        return {
            "uuid": e["uuid"],
            "bank": bank.name,
            "labels": _labels(e["labels"]),
            "inclusion_criterion": e["inclusion_criterion"],
            "status": e["status"],
            "created_by": e["created_by"],
            "created_at": _utc(e["created_at"])[1],
            "updated_at": _utc(e["updated_at"])[1],
            "source": e["source"],
            "note": e["note"],
            "signals": stored,
            "origin_node": e["origin_node"],
            "origin_org": e["origin_org"],
            "origin_uuid": e["origin_uuid"],
            "opinions": dict(e["opinions"]),
            "via": self.peer,
        }

    def remove_entry(self, bank: _LocalBank, uuid: str) -> None:
        """Delete a mirrored entry (a tombstone upstream)."""
        where = sa.and_(entries.c.bank_id == bank.id, entries.c.uuid == uuid)
        row = self.conn.execute(sa.select(entries.c.id, entries.c.origin_node).where(where)).first()
        if row is None or row.origin_node == self.local_node:
            return
        q = sa.select(signals).where(signals.c.entry_id == row.id)
        held = [
            {"id": int(s.id), "type": s.signal_type, "value": s.value} for s in self.conn.execute(q)
        ]
        self.conn.execute(signals.delete().where(signals.c.entry_id == row.id))
        self.conn.execute(entries.delete().where(entries.c.id == row.id))
        payload = {"uuid": uuid, "bank": bank.name, "signals": held, "via": self.peer}
        self.log.append((ChangeKind.ENTRY_REMOVED, bank.uuid, uuid, payload))
        self.applied.removed += 1

    def opinion(self, bank: _LocalBank, change: ChangeWire) -> None:
        """Record an opinion of the peer's organisation on a mirrored entry (once)."""
        o = change["opinion"]
        if o is None or o.origin_node == self.local_node:
            return
        row = self.conn.execute(
            sa.select(entries.c.id).where(entries.c.bank_id == bank.id, entries.c.uuid == o.entry)
        ).first()
        if row is None:
            return
        current = next(
            (c for c in opinions.current(self.conn, int(row.id)) if c.org == o.org), None
        )
        same = current is not None and (current.verdict.value, current.reason) == (
            o.verdict,
            o.reason,
        )
        if same:
            return
        entry_id = int(row.id)
        flipped = opinions.upsert(
            self.conn, entry_id, o.org, Verdict(o.verdict), o.reason, o.origin_node, o.updated_at
        )
        entry = self._stored_payload(bank, entry_id)
        payload = {"opinion": o.model_dump(mode="json"), "entry": entry, "via": self.peer}
        self.log.append((ChangeKind.OPINION_SET, bank.uuid, o.entry, payload))
        if flipped:
            self.log.append((ChangeKind.ENTRY_UPDATED, bank.uuid, o.entry, entry))
        self.applied.opinions += 1

    def _stored_payload(self, bank: _LocalBank, entry_id: int) -> dict[str, Any]:
        """A mirrored entry's change-log payload, read back from the tables."""
        r = self.conn.execute(sa.select(entries).where(entries.c.id == entry_id)).one()
        q = sa.select(signals).where(signals.c.entry_id == entry_id).order_by(signals.c.id)
        held = [
            {"id": int(s.id), "type": s.signal_type, "value": s.value, "quality": s.quality}
            for s in self.conn.execute(q)
        ]
        return {
            "uuid": r.uuid,
            "bank": bank.name,
            "labels": list(r.labels),
            "inclusion_criterion": r.inclusion_criterion,
            "status": opinions.rolled_status(r.status, bool(r.disputed)).value,
            "created_by": r.created_by,
            "created_at": as_utc(r.created_at).isoformat(),
            "updated_at": as_utc(r.updated_at).isoformat(),
            "source": r.source,
            "note": r.note,
            "signals": held,
            "origin_node": r.origin_node,
            "origin_org": r.origin_org,
            "origin_uuid": r.origin_uuid,
            "opinions": dict(opinions.counts(self.conn, [entry_id]).get(entry_id, ())),
            "via": self.peer,
        }


def apply_page(conn: Connection, page: ChangesPage, *, peer: str, local_node: str) -> Applied:
    """Apply a page of a peer's changes (as ``exchange.protocol.read_page`` gives it), in order,
    inside the caller's transaction."""
    applier = _Applier(conn, peer, local_node)
    pending: list[EntryWire] = []
    pending_bank: _LocalBank | None = None

    def flush() -> None:
        nonlocal pending, pending_bank
        if pending and pending_bank is not None:
            applier.upsert_entries(pending_bank, pending)
        pending, pending_bank = [], None

    def bank_for(uuid: str) -> _LocalBank | None:
        local = applier.bank(uuid)
        if local is None and uuid in page["banks"]:
            local = applier.upsert_bank(page["banks"][uuid])
        return local

    for change in page["changes"]:
        kind, bank_uuid, entry = change["kind"], change["bank_uuid"], change["entry"]
        if kind in ("entry_added", "entry_updated") and entry is not None:
            if pending_bank is None or pending_bank.uuid != bank_uuid:
                flush()
                pending_bank = bank_for(bank_uuid)
            if pending_bank is not None:
                pending.append(entry)
            continue
        flush()
        seq = change["seq"]
        if kind in ("bank_created", "bank_updated", "bank_granted"):
            wire = change["bank"]
            if wire is None:
                raise PeerError(f"change {seq}: {kind} without the bank")
            if wire.uuid != bank_uuid:
                raise PeerError(f"change {seq}: bank uuid mismatch")
            applier.upsert_bank(wire)
        elif kind in ("bank_deleted", "bank_revoked"):
            applier.drop_bank(bank_uuid)
        elif kind == "entry_removed":
            local = applier.bank(bank_uuid)
            if local is not None and change["entry_uuid"] is not None:
                applier.remove_entry(local, change["entry_uuid"])
        elif kind == "opinion_set":
            local = bank_for(bank_uuid)
            if local is not None:
                if entry is not None:
                    applier.upsert_entries(local, [entry])
                applier.opinion(local, change)
        else:
            raise PeerError(f"change {seq}: {kind} without its payload")
    flush()
    changelog.append(conn, applier.log)
    if applier.log:
        _audit(conn, page, peer, applier)
    return applier.applied


def _audit(conn: Connection, page: ChangesPage, peer: str, applier: _Applier) -> None:
    """One audit record for a page that changed this node's mirrors."""
    done = applier.applied
    detail = {
        "peer": peer,
        "changes": len(page["changes"]),
        "first_seq": page["changes"][0]["seq"] if page["changes"] else None,
        "next_after": page["next_after"],
        "banks": done.banks,
        "entries": done.entries,
        "removed": done.removed,
        "opinions": done.opinions,
        "bank_uuids": audit.sample(dict.fromkeys(b for _, b, _, _ in applier.log)),
        "entry_uuids": audit.sample(dict.fromkeys(e for _, _, e, _ in applier.log if e)),
    }
    audit.append(
        conn, org="node", actor="sync", kind="mirror.applied", subject=f"peer:{peer}", detail=detail
    )
