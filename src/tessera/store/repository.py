"""The store: banks, entries and their signals, with every write logged in the change log.

Each public method is one transaction. Writes append their changes in that same transaction, so
the log and the tables can never disagree; an interrupted bulk add leaves nothing behind. Each
write also appends one record to the audit log (``review.audit``) in that transaction: a batch
(``add_entries``) gets one record with its counts and the first uuids, not one per entry. Writes
take an optional ``actor``, the organisation acting (default: the node's own).
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from tessera.errors import Conflict, InputError, NotFound
from tessera.review import audit
from tessera.store import changelog, opinions
from tessera.store.db import Database, as_utc, utcnow
from tessera.store.orgs import check_distribution, check_name, node_uuid
from tessera.store.records import (
    Bank,
    Change,
    ChangeKind,
    Entry,
    EntryStatus,
    NewEntry,
    Opinion,
    SignalOwner,
    StoredSignal,
    Verdict,
)
from tessera.store.tables import banks, changes, entries, signals, value_key

_CHUNK = 500


@dataclass(frozen=True, slots=True)
class AddResult:
    """What ``add_entries`` did: entries added, and entries skipped as already present."""

    added: list[Entry]
    duplicates: list[tuple[NewEntry, str]]


def _bank_from_row(r: Row[Any]) -> Bank:
    return Bank(
        id=int(r.id),
        uuid=r.uuid,
        name=r.name,
        description=r.description,
        owner_org=r.owner_org,
        labels=tuple(r.labels),
        inclusion_criterion=r.inclusion_criterion,
        distribution=r.distribution,
        thresholds={str(k): int(v) for k, v in dict(r.thresholds).items()},
        enabled=bool(r.enabled),
        created_at=as_utc(r.created_at),
        updated_at=as_utc(r.updated_at),
        origin_node=r.origin_node,
    )


def _identity(signal_set: Iterable[tuple[str, str]]) -> frozenset[tuple[str, str]]:
    """What makes two entries the same item: their file digests if any, else all signals."""
    pairs = frozenset(signal_set)
    digests = frozenset(p for p in pairs if p[0] in ("md5", "sha256"))
    return digests or pairs


class Store:
    """Banks, entries, signals and the change log over one database."""

    def __init__(self, db: Database, *, node_org: str = "local") -> None:
        self.db = db
        self.node_org = node_org
        self._node_id: str | None = None

    @property
    def node_id(self) -> str:
        """This node's identity (a uuid stored in the database), recorded as origin_node."""
        if self._node_id is None:
            with self.db.read() as conn:
                self._node_id = node_uuid(conn)
        return self._node_id

    # -- banks ---------------------------------------------------------------------------------

    def create_bank(
        self,
        name: str,
        *,
        description: str = "",
        labels: Sequence[str] = (),
        inclusion_criterion: str = "",
        distribution: str = "owner",
        thresholds: dict[str, int] | None = None,
        owner_org: str | None = None,
        actor: str | None = None,
    ) -> Bank:
        """Create a bank; Conflict when the name is taken."""
        check_name("bank", name)
        check_distribution(distribution)
        now = utcnow()
        row = {
            "uuid": str(uuidlib.uuid4()),
            "name": name,
            "description": description,
            "owner_org": owner_org or self.node_org,
            "labels": sorted(set(labels)),
            "inclusion_criterion": inclusion_criterion,
            "distribution": distribution,
            "thresholds": dict(thresholds or {}),
            "enabled": True,
            "created_at": now,
            "updated_at": now,
            "origin_node": self.node_id,
        }
        with self.db.write() as conn:
            if conn.execute(sa.select(banks.c.id).where(banks.c.name == name)).first():
                raise Conflict(f"bank {name!r} already exists")
            conn.execute(banks.insert(), row)
            bank = self._bank(conn, name)
            changelog.append(conn, [(ChangeKind.BANK_CREATED, bank.uuid, None, bank.snapshot())])
            detail = {"owner_org": bank.owner_org, "distribution": bank.distribution}
            self._audit(conn, actor, "bank.created", bank, detail)
        return bank

    def _audit(
        self, conn: Connection, actor: str | None, kind: str, bank: Bank, detail: dict[str, Any]
    ) -> None:
        who = actor or self.node_org
        detail = {"bank_uuid": bank.uuid} | detail
        audit.append(
            conn, org=who, actor=who, kind=kind, subject=f"bank:{bank.name}", detail=detail
        )

    def _bank(self, conn: Connection, name: str) -> Bank:
        row = conn.execute(sa.select(banks).where(banks.c.name == name)).first()
        if row is None:
            raise NotFound(f"no bank named {name!r}")
        return _bank_from_row(row)

    def get_bank(self, name: str) -> Bank:
        """The bank called ``name``; NotFound otherwise."""
        with self.db.read() as conn:
            return self._bank(conn, name)

    def list_banks(self) -> list[tuple[Bank, dict[str, int]]]:
        """Every bank with its entry counts by status."""
        with self.db.read() as conn:
            counts: dict[int, dict[str, int]] = {}
            by = (entries.c.bank_id, entries.c.status, entries.c.disputed)
            q = sa.select(*by, sa.func.count()).group_by(*by)
            for bank_id, status, disputed, n in conn.execute(q):
                rolled = opinions.rolled_status(status, bool(disputed)).value
                bank_counts = counts.setdefault(int(bank_id), {})
                bank_counts[rolled] = bank_counts.get(rolled, 0) + int(n)
            rows = conn.execute(sa.select(banks).order_by(banks.c.name)).all()
            return [(_bank_from_row(r), counts.get(int(r.id), {})) for r in rows]

    def update_bank(self, name: str, *, actor: str | None = None, **fields: Any) -> Bank:
        """Change a bank's description, labels, criterion, distribution, thresholds or enabled."""
        allowed = {"description", "labels", "inclusion_criterion", "distribution", "thresholds"}
        allowed.add("enabled")
        unknown = set(fields) - allowed
        if unknown:
            raise InputError(f"cannot update bank field(s): {', '.join(sorted(unknown))}")
        if "distribution" in fields:
            check_distribution(fields["distribution"])
        if "labels" in fields:
            fields["labels"] = sorted(set(fields["labels"]))
        with self.db.write() as conn:
            old = self._bank(conn, name)
            conn.execute(
                banks.update().where(banks.c.id == old.id).values(updated_at=utcnow(), **fields)
            )
            bank = self._bank(conn, name)
            # The previous distribution lets the feed withdraw the bank from orgs that lost access.
            payload = bank.snapshot() | {"previous_distribution": old.distribution}
            changelog.append(conn, [(ChangeKind.BANK_UPDATED, bank.uuid, None, payload)])
            changed = {k: getattr(bank, k) for k in sorted(fields)}
            self._audit(conn, actor, "bank.updated", bank, {"fields": changed})
        return bank

    def delete_bank(self, name: str, *, actor: str | None = None) -> int:
        """Delete a bank with all its entries; returns how many entries went with it."""
        with self.db.write() as conn:
            bank = self._bank(conn, name)
            ids = conn.execute(
                sa.select(signals.c.signal_type, signals.c.id).where(signals.c.bank_id == bank.id)
            ).all()
            n = conn.execute(
                sa.select(sa.func.count()).where(entries.c.bank_id == bank.id)
            ).scalar_one()
            by_type: dict[str, list[int]] = {}
            for signal_type, signal_id in ids:
                by_type.setdefault(signal_type, []).append(int(signal_id))
            conn.execute(signals.delete().where(signals.c.bank_id == bank.id))
            conn.execute(entries.delete().where(entries.c.bank_id == bank.id))
            conn.execute(banks.delete().where(banks.c.id == bank.id))
            payload = {"uuid": bank.uuid, "name": bank.name, "signal_ids": by_type}
            changelog.append(conn, [(ChangeKind.BANK_DELETED, bank.uuid, None, payload)])
            self._audit(conn, actor, "bank.deleted", bank, {"entries": int(n)})
        return int(n)

    # -- entries -------------------------------------------------------------------------------

    def add_entries(
        self, bank_name: str, new: Iterable[NewEntry], *, actor: str | None = None
    ) -> AddResult:
        """Add entries in one transaction; ones already in the bank are skipped, not added twice.

        An entry is already present when the bank has its uuid, or when an entry of the bank that is
        not retired has the same identity (the same file digest, or without one the same signals).
        An entry whose uuid another bank holds is a copy and gets a new uuid.
        """
        added: list[Entry] = []
        duplicates: list[tuple[NewEntry, str]] = []
        with self.db.write() as conn:
            bank = self._bank(conn, bank_name)
            chunk: list[NewEntry] = []
            for item in new:
                chunk.append(item)
                if len(chunk) >= _CHUNK:
                    self._add_chunk(conn, bank, chunk, added, duplicates)
                    chunk = []
            self._add_chunk(conn, bank, chunk, added, duplicates)
            if added:
                detail: dict[str, Any] = {"added": len(added), "duplicates": len(duplicates)}
                detail["entries"] = audit.sample(e.uuid for e in added)
                self._audit(conn, actor, "entries.added", bank, detail)
        return AddResult(added, duplicates)

    def _existing_identities(
        self, conn: Connection, bank: Bank, chunk: Sequence[NewEntry]
    ) -> dict[frozenset[tuple[str, str]], str]:
        by_type: dict[str, set[str]] = {}
        for e in chunk:
            for s in e.signals:
                by_type.setdefault(s.type, set()).add(value_key(s.value))
        entry_ids: dict[int, str] = {}
        for signal_type, keys in sorted(by_type.items()):
            # Looked up through the (signal_type, value_key) index, the bank filtered here: with
            # bank_id in the WHERE clause SQLite walks the bank_id index, a scan of the whole bank
            # for every chunk (quadratic in the bank's size).
            q = (
                sa.select(entries.c.uuid, signals.c.entry_id, signals.c.bank_id)
                .join(entries, signals.c.entry_id == entries.c.id)
                .where(
                    signals.c.signal_type == signal_type,
                    signals.c.value_key.in_(sorted(keys)),
                    entries.c.status != EntryStatus.RETIRED.value,
                )
            )
            for r in conn.execute(q):
                if int(r.bank_id) == bank.id:
                    entry_ids[int(r.entry_id)] = r.uuid
        if not entry_ids:
            return {}
        pairs: dict[int, set[tuple[str, str]]] = {}
        q2 = sa.select(signals.c.entry_id, signals.c.signal_type, signals.c.value).where(
            signals.c.entry_id.in_(sorted(entry_ids))
        )
        for entry_id, signal_type, value in conn.execute(q2):
            pairs.setdefault(int(entry_id), set()).add((signal_type, value))
        return {_identity(p): entry_ids[eid] for eid, p in pairs.items()}

    def _add_chunk(
        self,
        conn: Connection,
        bank: Bank,
        chunk: Sequence[NewEntry],
        added: list[Entry],
        duplicates: list[tuple[NewEntry, str]],
    ) -> None:
        if not chunk:
            return
        known = self._existing_identities(conn, bank, chunk)
        wanted_uuids = [e.uuid for e in chunk if e.uuid]
        taken: set[str] = set()  # uuids of this bank's entries
        elsewhere: set[str] = set()  # uuids held by entries of other banks
        if wanted_uuids:
            q = sa.select(entries.c.uuid, entries.c.bank_id).where(entries.c.uuid.in_(wanted_uuids))
            for r in conn.execute(q):
                (taken if int(r.bank_id) == bank.id else elsewhere).add(r.uuid)
        now = utcnow()
        fresh: list[tuple[NewEntry, dict[str, Any]]] = []
        for item in chunk:
            if not item.signals:
                raise InputError("an entry needs at least one signal")
            ident = _identity((s.type, s.value) for s in item.signals)
            if item.uuid and item.uuid in taken:
                duplicates.append((item, item.uuid))
                continue
            if ident in known:
                duplicates.append((item, known[ident]))
                continue
            # A uuid another bank holds makes this entry a copy, which gets its own uuid.
            reuse = item.uuid and item.uuid not in elsewhere
            entry_uuid = item.uuid if reuse and item.uuid else str(uuidlib.uuid4())
            known[ident] = entry_uuid
            taken.add(entry_uuid)
            fresh.append(
                (
                    item,
                    {
                        "uuid": entry_uuid,
                        "bank_id": bank.id,
                        "labels": sorted(set(item.labels)),
                        "inclusion_criterion": item.inclusion_criterion,
                        "status": item.status.value,
                        "created_by": item.created_by or self.node_org,
                        "created_at": item.created_at or now,
                        "updated_at": now,
                        "source": item.source,
                        "note": item.note,
                        "origin_node": item.origin_node or self.node_id,
                        "origin_org": item.origin_org or item.created_by or self.node_org,
                        "origin_uuid": item.origin_uuid or entry_uuid,
                    },
                )
            )
        if not fresh:
            return
        ids = conn.execute(
            entries.insert().returning(entries.c.id, sort_by_parameter_order=True),
            [row for _, row in fresh],
        ).scalars()
        signal_rows = []
        for entry_id, (item, _) in zip(ids, fresh, strict=True):
            seen: set[tuple[str, str]] = set()
            for s in item.signals:
                if (s.type, s.value) in seen:
                    continue
                seen.add((s.type, s.value))
                signal_rows.append(
                    {
                        "entry_id": int(entry_id),
                        "bank_id": bank.id,
                        "signal_type": s.type,
                        "value": s.value,
                        "value_key": value_key(s.value),
                        "quality": s.quality,
                    }
                )
        conn.execute(signals.insert(), signal_rows)
        new_entries = self._entries_where(conn, entries.c.uuid.in_([r["uuid"] for _, r in fresh]))
        changelog.append(
            conn,
            [(ChangeKind.ENTRY_ADDED, bank.uuid, e.uuid, e.feed_snapshot()) for e in new_entries],
        )
        added.extend(new_entries)

    def _entries_where(
        self, conn: Connection, condition: sa.ColumnElement[bool], limit: int | None = None
    ) -> list[Entry]:
        q = (
            sa.select(entries, banks.c.name.label("bank_name"))
            .join(banks, banks.c.id == entries.c.bank_id)
            .where(condition)
            .order_by(entries.c.id)
        )
        if limit is not None:
            q = q.limit(limit)
        rows = conn.execute(q).all()
        if not rows:
            return []
        by_entry: dict[int, list[StoredSignal]] = {}
        q2 = (
            sa.select(signals)
            .where(signals.c.entry_id.in_([int(r.id) for r in rows]))
            .order_by(signals.c.id)
        )
        for s in conn.execute(q2):
            by_entry.setdefault(int(s.entry_id), []).append(
                StoredSignal(int(s.id), s.signal_type, s.value, s.quality)
            )
        verdicts = opinions.counts(conn, [int(r.id) for r in rows])
        return [
            Entry(
                id=int(r.id),
                uuid=r.uuid,
                bank_name=r.bank_name,
                labels=tuple(r.labels),
                inclusion_criterion=r.inclusion_criterion,
                status=opinions.rolled_status(r.status, bool(r.disputed)),
                created_by=r.created_by,
                created_at=as_utc(r.created_at),
                updated_at=as_utc(r.updated_at),
                source=r.source,
                note=r.note,
                signals=tuple(by_entry.get(int(r.id), ())),
                origin_node=r.origin_node,
                origin_org=r.origin_org,
                origin_uuid=r.origin_uuid,
                opinions=verdicts.get(int(r.id), ()),
            )
            for r in rows
        ]

    def _entry(self, conn: Connection, bank: Bank, entry_ref: str) -> Entry:
        condition = sa.and_(entries.c.bank_id == bank.id, entries.c.uuid == entry_ref)
        found = self._entries_where(conn, condition)
        if not found and len(entry_ref) >= 6:
            # Accept a unique uuid prefix, as people copy them from listings.
            prefix = sa.and_(entries.c.bank_id == bank.id, entries.c.uuid.startswith(entry_ref))
            found = self._entries_where(conn, prefix, limit=2)
            if len(found) > 1:
                raise InputError(f"entry prefix {entry_ref!r} is ambiguous in bank {bank.name!r}")
        if not found:
            raise NotFound(f"no entry {entry_ref!r} in bank {bank.name!r}")
        return found[0]

    def get_entry(self, bank_name: str, entry_ref: str) -> Entry:
        """An entry of a bank by uuid (or a unique uuid prefix of 6+ characters)."""
        with self.db.read() as conn:
            return self._entry(conn, self._bank(conn, bank_name), entry_ref)

    def iter_entries(self, bank_name: str, *, include_retired: bool = True) -> Iterator[Entry]:
        """Every entry of a bank in insertion order, read in pages (for export and listing)."""
        with self.db.read() as conn:
            bank = self._bank(conn, bank_name)
        after = 0
        while True:
            with self.db.read() as conn:
                condition = sa.and_(entries.c.bank_id == bank.id, entries.c.id > after)
                if not include_retired:
                    condition = sa.and_(condition, entries.c.status != EntryStatus.RETIRED.value)
                page = self._entries_where(conn, condition, limit=_CHUNK)
            if not page:
                return
            yield from page
            after = page[-1].id

    def entries_page(
        self, bank_name: str, after: int = 0, limit: int = 100, *, include_retired: bool = True
    ) -> list[Entry]:
        """Up to ``limit`` entries of a bank whose row id is over ``after``, in insertion order."""
        with self.db.read() as conn:
            bank = self._bank(conn, bank_name)
            condition = sa.and_(entries.c.bank_id == bank.id, entries.c.id > after)
            if not include_retired:
                condition = sa.and_(condition, entries.c.status != EntryStatus.RETIRED.value)
            return self._entries_where(conn, condition, limit=limit)

    def set_entry_status(
        self, bank_name: str, entry_ref: str, status: EntryStatus, *, actor: str | None = None
    ) -> Entry:
        """Set an entry's status (retire it, mark it disputed, reactivate it)."""
        with self.db.write() as conn:
            bank = self._bank(conn, bank_name)
            entry = self._entry(conn, bank, entry_ref)
            conn.execute(
                entries.update()
                .where(entries.c.id == entry.id)
                .values(status=status.value, updated_at=utcnow())
            )
            entry = self._entry(conn, bank, entry.uuid)
            changelog.append(
                conn, [(ChangeKind.ENTRY_UPDATED, bank.uuid, entry.uuid, entry.feed_snapshot())]
            )
            detail = {"entry": entry.uuid, "status": status.value}
            self._audit(conn, actor, "entry.updated", bank, detail)
        return entry

    def update_entry(
        self, bank_name: str, entry_ref: str, *, actor: str | None = None, **fields: Any
    ) -> Entry:
        """Change an entry's labels, inclusion criterion or note."""
        unknown = set(fields) - {"labels", "inclusion_criterion", "note"}
        if unknown:
            raise InputError(f"cannot update entry field(s): {', '.join(sorted(unknown))}")
        if "labels" in fields:
            fields["labels"] = sorted(set(fields["labels"]))
        with self.db.write() as conn:
            bank = self._bank(conn, bank_name)
            entry = self._entry(conn, bank, entry_ref)
            q = entries.update().where(entries.c.id == entry.id)
            conn.execute(q.values(updated_at=utcnow(), **fields))
            entry = self._entry(conn, bank, entry.uuid)
            changelog.append(
                conn, [(ChangeKind.ENTRY_UPDATED, bank.uuid, entry.uuid, entry.feed_snapshot())]
            )
            detail = {"entry": entry.uuid, "fields": fields}
            self._audit(conn, actor, "entry.updated", bank, detail)
        return entry

    def set_opinion(
        self,
        bank_name: str,
        entry_ref: str,
        org: str,
        verdict: Verdict,
        reason: str = "",
        origin_node: str | None = None,
    ) -> tuple[Opinion, Entry]:
        """Set an organisation's opinion of an entry; a dispute rolls up into its status."""
        if len(reason) > opinions.MAX_REASON_CHARS:
            raise InputError(f"reason is over {opinions.MAX_REASON_CHARS} characters")
        if verdict is Verdict.DISPUTED and not reason.strip():
            raise InputError("a dispute needs a reason")
        with self.db.write() as conn:
            bank = self._bank(conn, bank_name)
            entry = self._entry(conn, bank, entry_ref)
            node = origin_node or self.node_id
            flipped = opinions.upsert(conn, entry.id, org, verdict, reason, node, utcnow())
            entry = self._entry(conn, bank, entry.uuid)
            opinion = next(o for o in opinions.current(conn, entry.id) if o.org == org)
            payload = {"opinion": opinion.snapshot(), "entry": entry.feed_snapshot()}
            rows: list[changelog.ChangeRow] = [
                (ChangeKind.OPINION_SET, bank.uuid, entry.uuid, payload)
            ]
            if flipped:
                rows.append(
                    (ChangeKind.ENTRY_UPDATED, bank.uuid, entry.uuid, entry.feed_snapshot())
                )
            changelog.append(conn, rows)
            detail = {"entry": entry.uuid, "verdict": verdict.value, "reason": reason}
            self._audit(conn, org, "opinion.set", bank, detail)
        return opinion, entry

    def get_opinions(
        self, bank_name: str, entry_ref: str, *, include_history: bool = False
    ) -> list[Opinion]:
        """The current opinions on an entry (or, with ``include_history``, every verdict given)."""
        with self.db.read() as conn:
            entry = self._entry(conn, self._bank(conn, bank_name), entry_ref)
            if include_history:
                return opinions.history(conn, entry.id)
            return opinions.current(conn, entry.id)

    def delete_entry(self, bank_name: str, entry_ref: str, *, actor: str | None = None) -> Entry:
        """Delete an entry outright (a tombstone stays in the change log)."""
        with self.db.write() as conn:
            bank = self._bank(conn, bank_name)
            entry = self._entry(conn, bank, entry_ref)
            conn.execute(signals.delete().where(signals.c.entry_id == entry.id))
            conn.execute(entries.delete().where(entries.c.id == entry.id))
            changelog.append(
                conn, [(ChangeKind.ENTRY_REMOVED, bank.uuid, entry.uuid, entry.feed_snapshot())]
            )
            self._audit(conn, actor, "entry.removed", bank, {"entry": entry.uuid})
        return entry

    # -- matching support ----------------------------------------------------------------------

    def iter_matchable_signals(
        self, signal_type: str, page: int = 200_000
    ) -> Iterator[list[tuple[int, str]]]:
        """(signal id, value) of every signal that can match: active or disputed, bank enabled."""
        after = 0
        while True:
            q = (
                sa.select(signals.c.id, signals.c.value)
                .join(entries, entries.c.id == signals.c.entry_id)
                .join(banks, banks.c.id == signals.c.bank_id)
                .where(
                    signals.c.signal_type == signal_type,
                    signals.c.id > after,
                    entries.c.status != EntryStatus.RETIRED.value,
                    banks.c.enabled.is_(True),
                )
                .order_by(signals.c.id)
                .limit(page)
            )
            with self.db.read() as conn:
                rows = [(int(i), v) for i, v in conn.execute(q)]
            if not rows:
                return
            yield rows
            after = rows[-1][0]

    def resolve_signals(self, ids: Iterable[int]) -> dict[int, SignalOwner]:
        """The entry and bank that hold each signal id (ids no longer stored are left out)."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        found: dict[int, SignalOwner] = {}
        with self.db.read() as conn:
            bank_cache: dict[int, Bank] = {}
            for start in range(0, len(wanted), 5000):
                q = (
                    sa.select(
                        signals,
                        entries.c.uuid.label("entry_uuid"),
                        entries.c.labels.label("entry_labels"),
                        entries.c.status.label("entry_status"),
                        entries.c.disputed,
                        entries.c.created_by,
                    )
                    .join(entries, entries.c.id == signals.c.entry_id)
                    .where(signals.c.id.in_(wanted[start : start + 5000]))
                )
                for r in conn.execute(q):
                    bank_id = int(r.bank_id)
                    if bank_id not in bank_cache:
                        brow = conn.execute(sa.select(banks).where(banks.c.id == bank_id)).one()
                        bank_cache[bank_id] = _bank_from_row(brow)
                    found[int(r.id)] = SignalOwner(
                        signal=StoredSignal(int(r.id), r.signal_type, r.value, r.quality),
                        entry_uuid=r.entry_uuid,
                        entry_labels=tuple(r.entry_labels),
                        entry_status=opinions.rolled_status(r.entry_status, bool(r.disputed)),
                        created_by=r.created_by,
                        bank=bank_cache[bank_id],
                    )
        return found

    # -- change log ----------------------------------------------------------------------------

    def latest_seq(self) -> int:
        """The newest committed change-log sequence number."""
        with self.db.read() as conn:
            return changelog.latest_seq(conn)

    def changes_after(self, after: int, limit: int = 1000) -> list[Change]:
        """Up to ``limit`` changes after sequence ``after``, oldest first."""
        with self.db.read() as conn:
            return changelog.changes_after(conn, after, limit)

    # -- sync support --------------------------------------------------------------------------

    def banks_by_uuid(self, uuids: Iterable[str]) -> dict[str, Bank]:
        """The banks with these uuids that exist now, by uuid."""
        wanted = sorted(set(uuids))
        if not wanted:
            return {}
        with self.db.read() as conn:
            rows = conn.execute(sa.select(banks).where(banks.c.uuid.in_(wanted))).all()
        return {r.uuid: _bank_from_row(r) for r in rows}

    def last_bank_snapshot(self, bank_uuid: str) -> dict[str, Any] | None:
        """The newest bank snapshot the change log holds for a bank (a deleted one too)."""
        kinds = [ChangeKind.BANK_CREATED.value, ChangeKind.BANK_UPDATED.value]
        q = (
            sa.select(changes.c.payload)
            .where(changes.c.bank_uuid == bank_uuid, changes.c.kind.in_(kinds))
            .order_by(changes.c.seq.desc())
            .limit(1)
        )
        with self.db.read() as conn:
            payload = conn.execute(q).scalar()
        return dict(payload) if payload is not None else None

    def bank_changes_after(
        self, bank_uuid: str, after: int, until: int, limit: int
    ) -> list[Change]:
        """Up to ``limit`` changes of one bank with ``after < seq <= until``, oldest first."""
        c = changes
        q = (
            sa.select(c)
            .where(c.c.bank_uuid == bank_uuid, c.c.seq > after, c.c.seq <= until)
            .order_by(c.c.seq)
            .limit(limit)
        )
        with self.db.read() as conn:
            return [
                Change(
                    seq=int(r.seq),
                    created_at=as_utc(r.created_at),
                    kind=ChangeKind(r.kind),
                    bank_uuid=r.bank_uuid,
                    entry_uuid=r.entry_uuid,
                    payload=dict(r.payload),
                )
                for r in conn.execute(q)
            ]

    def entry_bank(self, entry_uuid: str) -> Bank:
        """The bank that holds the entry with this uuid; NotFound otherwise."""
        q = (
            sa.select(banks)
            .join(entries, entries.c.bank_id == banks.c.id)
            .where(entries.c.uuid == entry_uuid)
        )
        with self.db.read() as conn:
            row = conn.execute(q).first()
        if row is None:
            raise NotFound(f"no entry {entry_uuid!r}")
        return _bank_from_row(row)
