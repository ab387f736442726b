"""A real Tessera node on loopback for tests: uvicorn in a thread on a free port.

    with run_server(app) as base_url:
        httpx.get(f"{base_url}/healthz")

Also ``make_node``: a migrated SQLite (or given) store with organisations and tokens.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn
from fastapi import FastAPI

from tessera.services.orgs import create_org, issue_token
from tessera.store import Store
from tessera.store.orgs import OrgStore
from tessera.store.records import Tier

SCOPES_OF = {
    Tier.COORDINATOR: ["admin", "match", "contribute", "review", "sync"],
    Tier.MEMBER: ["match", "contribute", "review", "sync"],
    Tier.OBSERVER: ["match", "review", "sync"],
    Tier.PARTNER: ["match", "review", "sync"],
}


@contextmanager
def run_server(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 (a free port) in a thread; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()


@dataclass
class Orgs:
    """Organisations admitted to a test node and a full-scoped token of each."""

    store: Store
    tokens: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, tier: Tier, scopes: list[str] | None = None) -> str:
        """Admit ``name`` with ``tier`` and issue it a token (all its tier's scopes by default)."""
        orgs = OrgStore(self.store.db)
        create_org(orgs, name, tier.value)
        secret = issue_token(orgs, name, scopes or SCOPES_OF[tier]).secret
        self.tokens[name] = secret
        return secret

    def auth(self, name: str) -> dict[str, str]:
        """The Authorization header of ``name``'s token."""
        return {"Authorization": f"Bearer {self.tokens[name]}"}
