"""A running node per test: the real app on a real store (SQLite and PostgreSQL), uvicorn on
loopback, and organisations of every tier with tokens."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from tessera.api import Node, create_app
from tessera.settings import Settings
from tessera.store import Store
from tessera.store.records import Tier
from tests.api.server import Orgs, run_server


@dataclass
class RunningNode:
    """A node serving on loopback, its app and store, and its organisations' tokens."""

    app: FastAPI
    url: str
    orgs: Orgs
    client: httpx.Client

    @property
    def node(self) -> Node:
        """The app's node (store, matcher, ...)."""
        node: Node = self.app.state.node
        return node

    def as_(self, org: str | None) -> dict[str, str]:
        """Headers authenticating as ``org`` (none for None)."""
        return self.orgs.auth(org) if org else {}


def node_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings for a test node (fast change-log following)."""
    values: dict[str, object] = {"data_dir": tmp_path, "follow_interval_s": 0.05}
    return Settings(**(values | overrides))  # type: ignore[arg-type]


@pytest.fixture
def running(store: Store, tmp_path: Path) -> Iterator[RunningNode]:
    """A node on each backend with orgs hub (coordinator), m1, m2 (members), obs (observer), p1
    (partner); p1 and m2 are in sharing group ``g1``."""
    orgs = Orgs(store)
    orgs.add("hub", Tier.COORDINATOR)
    orgs.add("m1", Tier.MEMBER)
    orgs.add("m2", Tier.MEMBER)
    orgs.add("obs", Tier.OBSERVER)
    orgs.add("p1", Tier.PARTNER)
    from tessera.store.orgs import OrgStore

    groups = OrgStore(store.db)
    groups.create_group("g1")
    groups.set_group_member("g1", "p1", True)
    groups.set_group_member("g1", "m2", True)
    app = create_app(node_settings(tmp_path, max_upload_bytes=2_000_000), store=store)
    with run_server(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield RunningNode(app, url, orgs, client)


def jpeg(seed: int, size: tuple[int, int] = (640, 480), quality: int = 90) -> bytes:
    """A drawn scene as JPEG bytes."""
    from tessera.cli.demo import draw_scene

    buf = io.BytesIO()
    draw_scene(seed).resize(size).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
