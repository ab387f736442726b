"""`tessera serve --workers N`: several processes on one port, one of them running the jobs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tessera.cli.serve import JobsLock
from tessera.services.orgs import issue_token
from tessera.store import Database
from tessera.store.orgs import OrgStore
from tessera.store.records import Tier
from tests.api.test_serve import _free_port


def _children(pid: int) -> list[str]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return path.read_text().split() if path.exists() else []


def test_only_one_holder_of_a_stores_jobs_lock(tmp_path: Path) -> None:
    first = JobsLock(tmp_path, "sqlite:///a.db")
    second = JobsLock(tmp_path, "sqlite:///a.db")
    other_store = JobsLock(tmp_path, "sqlite:///b.db")
    assert first.acquire()
    assert not second.acquire()
    assert other_store.acquire()
    first.release()
    assert second.acquire()
    second.release()
    other_store.release()


def test_two_workers_serve_the_node_and_one_takes_the_jobs_lock(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'node.db'}"
    db = Database(url)
    db.migrate()
    orgs = OrgStore(db)
    orgs.create_org("local", Tier.COORDINATOR)
    token = issue_token(orgs, "local", ["match", "review"]).secret
    db.dispose()
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TESSERA_")}
    env |= {"TESSERA_DATA_DIR": str(tmp_path), "HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tessera", "--db", url, "serve", "--port", str(port)]
        + ["--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        pids: set[str] = set()
        while len(pids) < 2:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, f"saw workers {pids}"
            try:
                # Fresh connections land on either worker; /readyz answers once its index loaded.
                r = httpx.get(
                    f"http://127.0.0.1:{port}/v1/me",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=5,
                )
                assert r.status_code == 200 and r.json()["org"] == "local"
                pids |= set(_children(proc.pid))
            except httpx.TransportError:
                time.sleep(0.2)
        assert len(list(tmp_path.glob("jobs-*.lock"))) == 1
        assert not JobsLock(tmp_path, url).acquire(), "no worker holds the jobs lock"
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        if proc.stderr is not None:
            proc.stderr.close()
