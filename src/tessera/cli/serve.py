"""`tessera serve`: run the HTTP node (uvicorn) on the configured store.

On a store with no organisations, the first start admits ``node_org`` as coordinator and prints
the command that issues its first token; no secret is ever printed or logged here.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shlex
import sys
from pathlib import Path
from typing import IO, Annotated, Protocol

import typer
import uvicorn
from fastapi import FastAPI

from tessera import web
from tessera.api import create_app
from tessera.cli.context import STATE, DbOption, err, reports_errors
from tessera.review.delivery import DeliveryWorker
from tessera.review.orders import OrderWatch
from tessera.scan.retention import purge_kept
from tessera.scan.retro import RetroHunter
from tessera.services import review
from tessera.services.orgs import ensure_node_org
from tessera.services.periodic import Periodic
from tessera.services.sync import SyncLoop
from tessera.settings import Settings, load_settings
from tessera.store import Store, open_store
from tessera.store.orgs import OrgStore


def program_name(argv0: str) -> str:
    """How to run this command again: the relative path it was started by (``.venv/bin/tessera``
    from ``make run``), else ``tessera``."""
    path = Path(argv0)
    if path.name == "tessera" and not path.is_absolute() and "/" in argv0:
        return shlex.quote(argv0)
    return "tessera"


def first_token_hint(org: str, db_url: str | None, program: str = "tessera") -> str:
    """The command that issues a first (coordinator) token."""
    db = f" --db {shlex.quote(db_url)}" if db_url else ""
    scopes = " ".join(f"--scope {s}" for s in ("admin", "match", "contribute", "review", "sync"))
    return f"{program}{db} token create --org {shlex.quote(org)} {scopes}"


class Job(Protocol):
    """A background job of the node: started with the app, stopped with it."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


RETENTION_INTERVAL_S = 3600.0
"""How often `serve` deletes what is past its retention (review previews, kept signals)."""


def background_jobs(store: Store, settings: Settings) -> list[Job]:
    """What `tessera serve` runs beside the API: sync with peers, webhook deliveries, the watch
    on removal orders' deadlines, retro-hunts of kept signals against new entries, and the
    hourly deletion of content kept for review, and of kept signals, past their retention."""
    return [
        SyncLoop(store, settings),
        DeliveryWorker(store.db, settings),
        OrderWatch(store.db, settings.order_watch_interval_s),
        RetroHunter(store, settings, interval_s=settings.retro_hunt_interval_s),
        Periodic("media-purge", RETENTION_INTERVAL_S, lambda: review.purge_expired_media(store)),
        Periodic("kept-purge", RETENTION_INTERVAL_S, lambda: purge_kept(store, settings)),
    ]


class JobsLock:
    """An exclusive lock file per store: of several worker processes serving one node, the one
    holding it runs the background jobs (the others serve requests only). The operating system
    releases it when its process ends, so a restarted worker can take it over."""

    def __init__(self, folder: Path, database_url: str) -> None:
        key = hashlib.sha256(database_url.encode()).hexdigest()[:16]
        self.path = folder / f"jobs-{key}.lock"
        self._file: IO[bytes] | None = None

    def acquire(self) -> bool:
        """Take the lock if no other process holds it; whether this process now holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("ab")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        self._file = handle
        return True

    def release(self) -> None:
        """Give the lock up."""
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def node_app(settings: Settings, store: Store, lock: JobsLock | None = None) -> FastAPI:
    """The node's app with the review pages, and the background jobs unless another worker
    process holds ``lock``."""
    runs_jobs = lock is None or lock.acquire()
    jobs = background_jobs(store, settings) if runs_jobs else []

    def stop(_node: object) -> None:
        stop_all(jobs)
        if lock is not None:
            lock.release()

    return create_app(
        settings,
        store=store,
        extra_routers=[web.router],
        on_startup=[lambda _node: start_all(jobs)],
        on_shutdown=[stop],
    )


def worker_app() -> FastAPI:
    """One of several worker processes (`serve --workers N`): settings from the environment."""
    settings = load_settings()
    store = open_store(settings)
    return node_app(settings, store, JobsLock(settings.data_dir, settings.resolved_database_url()))


def start_all(jobs: list[Job]) -> None:
    """Start the background jobs in order."""
    for job in jobs:
        job.start()


def stop_all(jobs: list[Job]) -> None:
    """Stop the background jobs, last started first."""
    for job in reversed(jobs):
        job.stop()


@reports_errors
def serve(
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on (setting host).")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", min=0, max=65535, help="Port (setting port).")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, max=64, help="Worker processes (setting workers)."),
    ] = None,
    db_url: DbOption = None,
) -> None:
    """Run the HTTP node: the API under /v1, OpenAPI at /docs, /healthz, /readyz, /metrics."""
    settings = load_settings(
        database_url=db_url or STATE.db_url, host=host, port=port, workers=workers
    )
    store = STATE.store(db_url)
    orgs = OrgStore(store.db)
    created = ensure_node_org(orgs, settings.node_org)
    if created is not None:
        err.print(f"admitted this node's organisation {created.name!r} as coordinator")
    if not any(t.revoked_at is None for t in orgs.list_tokens()):
        owner = next((o.name for o in orgs.list_orgs() if o.tier.value == "coordinator"), None)
        hint = first_token_hint(
            owner or settings.node_org, db_url or STATE.db_url, program_name(sys.argv[0])
        )
        err.print("no API token exists yet; issue one (from this folder) with:", markup=False)
        err.print(f"  {hint}", markup=False, soft_wrap=True)
        err.print(
            "then: curl -H 'Authorization: Bearer <token>' "
            f"http://{settings.host}:{settings.port}/v1/me",
            markup=False,
            soft_wrap=True,
        )
    base = f"http://{settings.host}:{settings.port}"
    err.print(f"Tessera node on {base}  (API docs: {base}/docs, review pages: {base}/web/)")
    host, port = settings.host, settings.port
    if settings.workers == 1:
        app = node_app(settings, store)
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
        return
    # Each worker process opens the store and builds its index itself, from these settings.
    store.db.dispose()
    os.environ["TESSERA_DATABASE_URL"] = settings.resolved_database_url()
    err.print(f"{settings.workers} worker processes, each with its own match index")
    uvicorn.run(
        "tessera.cli.serve:worker_app",
        factory=True,
        workers=settings.workers,
        host=host,
        port=port,
        log_level="info",
        access_log=False,
    )
