"""Kill a sync at random points and resume: nothing lost, nothing duplicated.

Two ways to kill it, both real:
- a TCP proxy in front of the hub drops the connection after a chosen number of response bytes
  (Hypothesis picks the cut points and the page size), mid-page or between pages;
- ``tessera sync`` runs as a subprocess and is SIGKILLed after a random delay, mid-apply included.
After each kill a clean sync must leave the edge's copy equal to the hub's bank, with the cursor at
the hub's log, every entry added once, and no page applied twice.
"""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tessera.exchange.protocol import PeerError
from tessera.services.sync import Syncer
from tessera.signals.base import Signal
from tessera.store import Store
from tessera.store.peers import PeerStore
from tessera.store.records import EntryStatus, NewEntry, Tier, Verdict
from tessera.store.tables import changes
from tests.sync.conftest import Backend, SyncNode, node_settings, start_node
from tests.sync.hostile import CuttingProxy
from tests.sync.test_two_nodes import fill, mirror_state


@pytest.fixture
def hub(backend: Backend) -> Iterator[tuple[SyncNode, Backend]]:
    """A hub with a bank of 40 entries, some retired, deleted or disputed, serving on loopback."""
    with ExitStack() as stack:
        node = start_node(stack, backend, "hub", "hub")
        node.orgs.add("nodeb", Tier.MEMBER)
        node.orgs.add("other", Tier.MEMBER)
        uuids = fill(node.store, "shared", 40)
        for u in uuids[:5]:
            node.store.set_entry_status("shared", u, EntryStatus.RETIRED)
        for u in uuids[5:8]:
            node.store.delete_entry("shared", u)
        for u in uuids[8:12]:
            node.store.set_opinion("shared", u, "other", Verdict.DISPUTED, "not in scope")
        yield node, backend


def check_copy(hub: SyncNode, edge: Store) -> None:
    """The edge's copy equals the hub's bank; every entry was added to the edge's log once."""
    bank = hub.store.get_bank("shared").uuid
    assert mirror_state(edge, bank) == mirror_state(hub.store, bank)
    assert PeerStore(edge.db).get("hub").cursor == hub.store.latest_seq()
    with edge.db.read() as conn:
        added = conn.execute(
            sa.select(changes.c.entry_uuid, sa.func.count())
            .where(changes.c.kind == "entry_added")
            .group_by(changes.c.entry_uuid)
        ).all()
    assert added and all(n == 1 for _, n in added), "an entry was added twice"


_count = itertools.count()


@hsettings(
    max_examples=8,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    cuts=st.lists(st.integers(min_value=0, max_value=40_000), min_size=1, max_size=3),
    page_size=st.sampled_from([3, 7, 50]),
)
def test_a_sync_cut_anywhere_resumes_without_loss_or_duplicates(
    hub: tuple[SyncNode, Backend], cuts: list[int], page_size: int
) -> None:
    node, backend = hub
    edge = backend.store(f"edge{next(_count)}", "edge")
    port = urlsplit(node.url).port
    assert port is not None
    try:
        for budget in cuts:
            proxy = CuttingProxy(port, budget)
            peers = PeerStore(edge.db)
            if not peers.list():
                peers.add("hub", proxy.url, node.orgs.tokens["nodeb"])
            else:
                with edge.db.write() as conn:
                    from tessera.store.peers import peers as peers_table

                    conn.execute(peers_table.update().values(url=proxy.url))
            syncer = Syncer(edge, node_settings(backend.tmp_path, sync_page_size=page_size))
            try:
                syncer.sync("hub")
            except PeerError as e:
                assert proxy.cut, f"failed without a cut: {e}"
                assert PeerStore(edge.db).get("hub").last_error
            finally:
                syncer.close()
                proxy.close()
        with edge.db.write() as conn:
            from tessera.store.peers import peers as peers_table

            conn.execute(peers_table.update().values(url=node.url))
        syncer = Syncer(edge, node_settings(backend.tmp_path, sync_page_size=page_size))
        try:
            syncer.sync("hub")
        finally:
            syncer.close()
        check_copy(node, edge)
    finally:
        edge.db.dispose()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
@hsettings(max_examples=3, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(delay=st.floats(min_value=0.3, max_value=3.0))
def test_a_sync_process_killed_anywhere_resumes(
    hub: tuple[SyncNode, Backend], delay: float
) -> None:
    node, backend = hub
    if len(mirror_state(node.store, node.store.get_bank("shared").uuid)) < 1000:
        new = [NewEntry((Signal("md5", uuid.uuid4().hex),), created_by="hub") for _ in range(1500)]
        node.store.add_entries("shared", new)
    name = f"killed{next(_count)}"
    edge = backend.store(name, "edge")
    try:
        PeerStore(edge.db).add("hub", node.url, node.orgs.tokens["nodeb"])
        env = dict(
            os.environ,
            TESSERA_DATABASE_URL=str(edge.db.url),
            TESSERA_SYNC_PAGE_SIZE="50",
            TESSERA_DATA_DIR=str(backend.tmp_path),
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "tessera", "sync", "hub"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        syncer = Syncer(edge, node_settings(backend.tmp_path, sync_page_size=50))
        try:
            syncer.sync("hub")
        finally:
            syncer.close()
        check_copy(node, edge)
    finally:
        edge.db.dispose()
