"""The unit of scan work: hash a batch of items, then match their signals against the banks.

Both backends run the same ``ScanWorker`` (a process of the local pool, or a Ray actor): it opens
the store by its location, holds a ``Matcher`` (the index in memory, refreshed from the change
log before each batch, so a bank entry added mid-scan counts from then on), and hashes and
matches a batch (``scan_items``: a video is screened with a sparse hash and hashed densely only
when the screen flags it, or always densely when the job keeps signals for retro-hunt, as a
sparse hash is never kept). An item's result records ``matched_through``, the change-log
position its matcher had applied: retro-hunt covers every bank change after it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa

from tessera.media.content import MediaLimits
from tessera.scan.source import SourceItem
from tessera.services.hashing import hash_path, split_by_quality
from tessera.services.matching import Match, Matcher, Query, match_path
from tessera.settings import Settings
from tessera.signals.base import Signal
from tessera.store.db import Database
from tessera.store.records import Bank
from tessera.store.repository import Store


@dataclass(frozen=True, slots=True)
class ItemResult:
    """What scanning one item found: its signals and matches, or why it failed."""

    item: SourceItem
    media_kind: str | None = None
    signals: tuple[Signal, ...] = ()
    error: str | None = None
    matches: tuple[Match, ...] = ()
    matched_through: int = 0

    @property
    def ok(self) -> bool:
        """Whether the item was hashed without error."""
        return self.error is None


class Backend(Protocol):
    """Runs batches of items through hashing and matching; results come back batch by batch."""

    def process(
        self, batches: Iterator[list[SourceItem]], *, keep_signals: bool = False
    ) -> Iterator[list[ItemResult]]:
        """Results of every batch, in any order, each batch whole; with ``keep_signals`` (a job
        that keeps signals for retro-hunt) every video is hashed densely."""
        ...

    def close(self) -> None:
        """Release the workers."""
        ...


@dataclass(frozen=True, slots=True)
class StoreLocation:
    """Where a worker finds the store: its URL (password included) and PostgreSQL schema."""

    url: str
    schema: str | None = None

    @classmethod
    def of(cls, store: Store) -> StoreLocation:
        """The location of an open store."""
        url = store.db.url.render_as_string(hide_password=False)
        if store.db.dialect != "postgresql":
            return cls(url)
        with store.db.read() as conn:
            schema = conn.execute(sa.text("SELECT current_schema()")).scalar()
        return cls(url, None if schema in (None, "public") else str(schema))


class ScanWorker:
    """An open store and an index, hashing and matching batches for one organisation."""

    def __init__(self, location: StoreLocation, settings: Settings, org: str) -> None:
        self.settings = settings
        self.store = Store(
            Database(location.url, schema=location.schema), node_org=settings.node_org
        )
        self.matcher = Matcher(self.store)
        self.matcher.load()
        self.visible = org_visibility(self.store, org)

    def scan(self, batch: list[SourceItem], *, keep_signals: bool = False) -> list[ItemResult]:
        """Hash and match one batch; with ``keep_signals`` (the job keeps them for retro-hunt,
        and a sparse hash is never kept) every video is hashed densely, not screened."""
        return scan_items(
            self.matcher,
            batch,
            self.settings.media_limits(),
            self.settings.min_quality,
            self.visible,
            screen=not keep_signals,
        )

    def close(self) -> None:
        """Close the store's connections."""
        self.store.db.dispose()


def scan_items(
    matcher: Matcher,
    items: Sequence[SourceItem],
    limits: MediaLimits,
    min_quality: int,
    visible: Callable[[Bank], bool] | None = None,
    *,
    screen: bool = True,
) -> list[ItemResult]:
    """Hash and match each item, after a matcher refresh (a bad manifest line passes through as
    its error). A video is looked up as ``matching.match_content`` does: screened with a sparse
    hash, hashed densely only when the screen flags it; an item screened out holds no video
    signal. ``screen=False`` (a job keeping signals for retro-hunt) hashes every video densely."""
    matcher.refresh()
    through = matcher.cursor
    out = []
    for item in items:
        if not item.ok:
            out.append(ItemResult(item, error=item.error, matched_through=through))
            continue
        looked = match_path(
            matcher,
            Path(item.path),
            limits,
            visible=visible,
            min_quality=min_quality,
            screen=screen,
        )
        r = looked.result
        kind = r.media_kind.value if r.media_kind is not None else None
        out.append(ItemResult(item, kind, r.signals, r.error, tuple(looked.matches), through))
    return out


def hash_items(items: Sequence[SourceItem], limits: MediaLimits) -> list[ItemResult]:
    """Hash each item, videos densely (a bad manifest line passes through as its error); with
    ``match_items``, the two halves of ``scan_items`` without the video screen."""
    results = []
    for item in items:
        if not item.ok:
            results.append(ItemResult(item, error=item.error))
            continue
        hashed = hash_path(Path(item.path), limits)
        results.append(
            ItemResult(
                item,
                hashed.media_kind.value if hashed.media_kind is not None else None,
                hashed.signals,
                hashed.error,
            )
        )
    return results


def match_items(
    matcher: Matcher,
    results: Sequence[ItemResult],
    min_quality: int,
    visible: Callable[[Bank], bool] | None = None,
) -> list[ItemResult]:
    """The results with their matches (failed items are not matched), after a matcher refresh."""
    matcher.refresh()
    through = matcher.cursor
    out = []
    for r in results:
        matches: tuple[Match, ...] = ()
        if r.ok:
            usable, _weak = split_by_quality(r.signals, min_quality)
            matches = tuple(matcher.match([Query(s) for s in usable], visible=visible))
        out.append(
            ItemResult(r.item, r.media_kind, r.signals, r.error, matches, matched_through=through)
        )
    return out


def org_visibility(store: Store, org: str) -> Callable[[Bank], bool] | None:
    """The banks ``org`` may see when it is an organisation of this node; None (all) otherwise.

    A node run from the command line without organisations scans for itself, as `tessera match`.
    """
    from tessera.errors import NotFound
    from tessera.services.access import Principal, may_see
    from tessera.store.orgs import OrgStore

    orgs = OrgStore(store.db)
    try:
        record = orgs.get_org(org)
    except NotFound:
        return None
    who = Principal(org, record.tier, frozenset(), orgs.groups_of(org))
    return lambda bank: may_see(who, bank)


def signals_json(signals: Sequence[Signal]) -> list[dict[str, Any]]:
    """Signals as the journal stores them."""
    return [{"type": s.type, "value": s.value, "quality": s.quality} for s in signals]


def signals_from_json(rows: Sequence[dict[str, Any]]) -> tuple[Signal, ...]:
    """Signals back from the journal."""
    return tuple(Signal(r["type"], r["value"], r.get("quality")) for r in rows)


def match_json(m: Match) -> dict[str, Any]:
    """Every field of a match, to rebuild it when routing resumes."""
    return {
        "bank": m.bank,
        "entry_uuid": m.entry_uuid,
        "signal_type": m.signal_type,
        "distance": m.distance,
        "threshold": m.threshold,
        "query_value": m.query_value,
        "matched_value": m.matched_value,
        "labels": list(m.labels),
        "entry_status": m.entry_status,
        "created_by": m.created_by,
        "transform": m.transform,
        "detail": dict(m.detail) if m.detail is not None else None,
        "demoted": m.demoted,
    }


def match_from_json(d: dict[str, Any]) -> Match:
    """A match back from the journal."""
    return Match(**(d | {"labels": tuple(d["labels"])}))
