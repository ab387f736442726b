"""The change feed: this node's change log, filtered to what one organisation may see.

For one page (``GET /v1/changes``):
1. read up to ``limit`` changes after the cursor (or, for a replay, one bank's changes up to a
   sequence number);
2. decide each change's visibility with the access policy (``services.access``), from the bank as
   it is now: entry and opinion changes of a bank the caller may not see (or that no longer exists:
   its deletion follows later in the log) are left out;
3. a replay (``bank``) has only that bank's entry and opinion changes; otherwise a bank's
   distribution change is judged by its before and after: still visible is
   ``bank_updated``, newly visible is ``bank_granted`` (the puller replays the bank's history),
   no longer visible is the tombstone ``bank_revoked``; a deletion is shown to whoever could see
   the bank last;
4. never echo a node's own data: with ``exclude_origin`` (the pulling node's uuid), changes to
   banks, entries and opinions that originate there are left out, so A and B never loop;
5. opinions show only to the bank's owner, coordinators and the organisation that gave them;
   others see the entry with its rolled-up status and counts instead;
6. the next cursor passes every change read, shown or not.

The page is JSON in the ``exchange.protocol.ChangesPage`` shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from tessera.services.access import Principal, may_see, may_see_all_opinions, sees_distribution
from tessera.services.cycles import collector_paused
from tessera.store import changelog
from tessera.store.records import Bank, Change, ChangeKind
from tessera.store.repository import Store

_BANK_KEYS = (
    "uuid",
    "name",
    "description",
    "owner_org",
    "labels",
    "inclusion_criterion",
    "distribution",
    "thresholds",
    "enabled",
    "origin_node",
)


def bank_wire(snapshot: dict[str, Any]) -> dict[str, Any]:
    """A bank snapshot (change payload or ``Bank.snapshot()``) in the wire shape."""
    return {k: snapshot[k] for k in _BANK_KEYS}


def entry_wire(p: dict[str, Any], bank: Bank | None) -> dict[str, Any]:
    """An entry payload of the change log in the wire shape (local signal ids left out)."""
    return {
        "uuid": p["uuid"],
        "labels": p["labels"],
        "inclusion_criterion": p["inclusion_criterion"],
        "status": p["status"],
        "created_by": p["created_by"],
        "created_at": p["created_at"],
        "updated_at": p["updated_at"],
        "source": p["source"],
        "note": p["note"],
        "signals": [
            {"type": s["type"], "value": s["value"], "quality": s["quality"]} for s in p["signals"]
        ],
        # Changes logged before provenance existed fall back to the bank's node and the creator.
        "origin_node": p.get("origin_node") or (bank.origin_node if bank else ""),
        "origin_org": p.get("origin_org") or p["created_by"],
        "origin_uuid": p.get("origin_uuid") or p["uuid"],
        "opinions": dict(p.get("opinions", {})),
    }


@dataclass
class _Page:
    who: Principal
    exclude_origin: str | None
    current: dict[str, Bank]
    store: Store
    replay: bool = False
    changes: list[dict[str, Any]] = field(default_factory=list)
    banks: dict[str, dict[str, Any]] = field(default_factory=dict)
    _deleted_visible: dict[str, bool] = field(default_factory=dict)
    _visible: dict[str, Bank | None] = field(default_factory=dict)

    def foreign(self, origin: str | None) -> bool:
        return not (self.exclude_origin and origin == self.exclude_origin)

    def visible_bank(self, bank_uuid: str) -> Bank | None:
        # Judged once per bank and page: a page holds thousands of changes of a few banks.
        if bank_uuid not in self._visible:
            bank = self.current.get(bank_uuid)
            seen = bank is not None and may_see(self.who, bank) and self.foreign(bank.origin_node)
            self._visible[bank_uuid] = bank if seen else None
        return self._visible[bank_uuid]

    def emit(self, change: Change, kind: str, **body: Any) -> None:
        self.changes.append(
            {"seq": change.seq, "kind": kind, "bank_uuid": change.bank_uuid}
            | {"entry_uuid": change.entry_uuid}
            | body
        )

    def add(self, change: Change) -> None:
        p = change.payload
        kind = change.kind
        if self.replay and kind.value.startswith("bank_"):
            return  # a replay rebuilds the entries; the bank's own state comes with the grant
        if kind is ChangeKind.BANK_CREATED:
            if self.visible_bank(change.bank_uuid) is not None:
                self.emit(change, kind.value, bank=bank_wire(p))
        elif kind is ChangeKind.BANK_UPDATED:
            self._bank_updated(change)
        elif kind is ChangeKind.BANK_DELETED:
            if self._saw_deleted(change.bank_uuid):
                self.emit(change, kind.value)
        elif kind in (ChangeKind.ENTRY_ADDED, ChangeKind.ENTRY_UPDATED):
            bank = self.visible_bank(change.bank_uuid)
            if bank is not None and self.foreign(p.get("origin_node")):
                self._with_bank(bank)
                self.emit(change, kind.value, entry=entry_wire(p, bank))
        elif kind is ChangeKind.ENTRY_REMOVED:
            bank = self.visible_bank(change.bank_uuid)
            if bank is not None and self.foreign(p.get("origin_node")):
                self.emit(change, kind.value)
        elif kind is ChangeKind.OPINION_SET:
            self._opinion(change)

    def _with_bank(self, bank: Bank) -> None:
        if bank.uuid not in self.banks:
            self.banks[bank.uuid] = bank_wire(bank.snapshot())

    def _bank_updated(self, change: Change) -> None:
        p = change.payload
        if not self.foreign(p.get("origin_node")):
            return
        before = p.get("previous_distribution", p["distribution"])
        saw = sees_distribution(self.who, p["owner_org"], before)
        sees = sees_distribution(self.who, p["owner_org"], p["distribution"])
        if saw and sees:
            self.emit(change, "bank_updated", bank=bank_wire(p))
        elif sees:
            self.emit(change, "bank_granted", bank=bank_wire(p))
        elif saw:
            self.emit(change, "bank_revoked")

    def _saw_deleted(self, bank_uuid: str) -> bool:
        if bank_uuid not in self._deleted_visible:
            last = self.store.last_bank_snapshot(bank_uuid)
            self._deleted_visible[bank_uuid] = (
                last is not None
                and self.foreign(last.get("origin_node"))
                and sees_distribution(self.who, last["owner_org"], last["distribution"])
            )
        return self._deleted_visible[bank_uuid]

    def _opinion(self, change: Change) -> None:
        p = change.payload
        bank = self.visible_bank(change.bank_uuid)
        if bank is None:
            return
        opinion, entry = p["opinion"], p["entry"]
        self._with_bank(bank)
        wire = entry_wire(entry, bank)
        if not self.foreign(opinion["origin_node"]):
            if self.foreign(wire["origin_node"]):
                self.emit(change, "entry_updated", entry=wire)
            return
        if may_see_all_opinions(self.who, bank) or opinion["org"] == self.who.org:
            shown = {k: opinion[k] for k in ("entry", "org", "verdict", "reason", "origin_node")}
            shown |= {"created_at": opinion["created_at"], "updated_at": opinion["updated_at"]}
            self.emit(change, "opinion_set", entry=wire, opinion=shown)
        elif self.foreign(wire["origin_node"]):
            self.emit(change, "entry_updated", entry=wire)


def changes_page(
    store: Store,
    who: Principal,
    after: int,
    limit: int,
    *,
    exclude_origin: str | None = None,
    bank: str | None = None,
    until: int | None = None,
) -> bytes:
    """One page of the feed for ``who`` as JSON bytes (see the module docstring)."""
    with collector_paused():
        return _changes_page(store, who, after, limit, exclude_origin, bank, until)


def _changes_page(
    store: Store,
    who: Principal,
    after: int,
    limit: int,
    exclude_origin: str | None,
    bank: str | None,
    until: int | None,
) -> bytes:
    with store.db.read() as conn:
        if bank is not None:
            top = until if until is not None else 2**62
            raw = changelog.bank_changes_after(conn, bank, after, top, limit)
        else:
            raw = changelog.changes_after(conn, after, limit)
        latest = changelog.latest_seq(conn)
    current = store.banks_by_uuid({c.bank_uuid for c in raw})
    page = _Page(who, exclude_origin, current, store, replay=bank is not None)
    for change in raw:
        page.add(change)
    body = {
        "node": store.node_id,
        "changes": page.changes,
        "banks": page.banks,
        "next_after": raw[-1].seq if raw else after,
        "latest_seq": latest,
        "more": len(raw) == limit,
    }
    return orjson.dumps(body)
