"""Incident surge between two real nodes: while the hub reports an active incident the edge's
sync loop pulls it every incident_sync_interval_s, and stops when the incident ends; a peer
without the incident endpoint syncs as before — on SQLite and on PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import cast

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.types import Receive, Scope, Send

from tessera.api import create_app
from tessera.review import incidents
from tessera.services.access import TIER_SCOPES, Principal
from tessera.services.sync import SyncLoop
from tessera.signals.base import Signal
from tessera.store.peers import PeerStore
from tessera.store.records import NewEntry, Tier
from tessera.store.repository import Store
from tests.api.server import Orgs, run_server
from tests.sync.conftest import Backend, SyncNode, node_settings

HUB = Principal("hub", Tier.COORDINATOR, TIER_SCOPES[Tier.COORDINATOR])


def _start(stack: ExitStack, backend: Backend, name: str, *, incidents_api: bool) -> SyncNode:
    """A node like ``conftest.start_node``; without ``incidents_api`` it is an older node that
    answers 404 at ``/v1/incidents``."""
    store = backend.store(name, name)
    stack.callback(store.db.dispose)
    settings = node_settings(backend.tmp_path / name)
    app = create_app(settings, store=store)
    url = stack.enter_context(run_server(app if incidents_api else _older_node(app)))
    node = SyncNode(name, store, Orgs(store), url, app.state.node, settings)
    stack.callback(node.close)
    return node


def _older_node(app: FastAPI) -> FastAPI:
    """``app`` as a node from before incidents: ``/v1/incidents`` answers 404."""

    async def asgi(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/incidents"):
            await JSONResponse({"error": {"code": "not_found"}}, 404)(scope, receive, send)
        else:
            await app(scope, receive, send)

    return cast(FastAPI, asgi)


def _pair(backend: Backend, stack: ExitStack, *, incidents_api: bool) -> tuple[SyncNode, SyncNode]:
    hub = _start(stack, backend, "hub", incidents_api=incidents_api)
    edge = _start(stack, backend, "edge", incidents_api=True)
    hub.orgs.add("hub", Tier.COORDINATOR)
    hub.orgs.add("nodeb", Tier.MEMBER)
    hub.orgs.add("pb", Tier.PARTNER)
    edge.orgs.add("edge", Tier.COORDINATOR)
    edge.add_peer("hub", hub, "nodeb")
    hub.store.create_bank("live", owner_org="hub", distribution="members")
    return hub, edge


@pytest.fixture
def pair(backend: Backend) -> Iterator[tuple[SyncNode, SyncNode]]:
    """(hub with the incident routes, edge pulling from it as member ``nodeb``)."""
    with ExitStack() as stack:
        yield _pair(backend, stack, incidents_api=True)


def _loop(edge: SyncNode, **overrides: object) -> SyncLoop:
    settings = edge.settings.model_copy(
        update={"sync_interval_s": 60.0, "incident_sync_interval_s": 0.1} | overrides
    )
    return SyncLoop(edge.store, settings)


def _add(store: Store, i: int) -> str:
    added = store.add_entries("live", [NewEntry(signals=(Signal("md5", f"{i:032x}"),))])
    return added.added[0].uuid


def _mirrored(store: Store, entry: str) -> bool:
    banks = [b.name for b, _ in store.list_banks()]
    return "hub.live" in banks and any(e.uuid == entry for e in store.iter_entries("hub.live"))


def _until(check: Callable[[], bool], within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.05)


def test_an_active_incident_makes_the_edge_pull_often_until_it_ends(
    pair: tuple[SyncNode, SyncNode],
) -> None:
    hub, edge = pair
    incident = incidents.declare(hub.store, hub.settings, HUB, name="stream", bank="live")
    loop = _loop(edge)
    loop.start()
    try:
        _until(lambda: "hub" in loop.surging)
        # The normal interval is a minute: only the surge brings a new entry this fast.
        first = _add(hub.store, 1)
        _until(lambda: _mirrored(edge.store, first), within_s=5.0)
        second = _add(hub.store, 2)
        _until(lambda: _mirrored(edge.store, second), within_s=5.0)
        incidents.end(hub.store, HUB, incident.uuid)
        _until(lambda: "hub" not in loop.surging, within_s=5.0)
        late = _add(hub.store, 3)
        time.sleep(1.0)
        assert not _mirrored(edge.store, late), "after the incident the normal interval applies"
    finally:
        loop.stop()


def test_the_syncer_sees_only_incidents_of_banks_it_may_see(
    pair: tuple[SyncNode, SyncNode],
) -> None:
    hub, edge = pair
    syncer = edge.syncer()
    assert syncer.active_incidents("hub") == []
    incident = incidents.declare(hub.store, hub.settings, HUB, name="stream", bank="live")
    found = syncer.active_incidents("hub")
    assert [(i.id, i.bank_uuid) for i in found] == [
        (incident.uuid, hub.store.get_bank("live").uuid)
    ]
    edge.add_peer("as_partner", hub, "pb")  # the partner may not see the members' bank
    assert syncer.active_incidents("as_partner") == []


def test_a_peer_without_incidents_syncs_as_before(backend: Backend) -> None:
    with ExitStack() as stack:
        hub, edge = _pair(backend, stack, incidents_api=False)
        assert httpx.get(f"{hub.url}/v1/incidents").status_code == 404
        entry = _add(hub.store, 1)
        assert edge.syncer().active_incidents("hub") == []
        loop = _loop(edge)
        loop.start()
        try:
            _until(lambda: _mirrored(edge.store, entry))
            assert loop.surging == {}
        finally:
            loop.stop()


def test_a_failing_peer_ends_its_surge(pair: tuple[SyncNode, SyncNode]) -> None:
    hub, edge = pair
    incidents.declare(hub.store, hub.settings, HUB, name="stream", bank="live")
    loop = _loop(edge)
    loop.run_round()
    assert "hub" in loop.surging
    peers = PeerStore(edge.store.db)
    peers.remove("hub")
    peers.add("hub", "http://127.0.0.1:9", hub.orgs.tokens["nodeb"])  # nothing listens there
    loop.surging["hub"] = 0.0
    loop.run_surges()
    assert loop.surging == {}
    loop.syncer.close()
