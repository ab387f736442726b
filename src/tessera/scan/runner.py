"""A scan job from start to report: source → batches → backend → journal → review.

1. Open the job (resume the unfinished one for the same source unless restarting) and first
   route any matches a kill left committed but unrouted.
2. Read the source in windows; drop the items the journal has recorded (a resumed scan skips
   exactly those); a content id seen twice in a manifest is an error item for its later line.
3. The backend hashes and matches batches; each finished batch is committed to the journal in one
   transaction, then its matches are routed to review by the bank policies (source ``scan``).
4. Mark the job finished; the journal holds the report: counts, per-item errors, matches, cases.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tessera.scan.checkpoint import JobSummary, JournalItem, ScanJob, ScanJournal
from tessera.scan.routing import route_once
from tessera.scan.source import ScanSource, SourceItem
from tessera.scan.work import Backend, ItemResult, match_from_json, signals_from_json
from tessera.settings import Settings
from tessera.store.repository import Store

WINDOW = 512
"""Source items checked against the journal per query."""


@dataclass(frozen=True, slots=True)
class ScanOutcome:
    """What a scan run did: its job, items skipped as done before, cases opened, final counts."""

    job: ScanJob
    skipped: int
    scanned: int
    cases_opened: int
    summary: JobSummary


class Scanner:
    """Runs scan jobs of one organisation on a backend."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        backend: Backend,
        *,
        org: str,
        batch_size: int = 16,
        keep_signals: bool = False,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.backend = backend
        self.org = org
        self.batch_size = batch_size
        self.keep_signals = keep_signals
        self.journal = ScanJournal(store)
        self.on_progress = on_progress or (lambda _n: None)
        self._in_flight: set[str] = set()
        self._skipped = 0
        self._opened = 0

    def run(self, source: ScanSource, *, restart: bool = False) -> ScanOutcome:
        """Scan every item of the source not yet recorded by its job; returns the outcome."""
        job = self.journal.open_job(
            self.org, source.description, keep_signals=self.keep_signals, restart=restart
        )
        self._skipped = self._opened = 0
        self._in_flight = set()
        for pending in self.journal.unrouted(job):
            self._route(job, pending)
        scanned = 0
        batches = self._batches(job, source)
        # A job that keeps signals (asked now or on an earlier run of it) hashes videos densely.
        for results in self.backend.process(batches, keep_signals=job.keep_signals):
            self.journal.commit(job, results, self.settings.min_quality)
            for r in results:
                self._in_flight.discard(r.item.key)
                if r.matches:
                    self._route_result(job, r)
            scanned += len(results)
            self.on_progress(len(results))
        self.journal.finish(job)
        return ScanOutcome(job, self._skipped, scanned, self._opened, self.journal.summary(job))

    def _batches(self, job: ScanJob, source: ScanSource) -> Iterator[list[SourceItem]]:
        batch: list[SourceItem] = []
        for window in _windows(source.items(), WINDOW):
            for item in self._new_items(job, source, window):
                batch.append(item)
                if len(batch) >= self.batch_size:
                    yield batch
                    batch = []
        if batch:
            yield batch

    def _new_items(
        self, job: ScanJob, source: ScanSource, window: list[SourceItem]
    ) -> list[SourceItem]:
        """The window's items not yet recorded, duplicates of a content id turned into errors."""
        done = self.journal.done(job, window)
        fresh: list[SourceItem] = []
        duplicates: list[SourceItem] = []
        for item in window:
            at = done.get(item.key)
            if at is not None and (at == item.position or source.kind == "folder"):
                self._skipped += 1
                self.on_progress(1)
            elif at is not None or item.key in self._in_flight:
                duplicates.append(
                    SourceItem(
                        item.position,
                        f"#line {item.position}",
                        item.path,
                        f"line {item.position}: content_id {item.key!r} appears on an earlier line",
                    )
                )
            else:
                self._in_flight.add(item.key)
                fresh.append(item)
        done_dups = self.journal.done(job, duplicates)
        for item in duplicates:
            if item.key in done_dups:
                self._skipped += 1
                self.on_progress(1)
            else:
                self._in_flight.add(item.key)
                fresh.append(item)
        return fresh

    def _route_result(self, job: ScanJob, r: ItemResult) -> None:
        outcome = route_once(
            self.store,
            self.settings,
            org=self.org,
            content_ref=r.item.key,
            media_kind=r.media_kind or "file",
            signals=r.signals,
            matches=r.matches,
            source="scan",
        )
        self._opened += int(outcome.opened)
        self.journal.mark_routed(job, r.item.key, outcome.case_uuid)

    def _route(self, job: ScanJob, item: JournalItem) -> None:
        source_item = SourceItem(item.position, item.key, item.path)
        result = ItemResult(
            source_item,
            item.media_kind,
            signals_from_json(item.signals),
            item.error,
            tuple(match_from_json(m) for m in item.matches),
        )
        self._route_result(job, result)


def _windows(items: Iterator[SourceItem], size: int) -> Iterator[list[SourceItem]]:
    window: list[SourceItem] = []
    for item in items:
        window.append(item)
        if len(window) >= size:
            yield window
            window = []
    if window:
        yield window
