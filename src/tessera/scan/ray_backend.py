"""The Ray scan backend: the same job on a Ray cluster (or a local Ray instance).

1. ``--ray local`` starts a Ray instance on this machine with one CPU per worker; ``--ray
   ADDRESS`` (``ray://host:10001`` or ``host:6379``) joins a running cluster. Every node needs
   Tessera installed, the same media paths (shared storage) and the store's URL reachable
   (PostgreSQL on a cluster: a SQLite file exists only on the driver's machine).
2. A pool of actors, one per worker, each a ``ScanWorker`` that opens the store and holds the
   index: an actor hashes and matches a batch and returns the results; the driver journals them
   and routes matches to review.
3. At most two batches per actor are in flight; results come back as they finish.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from tessera.errors import InputError
from tessera.scan.source import SourceItem
from tessera.scan.work import ItemResult, ScanWorker, StoreLocation
from tessera.settings import Settings
from tessera.store.repository import Store


class RayBackend:
    """Hash and match in Ray actors that each hold the index."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        org: str,
        address: str,
        workers: int | None = None,
    ) -> None:
        import ray
        from ray.util import ActorPool

        self._started = not ray.is_initialized()
        if self._started:
            if address == "local":
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
            else:
                if store.db.dialect == "sqlite":
                    raise InputError(
                        "a Ray cluster needs a store every node can reach: use PostgreSQL "
                        "(--db postgresql+psycopg://...), not a SQLite file"
                    )
                ray.init(address=address, log_to_driver=False)
        self._ray = ray
        resources: dict[str, float] = ray.available_resources()  # type: ignore[no-untyped-call]
        cpus = int(resources.get("CPU", 1))
        self.workers = max(1, workers or cpus)
        location = StoreLocation.of(store)
        actor = ray.remote(num_cpus=1)(ScanWorker)
        self._actors: list[Any] = [
            actor.remote(location, settings, org) for _ in range(self.workers)
        ]
        self._pool: Any = ActorPool(self._actors)

    def process(
        self, batches: Iterator[list[SourceItem]], *, keep_signals: bool = False
    ) -> Iterator[list[ItemResult]]:
        """Results of every batch as actors finish them; with ``keep_signals`` every video is
        hashed densely (``ScanWorker.scan``)."""
        pending = 0
        exhausted = False
        while True:
            while not exhausted and pending < 2 * self.workers:
                batch = next(batches, None)
                if batch is None:
                    exhausted = True
                    break
                self._pool.submit(lambda a, b: a.scan.remote(b, keep_signals=keep_signals), batch)
                pending += 1
            if pending == 0:
                return
            results: list[ItemResult] = self._pool.get_next_unordered()
            pending -= 1
            yield results

    def close(self) -> None:
        """Stop the actors, and the Ray instance when this backend started it."""
        for a in self._actors:
            self._ray.kill(a)
        self._actors = []
        if self._started:
            self._ray.shutdown()
