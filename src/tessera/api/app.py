"""The HTTP node: ``create_app(settings)``, a FastAPI app over the services the CLI uses.

Flow of one process:
1. open the store (or take the one given), the organisations and the token authority;
2. on startup, load the match index and follow the change log every ``follow_interval_s`` (so an
   entry added through any process on the same database is matchable within a poll);
3. every request passes the body limit and metrics middleware, then its route: dependencies
   resolve the token to an organisation and check scopes, the access policy decides what it may
   see or change, and errors become JSON in one place (``api.errors``).

Routes live in ``api.routes`` (one module per concern). Other parts of Tessera add theirs with
``extra_routers`` (e.g. the change feed) and background work with ``on_startup``/``on_shutdown``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI

from tessera import __version__
from tessera.api import errors
from tessera.api.deps import Node
from tessera.api.middleware import BodyLimit, Metrics
from tessera.api.routes import ROUTERS
from tessera.review.token_audit import TokenUseRecorder
from tessera.services.matching import Matcher
from tessera.services.orgs import TokenAuthority
from tessera.settings import Settings
from tessera.store import Store, open_store
from tessera.store.orgs import OrgStore
from tessera.store.probe import ChangeProbe

Hook = Callable[[Node], None]


def create_app(
    settings: Settings,
    *,
    store: Store | None = None,
    follow: bool = True,
    extra_routers: Sequence[APIRouter] = (),
    on_startup: Sequence[Hook] = (),
    on_shutdown: Sequence[Hook] = (),
) -> FastAPI:
    """The node's FastAPI app over ``store`` (default: the configured one, opened now)."""
    owns_store = store is None
    store = store or open_store(settings)
    orgs = OrgStore(store.db)
    recorder = TokenUseRecorder(store.db, settings.audit_token_flush_s)
    node = Node(
        settings=settings,
        store=store,
        orgs=orgs,
        tokens=TokenAuthority(
            orgs,
            settings.token_cache_s,
            on_use=recorder.record,
            probe=ChangeProbe.of(store.db),
        ),
        matcher=Matcher(store),
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        node.matcher.load()
        node.loaded = True
        if follow:
            node.matcher.follow(settings.follow_interval_s)
        recorder.start()
        for hook in on_startup:
            hook(node)
        try:
            yield
        finally:
            for hook in on_shutdown:
                hook(node)
            recorder.stop()
            node.matcher.stop()
            if node.tokens.probe is not None:
                node.tokens.probe.close()
            if owns_store:
                store.db.dispose()

    app = FastAPI(
        title="Tessera",
        version=__version__,
        summary="A node of a hash-sharing exchange for known terrorist media.",
        lifespan=lifespan,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.node = node
    errors.install(app)
    for router in [*ROUTERS, *extra_routers]:
        app.include_router(router)
    app.add_middleware(Metrics, registry=node.registry)
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes)
    return app
