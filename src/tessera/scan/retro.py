"""Retro-hunt: when a bank gains entries, match the signals an organisation kept of content it
scanned against them, and open cases for past content (hashes only: never media, no uploaders).

The reverse of matching: the index holds the *kept* signals (one per signal type, built by the
type's own ``new_index``), and each new or updated bank entry is the query.

1. Load: index every kept signal; the cursor is where hunting stopped (persisted per hunter
   name), or for a first run the oldest ``matched_through`` of the kept signals (a scan matched
   its signals against the change log up to there).
2. Kept signals added since (a scan with ``--keep-signals`` ran meanwhile) join the index, and
   the changes between their scan and the cursor are hunted for them alone.
3. Each ENTRY_ADDED / ENTRY_UPDATED change after the cursor (live entry, enabled bank): query
   the kept index with each of the entry's signals at the bank's threshold; a hit counts when the
   kept signal was scanned before the change (``matched_through < seq``) and the organisation may
   see the bank. Hits of one piece of content are routed together (source ``retro_hunt``), at
   most once (``scan.routing``); then the cursor moves on. ``start`` runs a pass every
   ``interval_s`` on a background thread, so a case opens within that time of a change arriving.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from tessera.index.base import SignalIndex
from tessera.scan.checkpoint import key_hash
from tessera.scan.routing import route_once
from tessera.scan.work import org_visibility
from tessera.services.matching import Match
from tessera.services.periodic import Periodic
from tessera.settings import Settings
from tessera.signals.base import Signal, SignalType
from tessera.signals.registry import all_signal_types
from tessera.store.db import utcnow
from tessera.store.records import Bank, Change, ChangeKind, EntryStatus
from tessera.store.repository import Store
from tessera.store.scan_tables import kept_signals, retro_cursors

log = logging.getLogger(__name__)

INTERVAL_S = 5.0
"""How often the background hunter looks for new changes (well inside the one-minute promise)."""
_PAGE = 1000
_KEPT_PAGE = 100_000


@dataclass(frozen=True, slots=True)
class RetroPass:
    """What one pass did: changes read, kept signals newly indexed, content routed, cases opened."""

    changes: int
    new_kept: int
    routed: int
    cases_opened: int
    cursor: int


@dataclass(frozen=True, slots=True)
class _Kept:
    id: int
    signal_type: str
    value: str
    matched_through: int


class RetroHunter:
    """Follows the change log and hunts kept signals for each new bank entry."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        name: str = "default",
        interval_s: float = INTERVAL_S,
        signal_types: Iterable[type[SignalType]] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.name = name
        self.interval_s = interval_s
        types = list(signal_types) if signal_types is not None else all_signal_types().values()
        self.signal_types = {t.name: t for t in types}
        self._indexes: dict[str, SignalIndex] = {}
        self._kept_id = 0
        self._cursor: int | None = None
        self._banks: dict[str, Bank] = {}
        self._visible: dict[str, Callable[[Bank], bool] | None] = {}
        self._lock = threading.Lock()
        self._loop = Periodic("retro-hunt", interval_s, self.run_once)

    # -- following -----------------------------------------------------------------------------

    def start(self) -> None:
        """Hunt every ``interval_s`` seconds on a background thread (a no-op when it is 0)."""
        self._loop.start()

    def stop(self) -> None:
        """Stop the background thread, if any."""
        self._loop.stop()

    def run_once(self) -> RetroPass:
        """One pass: index new kept signals, hunt back for them, then hunt every new change."""
        with self._lock:
            cursor = self._load_cursor()
            fresh, backfill = self._index_kept(after=self._kept_id, upto=None, below=cursor)
            routed = opened = 0
            if backfill:
                r, o = self._hunt_range(
                    min(k.matched_through for k in backfill), cursor, _indexes_of(self, backfill)
                )
                routed, opened = routed + r, opened + o
            if fresh:
                self._save_cursor(cursor)
            n = 0
            while True:
                changes = self.store.changes_after(cursor, _PAGE)
                r, o = self._hunt(changes, self._indexes)
                routed, opened, n = routed + r, opened + o, n + len(changes)
                if changes:
                    cursor = changes[-1].seq
                    self._save_cursor(cursor)
                if len(changes) < _PAGE:
                    break
            self._cursor = cursor
            return RetroPass(n, fresh, routed, opened, cursor)

    # -- the cursor and the kept index ---------------------------------------------------------

    def _load_cursor(self) -> int:
        if self._cursor is not None:
            return self._cursor
        with self.store.db.read() as conn:
            row = conn.execute(
                sa.select(retro_cursors).where(retro_cursors.c.name == self.name)
            ).first()
            oldest = conn.execute(sa.select(sa.func.min(kept_signals.c.matched_through))).scalar()
        if row is not None:
            # Kept signals up to kept_id were hunted up to seq: index them without backfill.
            self._index_kept(after=0, upto=int(row.kept_id), below=None)
            self._cursor = int(row.seq)
            return self._cursor
        self._cursor = int(oldest) if oldest is not None else self.store.latest_seq()
        return self._cursor

    def _save_cursor(self, seq: int) -> None:
        values = {"seq": seq, "kept_id": self._kept_id, "updated_at": utcnow()}
        with self.store.db.write() as conn:
            updated = conn.execute(
                retro_cursors.update().where(retro_cursors.c.name == self.name).values(**values)
            ).rowcount
            if not updated:
                conn.execute(retro_cursors.insert().values(name=self.name, **values))

    def _index_kept(
        self, after: int, upto: int | None, below: int | None
    ) -> tuple[int, list[_Kept]]:
        """Index kept signals with ids in (after, upto]; returns how many, and those of them
        scanned before change ``below`` (their changes up to the cursor still need hunting)."""
        count = 0
        behind: list[_Kept] = []
        c = kept_signals.c
        while True:
            q = sa.select(c.id, c.signal_type, c.value, c.matched_through).where(c.id > after)
            if upto is not None:
                q = q.where(c.id <= upto)
            with self.store.db.read() as conn:
                rows = conn.execute(q.order_by(c.id).limit(_KEPT_PAGE)).all()
            if not rows:
                return count, behind
            page = [_Kept(int(r.id), r.signal_type, r.value, int(r.matched_through)) for r in rows]
            _add(self, self._indexes, page)
            after = page[-1].id
            self._kept_id = max(self._kept_id, after)
            count += len(page)
            if below is not None:
                behind += [k for k in page if k.matched_through < below]

    def size(self) -> int:
        """How many kept signals the index holds."""
        return sum(len(i) for i in self._indexes.values())

    # -- hunting -------------------------------------------------------------------------------

    def _hunt_range(
        self, after: int, until: int, indexes: dict[str, SignalIndex]
    ) -> tuple[int, int]:
        routed = opened = 0
        while after < until:
            changes = [c for c in self.store.changes_after(after, _PAGE) if c.seq <= until]
            if not changes:
                break
            r, o = self._hunt(changes, indexes)
            routed, opened, after = routed + r, opened + o, changes[-1].seq
        return routed, opened

    def _hunt(self, changes: Sequence[Change], indexes: dict[str, SignalIndex]) -> tuple[int, int]:
        """Route the kept content each entry change matches; returns (routed, cases opened)."""
        routed = opened = 0
        for change in changes:
            if change.kind in (ChangeKind.BANK_CREATED, ChangeKind.BANK_UPDATED):
                self._banks.pop(change.bank_uuid, None)
            if change.kind not in (ChangeKind.ENTRY_ADDED, ChangeKind.ENTRY_UPDATED):
                continue
            p = change.payload
            bank = self._bank(change.bank_uuid)
            if bank is None or not bank.enabled or p["status"] == EntryStatus.RETIRED.value:
                continue
            for (org, content_ref), matches in self._matches(change, bank, indexes).items():
                visible = self._visibility(org)
                if visible is not None and not visible(bank):
                    continue
                media_kind, signals = self._content(org, content_ref)
                outcome = route_once(
                    self.store,
                    self.settings,
                    org=org,
                    content_ref=content_ref,
                    media_kind=media_kind,
                    signals=signals,
                    matches=matches,
                    source="retro_hunt",
                )
                routed += int(outcome.routed)
                opened += int(outcome.opened)
        return routed, opened

    def _matches(
        self, change: Change, bank: Bank, indexes: dict[str, SignalIndex]
    ) -> dict[tuple[str, str], list[Match]]:
        """The matches of one entry change, grouped by (org, content ref) of the kept content."""
        p = change.payload
        hits: dict[int, tuple[int, int, dict[str, object]]] = {}  # kept id -> distance, threshold
        for s in p["signals"]:
            signal_type = self.signal_types.get(s["type"])
            index = indexes.get(s["type"])
            if signal_type is None or index is None:
                continue
            threshold = min(
                bank.threshold_for(signal_type.name, signal_type.default_threshold),
                signal_type.max_threshold,
            )
            for hit in index.query(s["value"], threshold):
                best = hits.get(hit.id)
                if best is None or hit.distance < best[0]:
                    hits[hit.id] = (hit.distance, threshold, s)
        if not hits:
            return {}
        c = kept_signals.c
        found: dict[tuple[str, str], list[Match]] = {}
        with self.store.db.read() as conn:
            rows = conn.execute(
                sa.select(c.id, c.org, c.content_ref, c.signal_type, c.value, c.matched_through)
                .where(c.id.in_(sorted(hits)))
                .order_by(c.id)
            ).all()
        for r in rows:
            if int(r.matched_through) >= change.seq:
                continue  # the scan matched this content against the entry already
            distance, threshold, s = hits[int(r.id)]
            found.setdefault((r.org, r.content_ref), []).append(
                Match(
                    bank=bank.name,
                    entry_uuid=str(change.entry_uuid),
                    signal_type=r.signal_type,
                    distance=distance,
                    threshold=threshold,
                    query_value=r.value,
                    matched_value=str(s["value"]),
                    labels=tuple(p.get("labels", ())),
                    entry_status=str(p["status"]),
                    created_by=str(p.get("created_by", "")),
                )
            )
        return found

    def _bank(self, bank_uuid: str) -> Bank | None:
        if bank_uuid not in self._banks:
            found = self.store.banks_by_uuid([bank_uuid])
            if bank_uuid not in found:
                return None
            self._banks[bank_uuid] = found[bank_uuid]
        return self._banks[bank_uuid]

    def _visibility(self, org: str) -> Callable[[Bank], bool] | None:
        if org not in self._visible:
            self._visible[org] = org_visibility(self.store, org)
        return self._visible[org]

    def _content(self, org: str, content_ref: str) -> tuple[str, list[Signal]]:
        """The media kind and every kept signal of one piece of content."""
        c = kept_signals.c
        q = (
            sa.select(c.media_kind, c.signal_type, c.value, c.quality)
            .where(c.org == org, c.content_key == key_hash(content_ref))
            .order_by(c.id)
        )
        with self.store.db.read() as conn:
            rows = conn.execute(q).all()
        kind = rows[0].media_kind if rows else "file"
        return kind, [Signal(r.signal_type, r.value, r.quality) for r in rows]


def _add(hunter: RetroHunter, indexes: dict[str, SignalIndex], kept: Sequence[_Kept]) -> None:
    """Add kept signals to per-type indexes (types this node does not know are left out)."""
    by_type: dict[str, list[tuple[int, str]]] = {}
    for k in kept:
        if k.signal_type in hunter.signal_types:
            by_type.setdefault(k.signal_type, []).append((k.id, k.value))
    for name, items in by_type.items():
        if name not in indexes:
            indexes[name] = hunter.signal_types[name].new_index()
        indexes[name].add(items)


def _indexes_of(hunter: RetroHunter, kept: Sequence[_Kept]) -> dict[str, SignalIndex]:
    """Fresh indexes holding only these kept signals."""
    indexes: dict[str, SignalIndex] = {}
    _add(hunter, indexes, kept)
    return indexes
