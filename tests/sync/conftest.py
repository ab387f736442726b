"""Two real nodes on loopback for sync tests, on SQLite and on PostgreSQL.

``hub`` (node A) admits organisations ``hub`` (coordinator), ``nodeb`` (member), ``obsb``
(observer), ``pb`` (partner, in sharing group ``g1``), and ``other`` (member, owns nothing here).
``edge`` (node B) is the puller: its peer ``hub`` uses ``nodeb``'s token unless a test adds others.
Each node also has a token for the other's coordinator, so tests can sync both ways.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tessera.api import Node, create_app
from tessera.services.sync import Syncer
from tessera.settings import Settings
from tessera.store import Database, Store
from tessera.store.orgs import OrgStore
from tessera.store.peers import PeerStore
from tessera.store.records import Tier
from tests.api.server import Orgs, run_server


@dataclass
class SyncNode:
    """A node serving on loopback: its store, organisations' tokens and an HTTP client."""

    name: str
    store: Store
    orgs: Orgs
    url: str
    app_node: Node
    settings: Settings
    syncers: list[Syncer] = field(default_factory=list)

    def syncer(self, **overrides: object) -> Syncer:
        """A syncer for this node (settings overridden for the test), closed at teardown."""
        settings = self.settings.model_copy(update=overrides)
        self.syncers.append(Syncer(self.store, settings))
        return self.syncers[-1]

    def close(self) -> None:
        """Close the syncers' connections."""
        for syncer in self.syncers:
            syncer.close()

    def add_peer(self, name: str, other: SyncNode, org: str) -> None:
        """Make ``other`` a peer of this node, pulling as ``org`` (an org of ``other``)."""
        PeerStore(self.store.db).add(name, other.url, other.orgs.tokens[org])

    def refresh(self) -> None:
        """Bring this node's match index up to its change log."""
        self.app_node.matcher.refresh()


def node_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings for a sync test node: no background loop, short timeouts."""
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "follow_interval_s": 0.05,
        "sync_interval_s": 0,
        "sync_read_timeout_s": 5.0,
        "sync_page_timeout_s": 10.0,
    }
    return Settings(**(values | overrides))  # type: ignore[arg-type]


@dataclass
class Backend:
    """Makes empty migrated stores on one backend."""

    kind: str
    tmp_path: Path
    postgres_url: str | None
    schemas: list[str]

    def store(self, name: str, node_org: str) -> Store:
        """A fresh migrated store."""
        if self.kind == "sqlite":
            db = Database(f"sqlite:///{self.tmp_path / f'{name}.db'}")
        else:
            assert self.postgres_url is not None
            schema = f"s_{uuid.uuid4().hex[:12]}"
            engine = sa.create_engine(self.postgres_url)
            with engine.begin() as conn:
                conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
            engine.dispose()
            self.schemas.append(schema)
            db = Database(self.postgres_url, schema=schema)
        db.migrate()
        return Store(db, node_org=node_org)

    def url_of(self, store: Store) -> str:
        """The store's database URL as `tessera serve --db` takes it (SQLite only)."""
        return str(store.db.url.render_as_string(hide_password=False))


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """A maker of stores on SQLite, then on PostgreSQL."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgresql" else None
    b = Backend(request.param, tmp_path, url, [])
    yield b
    if url is not None and b.schemas:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            for schema in b.schemas:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def start_node(
    stack: ExitStack, backend: Backend, name: str, node_org: str, **overrides: object
) -> SyncNode:
    """A store on ``backend`` with its app served on loopback until ``stack`` closes."""
    store = backend.store(name, node_org)
    stack.callback(store.db.dispose)
    settings = node_settings(backend.tmp_path / name, **overrides)
    app = create_app(settings, store=store)
    url = stack.enter_context(run_server(app))
    node = SyncNode(name, store, Orgs(store), url, app.state.node, settings)
    stack.callback(node.close)
    return node


@pytest.fixture
def nodes(backend: Backend) -> Iterator[tuple[SyncNode, SyncNode]]:
    """(hub, edge): two nodes on the same backend, edge pulling from hub as ``nodeb``."""
    with ExitStack() as stack:
        hub = start_node(stack, backend, "hub", "hub")
        edge = start_node(stack, backend, "edge", "edge")
        for org, tier in [
            ("hub", Tier.COORDINATOR),
            ("nodeb", Tier.MEMBER),
            ("obsb", Tier.OBSERVER),
            ("pb", Tier.PARTNER),
            ("other", Tier.MEMBER),
        ]:
            hub.orgs.add(org, tier)
        groups = OrgStore(hub.store.db)
        groups.create_group("g1")
        groups.set_group_member("g1", "pb", True)
        edge.orgs.add("edge", Tier.COORDINATOR)
        edge.orgs.add("hubnode", Tier.MEMBER)
        edge.orgs.add("reviewer", Tier.MEMBER)
        edge.add_peer("hub", hub, "nodeb")
        yield hub, edge


def http(node: SyncNode, org: str) -> httpx.Client:
    """A client of ``node`` authenticated as ``org``."""
    return httpx.Client(base_url=node.url, headers=node.orgs.auth(org), timeout=30)
