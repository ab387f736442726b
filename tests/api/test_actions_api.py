"""The webhook and actions routes over HTTP: each organisation sees and changes its own only."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tessera.api import create_app
from tessera.api.routes import ROUTERS, actions
from tessera.review.actions import enqueue, get_webhook, set_webhook
from tessera.review.delivery import deliver_due
from tessera.settings import Settings
from tessera.store import Store
from tessera.store.records import Tier
from tests.api.conftest import RunningNode, node_settings
from tests.api.server import Orgs, run_server


@pytest.fixture
def running(store: Store, tmp_path: Path) -> Iterator[RunningNode]:
    """A node on each backend serving the actions routes, with organisations m1 and m2."""
    orgs = Orgs(store)
    orgs.add("m1", Tier.MEMBER)
    orgs.add("m2", Tier.MEMBER)
    # Until the routes are listed in ROUTERS, add them here.
    extra = [] if actions.router in ROUTERS else [actions.router]
    app = create_app(node_settings(tmp_path), store=store, extra_routers=extra)
    with run_server(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield RunningNode(app, url, orgs, client)


def closed_port_url() -> str:
    """A loopback URL nothing listens on (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def test_set_show_and_disable_the_callers_webhook(running: RunningNode) -> None:
    c, m1 = running.client, running.as_("m1")
    assert c.get("/v1/webhook", headers=m1).status_code == 404
    answer = c.put("/v1/webhook", json={"url": "https://platform.example/hook"}, headers=m1)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["secret"].startswith("whsec_")
    assert body["webhook"]["url"] == "https://platform.example/hook"
    assert body["webhook"]["enabled"] is True
    shown = c.get("/v1/webhook", headers=m1)
    assert shown.status_code == 200 and "secret" not in shown.json()
    assert body["secret"] not in shown.text
    assert c.get("/v1/webhook", headers=running.as_("m2")).status_code == 404
    again = c.put("/v1/webhook", json={"url": "https://platform.example/v2"}, headers=m1).json()
    assert again["secret"] != body["secret"]
    gone = c.delete("/v1/webhook", headers=m1)
    assert gone.status_code == 200 and gone.json()["enabled"] is False
    hook = get_webhook(running.node.store.db, "m1")
    assert hook is not None and hook.url == "https://platform.example/v2" and not hook.enabled
    assert c.delete("/v1/webhook", headers=running.as_("m2")).status_code == 404


def test_bad_webhook_bodies_are_422(running: RunningNode) -> None:
    c, m1 = running.client, running.as_("m1")
    for body in (
        {"url": "ftp://platform.example/hook"},
        {"url": "https://u:p@platform.example/hook"},
        {"url": ""},
        {"url": "https://x.example/" + "a" * 2000},
        {"url": "https://x.example/", "secret": "mine"},
        {},
    ):
        answer = c.put("/v1/webhook", json=body, headers=m1)
        assert answer.status_code == 422, body
        assert "error" in answer.json()
    assert get_webhook(running.node.store.db, "m1") is None


def test_actions_need_the_review_scope(running: RunningNode) -> None:
    running.orgs.add("matcher", Tier.MEMBER, ["match"])
    headers = running.as_("matcher")
    assert running.client.get("/v1/actions", headers=headers).status_code == 403
    answer = running.client.put("/v1/webhook", json={"url": "https://x.example/"}, headers=headers)
    assert answer.status_code == 403
    assert running.client.get("/v1/actions").status_code == 401


def test_list_and_retry_own_dead_letters(running: RunningNode, tmp_path: Path) -> None:
    c, m1, db = running.client, running.as_("m1"), running.node.store.db
    set_webhook(db, "m1", closed_port_url())
    with db.write() as conn:
        dead = enqueue(conn, org="m1", kind="remove", content_ref="post/1", payload={"n": 1})
    settings = Settings(data_dir=tmp_path, webhook_max_attempts=1, webhook_timeout_s=2.0)
    assert deliver_due(db, settings).dead == 1
    with db.write() as conn:
        shadow = enqueue(conn, org="m1", kind="restrict", content_ref="post/2", shadow=True)
        theirs = enqueue(conn, org="m2", kind="remove", content_ref="post/1")
    listed = c.get("/v1/actions", headers=m1).json()
    assert [a["id"] for a in listed] == [shadow, dead]
    letters = c.get("/v1/actions", params={"state": "dead"}, headers=m1).json()
    assert [(a["id"], a["state"], a["attempts"]) for a in letters] == [(dead, "dead", 1)]
    assert letters[0]["last_error"] and letters[0]["payload"] == {"n": 1}
    assert letters[0]["case"] is None and letters[0]["content_ref"] == "post/1"
    assert c.get("/v1/actions", params={"state": "lost"}, headers=m1).status_code == 422
    assert c.get("/v1/actions", params={"case": "no-such-case"}, headers=m1).json() == []
    assert [a["id"] for a in c.get("/v1/actions", headers=running.as_("m2")).json()] == [theirs]
    assert c.post(f"/v1/actions/{dead}/retry", headers=running.as_("m2")).status_code == 404
    assert c.post(f"/v1/actions/{theirs}/retry", headers=m1).status_code == 404
    assert c.post(f"/v1/actions/{shadow}/retry", headers=m1).status_code == 409
    retried = c.post(f"/v1/actions/{dead}/retry", headers=m1)
    assert retried.status_code == 200, retried.text
    assert (retried.json()["state"], retried.json()["attempts"]) == ("pending", 0)
    assert c.get("/v1/actions", params={"state": "dead"}, headers=m1).json() == []
