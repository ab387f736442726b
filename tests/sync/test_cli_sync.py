"""`tessera peer add|list|remove` and `tessera sync` as a new user runs them (real processes)."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest

from tessera.store.records import Tier
from tests.sync.conftest import Backend, start_node
from tests.sync.test_two_nodes import fill


def tessera(*args: str, db: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, TESSERA_DATABASE_URL=f"sqlite:///{db}", COLUMNS="200")
    proc = subprocess.run(
        [sys.executable, "-m", "tessera", *args], env=env, capture_output=True, text=True
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_peer_commands_and_sync(backend: Backend, tmp_path: Path) -> None:
    with ExitStack() as stack:
        hub = start_node(stack, backend, "hub", "hub")
        hub.orgs.add("edge-org", Tier.MEMBER)
        fill(hub.store, "shared", 12)
        token = hub.orgs.tokens["edge-org"]
        edge = tmp_path / "edge.db"
        assert "no peers" in tessera("sync", db=edge).stderr
        tessera("peer", "add", "hub", hub.url, "--token", token, db=edge)
        listed = tessera("peer", "list", db=edge).stdout
        assert "hub" in listed and hub.url in listed and token not in listed
        out = tessera("sync", "hub", db=edge).stdout
        assert "hub: 1 page(s)" in out and "12 entr" in out
        banks = tessera("bank", "list", db=edge).stdout
        assert "hub.shared" in banks
        # A peer that is not there: one clear error line, exit 1, recorded on the peer.
        tessera("peer", "add", "gone", "http://127.0.0.1:9", "--token", "x", db=edge)
        failed = tessera("sync", db=edge, check=False)
        assert failed.returncode == 1
        assert "error: peer gone" in failed.stderr and "Traceback" not in failed.stderr
        assert "ConnectError" in tessera("peer", "list", db=edge).stdout
        bad = tessera(
            "peer", "add", "x", "file:///etc/passwd", "--token", "t", db=edge, check=False
        )
        assert bad.returncode == 1 and "http://" in bad.stderr
        tessera("peer", "remove", "gone", db=edge)
        assert "gone" not in tessera("peer", "list", db=edge).stdout


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_serve_syncs_with_its_peers_in_the_background(backend: Backend, tmp_path: Path) -> None:
    import time

    import httpx

    from tests.sync.test_replicas import free_port

    with ExitStack() as stack:
        hub = start_node(stack, backend, "hub", "hub")
        hub.orgs.add("edge-org", Tier.MEMBER)
        fill(hub.store, "shared", 3)
        edge = tmp_path / "edge.db"
        tessera("peer", "add", "hub", hub.url, "--token", hub.orgs.tokens["edge-org"], db=edge)
        port = free_port()
        env = dict(
            os.environ,
            TESSERA_DATABASE_URL=f"sqlite:///{edge}",
            TESSERA_DATA_DIR=str(tmp_path),
            TESSERA_SYNC_INTERVAL_S="0.3",
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "tessera", "serve", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while "hub.shared" not in tessera("bank", "list", db=edge).stdout:
                assert proc.poll() is None and time.monotonic() < deadline, "serve never synced"
                time.sleep(0.5)
            fill(hub.store, "later", 2)
            while "hub.later" not in tessera("bank", "list", db=edge).stdout:
                assert time.monotonic() < deadline, "serve stopped syncing"
                time.sleep(0.5)
            assert httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
        finally:
            proc.terminate()
            proc.wait(timeout=30)
