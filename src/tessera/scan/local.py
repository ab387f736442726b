"""The local scan backend: a pool of worker processes sized to the cores.

1. Each worker process opens the store and holds its own index (a ``ScanWorker``); a batch sent
   to the pool is hashed and matched there, so hashing and matching both use every core.
2. At most two batches per worker are in flight, so memory stays flat however large the source.
3. A worker that dies (a decoder crash) breaks the pool: the batches it held are retried item by
   item in a fresh pool, and an item that kills a worker on its own is reported as failed. A
   fresh pool must first show that a worker starts (opens the store, loads the index): when none
   can, the fault is not the files, and the scan stops with an error, leaving the items in hand
   unrecorded for the next run.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from tessera.errors import TesseraError
from tessera.scan.source import SourceItem
from tessera.scan.work import ItemResult, ScanWorker, StoreLocation
from tessera.settings import Settings
from tessera.store.repository import Store

CRASHED = "the hashing process crashed on this file"

_worker: ScanWorker | None = None


def _start_worker(location: StoreLocation, settings: Settings, org: str) -> None:
    global _worker
    _worker = ScanWorker(location, settings, org)


def _scan_batch(batch: list[SourceItem], keep_signals: bool) -> list[ItemResult]:
    if _worker is None:
        raise RuntimeError("the scan worker process was not initialised")
    return _worker.scan(batch, keep_signals=keep_signals)


def default_workers() -> int:
    """How many worker processes the local backend uses by default: one per usable core."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on every platform
        return max(1, os.cpu_count() or 1)


class LocalBackend:
    """Hash and match in a pool of worker processes, each holding the index."""

    def __init__(
        self, store: Store, settings: Settings, *, org: str, workers: int | None = None
    ) -> None:
        self.workers = workers or default_workers()
        self._init = (StoreLocation.of(store), settings, org)
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.workers,
            mp_context=multiprocessing.get_context("forkserver"),
            initializer=_start_worker,
            initargs=self._init,
        )

    def process(
        self, batches: Iterator[list[SourceItem]], *, keep_signals: bool = False
    ) -> Iterator[list[ItemResult]]:
        """Results of every batch as workers finish them (a bounded number in flight); with
        ``keep_signals`` every video is hashed densely (``ScanWorker.scan``)."""
        in_flight: dict[Future[list[ItemResult]], list[SourceItem]] = {}
        exhausted = False
        while True:
            while not exhausted and len(in_flight) < 2 * self.workers:
                batch = next(batches, None)
                if batch is None:
                    exhausted = True
                    break
                in_flight[self._pool.submit(_scan_batch, batch, keep_signals)] = batch
            if not in_flight:
                return
            finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            broken: list[list[SourceItem]] = []
            for future in finished:
                batch = in_flight.pop(future)
                try:
                    results = future.result()
                except BrokenProcessPool:
                    broken.append(batch)
                    continue
                yield results
            if broken:
                broken += list(in_flight.values())  # the pool is gone: so are the others
                in_flight.clear()
                self._restart()
                for batch in broken:
                    yield self._isolate(batch, keep_signals)

    def _isolate(self, batch: list[SourceItem], keep_signals: bool) -> list[ItemResult]:
        """Scan a batch item by item, each alone in the pool; an item that crashes it fails."""
        results = []
        for item in batch:
            try:
                results += self._pool.submit(_scan_batch, [item], keep_signals).result()
            except BrokenProcessPool:
                self._restart()
                results.append(ItemResult(item, error=CRASHED))
        return results

    def _restart(self) -> None:
        """A fresh pool, once a worker of it has shown it can start; else the scan stops."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = self._new_pool()
        try:
            self._pool.submit(_scan_batch, [], False).result()
        except BrokenProcessPool:
            self._pool.shutdown(wait=False, cancel_futures=True)
            raise TesseraError(
                "scan worker processes cannot start (see the error above); the files in hand "
                "were not recorded: run the scan again to resume"
            ) from None

    def close(self) -> None:
        """Stop the worker processes."""
        self._pool.shutdown(wait=True, cancel_futures=True)
