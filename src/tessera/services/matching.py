"""Matching: in-memory indexes per signal type, kept current from the change log.

Flow:
1. ``load`` notes the change-log position, then fills one index per signal type with every
   matchable signal (active or disputed entries of enabled banks);
2. ``refresh`` applies the changes after that position (idempotently: adding an id that is there
   replaces it), so an entry is matchable as soon as a refresh runs after its commit; ``follow``
   runs refresh on a background thread every ``follow_interval_s``;
3. ``match`` is ``find`` then ``resolve``: ``find`` queries each signal's index at the widest
   threshold any bank uses for its type (memory only; most lookups of fresh content end here,
   and an async caller runs it in its event loop); ``resolve`` looks the hits up in the store
   (entries and banks as they are now, through ``services.owners``: remembered while the change
   log does not move, so ``resolve_cached`` often answers from memory too) and keeps those within
   each bank's own threshold. A query may carry a transform name (dihedral matching queries 8
   variants of a PDQ hash); the best distance per matched signal wins;
4. the template guard: a match of a signal type that another type ``verifies`` (``pdq_orb``
   verifies ``pdq``) is checked against the entry's signal of the verifying type, when the query
   has one too; if every such query contradicts it, the match is kept but ``demoted``, with the
   evidence in ``detail["demoted_by"]``, and listed after the matches that stand.

Content to look up (``match_content``, ``match_path``: the CLI's match and review submit, the
scanner, the API's match and content routes) is hashed and matched in one call, so that videos
are screened the same way everywhere (``tessera.signals.vpdq``, "Queries"):

5. a video's ``vpdq`` and ``vpdq_regions`` are hashed sparsely (``hashing_queries``, every
   ``vpdq_query_gap`` seconds at most), and with the other types' signals looked up at a loose
   distance (``Matcher.screen``: any reference with anything in common, distance below
   ``SCREEN_RADIUS`` + 1 = 100);
6. nothing found and no other signal matched: done (the cheap path, which most uploads take).
   The sparse signals are dropped, never returned: the result holds no video signal and names
   the screened types in ``screened_out``; a sparse hash is never stored, recorded or shown;
7. anything found, or any other signal matched: the video is hashed again densely, and the dense
   signals are matched as usual and are what the result holds (what a case or journal records),
   so a reported match's distance, segment and offsets come from the dense hash.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tessera.errors import InvalidSignal, MediaError, NotFound
from tessera.index.base import SignalIndex
from tessera.media.content import Content, MediaLimits
from tessera.media.kinds import MediaKind
from tessera.services.hashing import HashResult, hash_content, split_by_quality
from tessera.services.owners import OwnerCache
from tessera.signals.base import Signal, SignalType
from tessera.signals.registry import all_signal_types
from tessera.store.probe import ChangeProbe
from tessera.store.records import Bank, Change, ChangeKind, EntryStatus, SignalOwner
from tessera.store.repository import Store
from tessera.store.tables import value_key

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Query:
    """One signal to look up; ``transform`` names the variant it is (e.g. ``rotate90``)."""

    signal: Signal
    transform: str | None = None


Hits = dict[int, tuple[int, Query, Mapping[str, Any] | None]]
"""Index hits of one lookup: signal id -> (best distance, the query that found it, detail)."""

LONG_VALUE = 256
"""Signal values longer than this many characters (audio and video fingerprints) are printed as a
digest: ``sha256:<hex of the value>`` (the store's lookup key), with the length beside it."""


def shown_value(value: str) -> str:
    """A signal value as output shows it: as is when short, else ``sha256:<hex>`` of it."""
    return value if len(value) <= LONG_VALUE else f"sha256:{value_key(value)}"


@dataclass(frozen=True, slots=True)
class Match:
    """A query signal within threshold of a bank entry's signal."""

    bank: str
    entry_uuid: str
    signal_type: str
    distance: int
    threshold: int
    query_value: str
    matched_value: str
    labels: tuple[str, ...]
    entry_status: str
    created_by: str
    transform: str | None = None
    detail: Mapping[str, Any] | None = None
    demoted: bool = False

    def as_json(self) -> dict[str, Any]:
        """The match as `tessera match --json` prints it."""
        out: dict[str, Any] = {
            "bank": self.bank,
            "entry": self.entry_uuid,
            "signal_type": self.signal_type,
            "distance": self.distance,
            "threshold": self.threshold,
            "query": shown_value(self.query_value),
            "matched": shown_value(self.matched_value),
            "labels": list(self.labels),
            "entry_status": self.entry_status,
            "created_by": self.created_by,
        }
        for key, value in (("query", self.query_value), ("matched", self.matched_value)):
            if len(value) > LONG_VALUE:
                out[f"{key}_length"] = len(value)
        if self.transform is not None:
            out["transform"] = self.transform
        if self.detail is not None:
            out["detail"] = dict(self.detail)
        if self.demoted:
            out["demoted"] = True
        return out


SCREENED_TYPES = frozenset({"vpdq", "vpdq_regions"})
"""Signal types whose queries are hashed sparsely and screened first (step 5)."""

SCREEN_RADIUS = 99
"""The screen's distance: a reference with anything in common with the sparse query (below 100)."""


def queries_for(result: HashResult, transformed: bool = False, min_quality: int = 0) -> list[Query]:
    """The queries for a hashed file; with ``transformed``, also its types' transformed variants.

    Signals below ``min_quality`` are too weak to match and are left out.
    """
    usable, _weak = split_by_quality(result.signals, min_quality)
    queries = [Query(s) for s in usable]
    if transformed and result.content is not None:
        types = all_signal_types()
        for s in usable:
            signal_type = types.get(s.type)
            if signal_type is not None:
                queries += [Query(v, name) for name, v in signal_type.transformed(result.content)]
    return queries


class Matcher:
    """Indexes of a store's matchable signals, kept current by following its change log."""

    def __init__(self, store: Store, signal_types: Iterable[type[SignalType]] | None = None):
        self.store = store
        types = list(signal_types) if signal_types is not None else all_signal_types().values()
        self.signal_types: dict[str, type[SignalType]] = {t.name: t for t in types}
        # Queries of these types may demote a match (the template guard), reading the store.
        self._verifying = {t.name for t in self.signal_types.values() if t.verifies}
        self.owners = OwnerCache(ChangeProbe.of(store.db))
        self.cursor = 0
        self._indexes: dict[str, SignalIndex] = {}
        self._banks: dict[str, Bank] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- keeping current -----------------------------------------------------------------------

    def load(self) -> None:
        """(Re)build every index from the store; changes after this point come via refresh."""
        cursor = self.store.latest_seq()
        banks = {b.uuid: b for b, _ in self.store.list_banks()}
        indexes: dict[str, SignalIndex] = {}
        for name, signal_type in self.signal_types.items():
            index = signal_type.new_index()
            for page in self.store.iter_matchable_signals(name):
                _add_valid(index, name, page)
            indexes[name] = index
        with self._lock:
            self.cursor, self._banks, self._indexes = cursor, banks, indexes

    def refresh(self, page: int = 1000) -> int:
        """Apply every change committed since the last refresh; returns how many were applied."""
        applied = 0
        while True:
            # Read outside the lock: lookups wait only while changes are applied, not read.
            changes = self.store.changes_after(self.cursor, page)
            with self._lock:
                for change in changes:
                    if change.seq <= self.cursor:
                        continue  # applied meanwhile (a concurrent refresh or a reload)
                    if self._apply(change):
                        return applied + 1  # a full reload happened; it covers the rest
                    self.cursor = change.seq
                    applied += 1
            if len(changes) < page:
                return applied

    def _apply(self, change: Change) -> bool:
        """Apply one change to the indexes; True when it required (and did) a full reload."""
        p = change.payload
        if change.kind in (ChangeKind.BANK_CREATED, ChangeKind.BANK_UPDATED):
            old = self._banks.get(change.bank_uuid)
            if old is not None and old.enabled != bool(p["enabled"]):
                self.load()  # a bank was switched on or off: rebuild rather than track per bank
                return True
            self._banks = {b.uuid: b for b, _ in self.store.list_banks()}
        elif change.kind is ChangeKind.BANK_DELETED:
            self._banks.pop(change.bank_uuid, None)
            for type_name, ids in dict(p.get("signal_ids", {})).items():
                if type_name in self._indexes:
                    self._indexes[type_name].remove(int(i) for i in ids)
        elif change.kind in (ChangeKind.ENTRY_ADDED, ChangeKind.ENTRY_UPDATED):
            bank = self._banks.get(change.bank_uuid)
            live = p["status"] != EntryStatus.RETIRED.value and bank is not None and bank.enabled
            self._apply_signals(p["signals"], live)
        elif change.kind is ChangeKind.ENTRY_REMOVED:
            self._apply_signals(p["signals"], live=False)
        return False

    def _apply_signals(self, signals: list[dict[str, Any]], live: bool) -> None:
        for s in signals:
            index = self._indexes.get(s["type"])
            if index is None:
                continue
            if live:
                _add_valid(index, s["type"], [(int(s["id"]), s["value"])])
            else:
                index.remove([int(s["id"])])

    def follow(self, interval_s: float) -> None:
        """Start a background thread that refreshes every ``interval_s`` seconds."""
        if self._thread is not None:
            return
        self._stop.clear()

        def run() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.refresh()
                except Exception:  # a database hiccup must not end following for good
                    log.exception("refreshing the matcher from the change log failed; retrying")

        self._thread = threading.Thread(target=run, name="tessera-matcher-follow", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background refresh thread, if any, and close the owner cache's probe."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.owners.probe is not None:
            self.owners.probe.close()

    def index(self, signal_type: str) -> SignalIndex:
        """The live index of a signal type (for bulk tools and benchmarks)."""
        with self._lock:
            return self._indexes[signal_type]

    def size(self, signal_type: str) -> int:
        """How many signals of a type the index holds."""
        with self._lock:
            index = self._indexes.get(signal_type)
            return len(index) if index is not None else 0

    # -- matching ------------------------------------------------------------------------------

    def _radius(self, signal_type: type[SignalType], banks: Collection[Bank]) -> int:
        widest = max(
            (b.threshold_for(signal_type.name, signal_type.default_threshold) for b in banks),
            default=signal_type.default_threshold,
        )
        return min(widest, signal_type.max_threshold)

    def has_signals(self, signal_type: str) -> bool:
        """Whether the index of a type holds any signal (else nothing of that type can match)."""
        index = self._indexes.get(signal_type)
        return index is not None and len(index) > 0

    def match(
        self,
        queries: Sequence[Query],
        banks: Collection[str] | None = None,
        *,
        visible: Callable[[Bank], bool] | None = None,
    ) -> list[Match]:
        """Every bank entry within its bank's threshold of any query, best distance first.

        ``visible``, when given, keeps only banks it accepts (the caller's access policy).
        """
        hits = self.find(queries, banks, visible=visible)
        return self.resolve(queries, hits or {}, banks, visible=visible)

    def find(
        self,
        queries: Sequence[Query],
        banks: Collection[str] | None = None,
        *,
        visible: Callable[[Bank], bool] | None = None,
        wait: bool = True,
    ) -> Hits | None:
        """The index hits of the queries, from memory alone (step 1 of ``match``).

        NotFound names a bank this matcher does not know. With ``wait=False``, None instead of
        waiting while a refresh holds the indexes (an event loop must not block on it). Indexes
        whose queries need no lock (``lock_free_queries``) are searched after it is released,
        so a search on a worker thread never makes the event loop's lookups wait.
        """
        if not self._lock.acquire(blocking=wait):
            return None
        try:
            plan = self._plan(queries, banks, visible)
            if not all(index.lock_free_queries for _, index, _ in plan):
                return _search(plan)
        finally:
            self._lock.release()
        return _search(plan)

    def _plan(
        self,
        queries: Sequence[Query],
        banks: Collection[str] | None,
        visible: Callable[[Bank], bool] | None,
    ) -> list[tuple[Query, SignalIndex, int]]:
        """(query, index, radius) for each query an index can answer (the lock held)."""
        candidates = [
            b for b in self._banks.values() if b.enabled and (visible is None or visible(b))
        ]
        if banks is not None:
            known = {b.name for b in self._banks.values()}
            for name in banks:
                if name not in known:
                    raise NotFound(f"no bank named {name!r}")
            candidates = [b for b in candidates if b.name in banks]
        if not candidates:
            return []
        plan = []
        for query in queries:
            signal_type = self.signal_types.get(query.signal.type)
            index = self._indexes.get(query.signal.type)
            if signal_type is not None and index is not None:
                plan.append((query, index, self._radius(signal_type, candidates)))
        return plan

    def screen(
        self,
        queries: Sequence[Query],
        banks: Collection[str] | None = None,
        *,
        visible: Callable[[Bank], bool] | None = None,
    ) -> bool:
        """Whether any query has anything in common (distance up to ``SCREEN_RADIUS``) with a
        signal indexed for the banks wanted (step 5); only a sparse video query needs this."""
        with self._lock:
            plan = [
                (q, index, SCREEN_RADIUS) for q, index, _ in self._plan(queries, banks, visible)
            ]
            if not all(index.lock_free_queries for _, index, _ in plan):
                return bool(_search(plan))
        return bool(_search(plan))

    def resolve(
        self,
        queries: Sequence[Query],
        hits: Hits,
        banks: Collection[str] | None = None,
        *,
        visible: Callable[[Bank], bool] | None = None,
    ) -> list[Match]:
        """Hits resolved through the store (step 2 of ``match``): kept when the entry and its
        bank, as they are now, are live, wanted, accepted by ``visible`` and within threshold."""
        if not hits:
            return []
        owners = self.owners.resolve(hits.keys(), self.store.resolve_signals)
        return self._matches(queries, hits, owners, banks, visible)

    def resolve_cached(
        self,
        queries: Sequence[Query],
        hits: Hits,
        banks: Collection[str] | None = None,
        *,
        visible: Callable[[Bank], bool] | None = None,
    ) -> list[Match] | None:
        """``resolve`` from memory alone (an event loop may call it); None when that needs the
        store: an owner not remembered at the store's current version, or a template guard."""
        if any(q.signal.type in self._verifying for q in queries):
            return None
        owners = self.owners.cached(hits.keys()) if hits else {}
        if owners is None:
            return None
        return self._matches(queries, hits, owners, banks, visible)

    def match_each(
        self,
        queries: Sequence[Query],
        banks: Collection[str] | None = None,
        *,
        visible: Callable[[Bank], bool] | None = None,
    ) -> list[list[Match]]:
        """``match`` of each query on its own, in order, with one store read for all their hits."""
        found = [self.find([q], banks, visible=visible) or {} for q in queries]
        wanted = {signal_id for hits in found for signal_id in hits}
        owners = self.owners.resolve(wanted, self.store.resolve_signals) if wanted else {}
        return [
            self._matches([q], hits, owners, banks, visible) if hits else []
            for q, hits in zip(queries, found, strict=True)
        ]

    def _matches(
        self,
        queries: Sequence[Query],
        hits: Hits,
        owners: Mapping[int, SignalOwner],
        banks: Collection[str] | None,
        visible: Callable[[Bank], bool] | None,
    ) -> list[Match]:
        matches: list[Match] = []
        for signal_id, (distance, query, detail) in hits.items():
            owner = owners.get(signal_id)
            if owner is None or owner.entry_status is EntryStatus.RETIRED:
                continue
            if not owner.bank.enabled or (banks is not None and owner.bank.name not in banks):
                continue
            if visible is not None and not visible(owner.bank):
                continue
            signal_type = self.signal_types[owner.signal.type]
            threshold = owner.bank.threshold_for(signal_type.name, signal_type.default_threshold)
            if distance > threshold:
                continue
            matches.append(
                Match(
                    bank=owner.bank.name,
                    entry_uuid=owner.entry_uuid,
                    signal_type=owner.signal.type,
                    distance=distance,
                    threshold=threshold,
                    query_value=query.signal.value,
                    matched_value=owner.signal.value,
                    labels=owner.entry_labels,
                    entry_status=owner.entry_status.value,
                    created_by=owner.created_by,
                    transform=query.transform,
                    detail=detail,
                )
            )
        matches = [self._guard(m, queries) for m in matches]
        matches.sort(key=lambda m: (m.demoted, m.distance, m.bank, m.entry_uuid, m.signal_type))
        return matches

    def _guard(self, match: Match, queries: Sequence[Query]) -> Match:
        """The match, demoted with evidence when a verifying signal type contradicts it."""
        verifiers = [t for t in self.signal_types.values() if match.signal_type in t.verifies]
        for verifier in verifiers:
            values = [q.signal.value for q in queries if q.signal.type == verifier.name]
            if not values:
                continue
            entry = self.store.get_entry(match.bank, match.entry_uuid)
            held = [s.value for s in entry.signals if s.type == verifier.name]
            if not held:
                continue
            evidence = [verifier.contradiction(q, e) for q in values for e in held]
            if all(e is not None for e in evidence):
                detail = dict(match.detail or {}) | {"demoted_by": evidence[0]}
                return replace(match, demoted=True, detail=detail)
        return match


@dataclass(frozen=True, slots=True)
class ContentMatch:
    """What looking up one piece of content found: its signals, to record, and its matches.

    ``result`` never holds a sparse signal: when a video was screened out (step 6), its screened
    types are missing from ``result.signals`` and named in ``screened_out``.
    """

    result: HashResult
    matches: list[Match]
    screened_out: tuple[str, ...] = ()


def match_path(
    matcher: Matcher,
    path: Path,
    limits: MediaLimits,
    *,
    banks: Collection[str] | None = None,
    visible: Callable[[Bank], bool] | None = None,
    transformed: bool = False,
    min_quality: int = 0,
    keep_content: bool = False,
    screen: bool = True,
) -> ContentMatch:
    """``match_content`` of a file; an unreadable file is a failed result with no match."""
    try:
        content = Content.from_path(path, limits)
    except MediaError as e:
        return ContentMatch(HashResult(str(path), None, error=str(e)), [])
    return match_content(
        matcher,
        content,
        str(path),
        banks=banks,
        visible=visible,
        transformed=transformed,
        min_quality=min_quality,
        keep_content=keep_content,
        screen=screen,
    )


def match_content(
    matcher: Matcher,
    content: Content,
    name: str,
    *,
    banks: Collection[str] | None = None,
    visible: Callable[[Bank], bool] | None = None,
    transformed: bool = False,
    min_quality: int = 0,
    keep_content: bool = False,
    only: Callable[[str], bool] | None = None,
    screen: bool = True,
) -> ContentMatch:
    """Hash content to look it up and match it (steps 5-7 of the module docstring).

    ``transformed`` adds the types' transformed queries (``queries_for``); ``only`` hashes only
    the types it accepts; ``screen=False`` hashes a video densely at once (for a caller that
    keeps the signals, e.g. for retro-hunt). A failed hash is a result with its error and no
    match. ``result.content`` is kept with ``keep_content`` (or ``transformed``) when it worked.
    """
    from tessera.signals.vpdq import VpdqParams, hashing_queries

    keep = keep_content or transformed
    sparse = (
        screen
        and content.kind is MediaKind.VIDEO
        and VpdqParams.from_settings().query_gap is not None
    )
    if not sparse:
        signals, error = hash_content(content, only)
        result = _result(name, content, signals, error, keep)
        if not result.ok:
            return ContentMatch(result, [])
        queries = queries_for(_with_content(result, content), transformed, min_quality)
        return ContentMatch(result, matcher.match(queries, banks, visible=visible))
    with hashing_queries():
        signals, error = hash_content(content, only)
        probe = HashResult(name, content.kind, tuple(signals), error, content)
        if not probe.ok:  # never hand back a sparse signal, even beside an error
            kept = [s for s in signals if s.type not in SCREENED_TYPES]
            return ContentMatch(_result(name, content, kept, error, keep), [])
        queries = queries_for(probe, transformed, min_quality)
    screened = [q for q in queries if q.signal.type in SCREENED_TYPES]
    others = [q for q in queries if q.signal.type not in SCREENED_TYPES]
    found = matcher.match(others, banks, visible=visible)
    if not found and not matcher.screen(screened, banks, visible=visible):
        kept = [s for s in signals if s.type not in SCREENED_TYPES]
        gone = tuple(dict.fromkeys(s.type for s in signals if s.type in SCREENED_TYPES))
        return ContentMatch(_result(name, content, kept, None, keep), [], gone)
    types = {s.type for s in signals if s.type in SCREENED_TYPES}
    dense, error = hash_content(content, lambda t: t in types)
    by_type = {s.type: s for s in dense}
    ordered = [by_type.get(s.type) if s.type in types else s for s in signals]  # same order
    result = _result(name, content, ordered, error, keep)
    if not result.ok:
        return ContentMatch(result, [])
    queries = queries_for(_with_content(result, content), transformed, min_quality)
    return ContentMatch(result, matcher.match(queries, banks, visible=visible))


def _result(
    name: str,
    content: Content,
    signals: Sequence[Signal | None],
    error: str | None,
    keep: bool,
) -> HashResult:
    found = tuple(s for s in signals if s is not None)
    return HashResult(name, content.kind, found, error, content if keep and error is None else None)


def _with_content(result: HashResult, content: Content) -> HashResult:
    """The result holding its content (``queries_for`` asks it for transformed variants)."""
    return replace(result, content=content)


def _add_valid(index: SignalIndex, type_name: str, items: Sequence[tuple[int, str]]) -> None:
    """Add stored signals to an index, leaving out (with a warning) values its type no longer
    reads: a signal type whose format changed refuses values stored before (``tessera_audio``
    version 1), and they must not stop the node from starting; re-hashing the media replaces
    them."""
    try:
        index.add(items)
        return
    except InvalidSignal:
        pass
    refused = 0
    for item in items:
        try:
            index.add([item])
        except InvalidSignal as e:
            refused += 1
            reason = str(e)
    if refused:
        log.warning(
            "%d stored %s signal(s) left out of the index (%s); hash their media again",
            refused,
            type_name,
            reason,
        )


def _search(plan: Iterable[tuple[Query, SignalIndex, int]]) -> Hits:
    """The hits of a ``Matcher._plan``: the best distance per signal id."""
    hits: Hits = {}
    for query, index, radius in plan:
        for hit in index.query(query.signal.value, radius):
            best = hits.get(hit.id)
            if best is None or hit.distance < best[0]:
                hits[hit.id] = (hit.distance, query, hit.detail)
    return hits
