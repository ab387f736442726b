"""Replicas: two `tessera serve` processes on one PostgreSQL follow the change log, so an entry
added through one is matchable through the other within a second."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import quote

import httpx

from tessera.services.orgs import create_org, issue_token
from tessera.store import Database, Store
from tessera.store.orgs import OrgStore


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(db_url: str, tmp_path: Path) -> Iterator[str]:
    """`tessera serve` in a subprocess on a free port; yields its URL once it is ready."""
    port = free_port()
    env = dict(
        os.environ,
        TESSERA_DATABASE_URL=db_url,
        TESSERA_DATA_DIR=str(tmp_path),
        TESSERA_FOLLOW_INTERVAL_S="0.1",
        TESSERA_SYNC_INTERVAL_S="0",
    )
    log = (tmp_path / f"serve-{port}.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tessera", "serve", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError((tmp_path / f"serve-{port}.log").read_text())
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_an_entry_added_through_one_replica_matches_through_the_other_within_1s(
    postgres_url: str, pg_schema: str, tmp_path: Path
) -> None:
    db = Database(postgres_url, schema=pg_schema)
    db.migrate()
    store = Store(db, node_org="hub")
    orgs = OrgStore(db)
    create_org(orgs, "hub", "coordinator")
    token = issue_token(orgs, "hub", ["match", "contribute"]).secret
    store.create_bank("shared", distribution="members", owner_org="hub")
    db.dispose()
    sep = "&" if "?" in postgres_url else "?"
    url = f"{postgres_url}{sep}options={quote(f'-csearch_path={pg_schema}')}"
    headers = {"Authorization": f"Bearer {token}"}
    with ExitStack() as stack:
        one = stack.enter_context(serve(url, tmp_path))
        two = stack.enter_context(serve(url, tmp_path))
        lags = []
        for i in range(5):
            value = hashlib.md5(f"replica-{i}".encode()).hexdigest()
            r = httpx.post(
                f"{one}/v1/banks/shared/entries",
                json={"signals": [{"type": "md5", "value": value}]},
                headers=headers,
            )
            assert r.status_code == 201, r.text
            added = time.monotonic()
            entry = r.json()["added"][0]["uuid"]
            while True:
                m = httpx.get(
                    f"{two}/v1/match/signal",
                    params={"type": "md5", "value": value},
                    headers=headers,
                )
                assert m.status_code == 200, m.text
                if [x["entry"] for x in m.json()["matches"]] == [entry]:
                    lags.append(time.monotonic() - added)
                    break
                assert time.monotonic() - added < 5, "the other replica never saw the entry"
                time.sleep(0.02)
        assert max(lags) <= 1.0, f"replica lag {lags}"
