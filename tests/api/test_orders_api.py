"""Removal orders, complaints and incidents over HTTP on a real node (SQLite and PostgreSQL):
deadlines and countdowns, scoping (404 for another org's), tiers, bad input, and the webhooks
that fire."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tessera.api import create_app
from tessera.api.routes import ROUTERS
from tessera.api.routes import orders as takedown_routes
from tessera.review import actions, cases
from tessera.review.delivery import deliver_due
from tessera.review.orders import alert_overdue
from tessera.review.records import Decision, MatchMode
from tessera.services import review
from tessera.settings import Settings
from tessera.signals.base import Signal
from tessera.store import Store
from tessera.store.db import utcnow
from tessera.store.records import NewEntry, Tier
from tests.api.conftest import RunningNode, node_settings
from tests.api.server import Orgs, run_server
from tests.review.receiver import Receiver


@pytest.fixture
def node(store: Store, tmp_path: Path) -> Iterator[RunningNode]:
    """A node with hub (coordinator), m1, m2 (members), obs (observer), p1 (partner), serving the
    takedown routes."""
    orgs = Orgs(store)
    for name, tier in [
        ("hub", Tier.COORDINATOR),
        ("m1", Tier.MEMBER),
        ("m2", Tier.MEMBER),
        ("obs", Tier.OBSERVER),
        ("p1", Tier.PARTNER),
    ]:
        orgs.add(name, tier)
    extra = [] if takedown_routes.router in ROUTERS else [takedown_routes.router]
    app = create_app(node_settings(tmp_path), store=store, extra_routers=extra)
    with run_server(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield RunningNode(app, url, orgs, client)


def _order(n: RunningNode, caller: str = "m1", **body: Any) -> httpx.Response:
    values = {
        "authority": "Europol IRU",
        "legal_reference": "TCO/2026/7",
        "content_ref": "https://platform.example/v/1",
    }
    return n.client.post("/v1/removal-orders", json=values | body, headers=n.as_(caller))


def _iso(minutes_ago: float) -> str:
    return (utcnow() - timedelta(minutes=minutes_ago)).isoformat()


def test_a_removal_order_counts_down_and_is_actioned(node: RunningNode) -> None:
    r = _order(node, received_at=_iso(10))
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["state"] == "open" and not order["overdue"]
    assert 2900 < order["remaining_s"] <= 3000
    assert order["case"]
    listed = node.client.get("/v1/removal-orders", headers=node.as_("m1")).json()
    assert [o["id"] for o in listed] == [order["id"]]
    shown = node.client.get(f"/v1/removal-orders/{order['id']}", headers=node.as_("m1")).json()
    assert shown["remaining_s"] <= order["remaining_s"]
    for other in ("m2", "hub"):
        r = node.client.get(f"/v1/removal-orders/{order['id']}", headers=node.as_(other))
        assert r.status_code == 404
    r = node.client.post(
        f"/v1/removal-orders/{order['id']}/act", json={"action": "restrict"}, headers=node.as_("m1")
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "actioned" and r.json()["action"] == "restrict"
    again = node.client.post(
        f"/v1/removal-orders/{order['id']}/act", json={}, headers=node.as_("m1")
    )
    assert again.status_code == 409
    r = node.client.post(
        f"/v1/removal-orders/{order['id']}/uploader-informed", json={}, headers=node.as_("m1")
    )
    assert r.status_code == 200 and r.json()["uploader_informed"]
    queued = actions.list_actions(node.node.store.db, "m1")
    assert [a.kind for a in queued] == ["restrict"]


def test_not_actioned_overdue_and_bad_input(node: RunningNode) -> None:
    late = _order(node, received_at=_iso(120)).json()
    assert late["overdue"] and late["remaining_s"] < -3500
    fresh = _order(node, content_ref="https://platform.example/v/2").json()
    overdue = node.client.get("/v1/removal-orders?overdue=true", headers=node.as_("m1")).json()
    assert [o["id"] for o in overdue] == [late["id"]]
    path = f"/v1/removal-orders/{fresh['id']}/not-actioned"
    bad = node.client.post(path, json={"reason": "busy"}, headers=node.as_("m1"))
    assert bad.status_code == 422
    body = {"reason": "manifest_error", "explanation": "names another provider"}
    r = node.client.post(path, json=body, headers=node.as_("m1"))
    assert r.status_code == 200, r.text
    assert r.json()["not_actioned_reason"] == "manifest_error"
    assert r.json()["not_actioned_explanation"] == "names another provider"
    state = node.client.get("/v1/removal-orders?state=not_actioned", headers=node.as_("m1"))
    assert [o["id"] for o in state.json()] == [fresh["id"]]
    assert _order(node, authority="").status_code == 422
    assert _order(node, unknown=1).status_code == 422
    assert _order(node, received_at=(utcnow() + timedelta(hours=1)).isoformat()).status_code == 422
    assert node.client.get("/v1/removal-orders").status_code == 401
    headers = node.as_("m1") | {"Content-Type": "application/json"}
    for raw in (
        b'{"authority": "\\ud800", "legal_reference": "x", "content_ref": "y"}',
        b'{"authority": "a\\u0000", "legal_reference": "x", "content_ref": "y"}',
    ):
        r = node.client.post("/v1/removal-orders", content=raw, headers=headers)
        assert r.status_code == 422, r.text
    for weird in ("nope", "%00", "x" * 36):
        r = node.client.get(f"/v1/removal-orders/{weird}", headers=node.as_("m1"))
        assert r.status_code == 404, r.text
        r = node.client.post(f"/v1/cases/{weird}/complaints", json={"reason": "r"}, headers=headers)
        assert r.status_code == 404, r.text
    assert node.client.get("/v1/removal-orders?case=%00", headers=node.as_("m1")).json() == []


def test_a_coordinator_relays_an_order_to_another_org(node: RunningNode) -> None:
    assert _order(node, "m1", org="m2").status_code == 403
    r = _order(node, "hub", org="m2")
    assert r.status_code == 201, r.text
    relayed = r.json()
    assert relayed["org"] == "m2"
    seen = node.client.get(f"/v1/removal-orders/{relayed['id']}", headers=node.as_("m2"))
    assert seen.status_code == 200
    assert _order(node, "hub", org="nobody").status_code == 404


def _decided_case(store: Store) -> tuple[str, str]:
    """A case of m1 matching an entry of hub's bank, decided violating; (case, entry)."""
    bank = store.create_bank("b", owner_org="hub", distribution="members")
    entry = store.add_entries("b", [NewEntry(signals=(Signal("md5", "cd" * 16),))]).added[0]
    with store.db.write() as conn:
        case_id = cases.create(
            conn,
            org="m1",
            content_ref="https://platform.example/v/5",
            media_kind="image",
            signals=[],
            source="match",
            deadline=None,
            automated_detection=True,
        )
        match = cases.NewMatch(bank.uuid, "b", entry.uuid, "md5", 0, 0, (), MatchMode.REVIEW)
        cases.add_matches(conn, case_id, [match])
        case_uuid = cases.fetch_uuid(conn, case_id)
    review.decide(
        store,
        Settings(),
        org="m1",
        case_uuid=case_uuid,
        decision=Decision.VIOLATING,
        actor="rev",
        withhold_feedback=True,
    )
    return case_uuid, entry.uuid


def test_a_complaint_reopens_and_upholding_restores(node: RunningNode) -> None:
    case_uuid, entry_uuid = _decided_case(node.node.store)
    path = f"/v1/cases/{case_uuid}/complaints"
    assert node.client.post(path, json={"reason": "x"}, headers=node.as_("m2")).status_code == 404
    assert node.client.post(path, json={"reason": ""}, headers=node.as_("m1")).status_code == 422
    r = node.client.post(path, json={"reason": "it is news"}, headers=node.as_("m1"))
    assert r.status_code == 201, r.text
    complaint = r.json()
    assert 13.9 * 86400 < complaint["remaining_s"] <= 14 * 86400
    assert (
        node.client.post(path, json={"reason": "again"}, headers=node.as_("m1")).status_code == 409
    )
    listed = node.client.get("/v1/complaints?state=open", headers=node.as_("m1")).json()
    assert [c["id"] for c in listed] == [complaint["id"]]
    assert node.client.get("/v1/complaints", headers=node.as_("m2")).json() == []
    r = node.client.get(f"/v1/complaints/{complaint['id']}", headers=node.as_("m2"))
    assert r.status_code == 404
    r = node.client.post(
        f"/v1/complaints/{complaint['id']}/uphold", json={"note": "news"}, headers=node.as_("m1")
    )
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["complaint"]["state"] == "upheld"
    assert done["case_state"] == "restored"
    assert done["feedback"] == [{"entry": entry_uuid, "verdict": "false_positive"}]
    kinds = [a.kind for a in actions.list_actions(node.node.store.db, "m1")]
    assert kinds == ["restore", "remove"]
    r = node.client.post(
        f"/v1/complaints/{complaint['id']}/reject", json={"reason": "no"}, headers=node.as_("m1")
    )
    assert r.status_code == 409


def test_rejecting_keeps_the_decision(node: RunningNode) -> None:
    case_uuid, _entry = _decided_case(node.node.store)
    complaint = node.client.post(
        f"/v1/cases/{case_uuid}/complaints", json={"reason": "x"}, headers=node.as_("m1")
    ).json()
    path = f"/v1/complaints/{complaint['id']}/reject"
    assert node.client.post(path, json={}, headers=node.as_("m1")).status_code == 422
    r = node.client.post(path, json={"reason": "propaganda"}, headers=node.as_("m1"))
    assert r.status_code == 200, r.text
    assert r.json()["case_state"] == "actioned"
    assert r.json()["complaint"]["outcome_note"] == "propaganda"


def test_incidents_by_tier_and_visibility(node: RunningNode) -> None:
    node.node.store.create_bank("live", owner_org="hub", distribution="members")
    body = {"name": "Attack stream", "bank": "live"}
    assert node.client.post("/v1/incidents", json=body, headers=node.as_("m1")).status_code == 403
    bad = {"name": "x", "bank": "nope"}
    assert node.client.post("/v1/incidents", json=bad, headers=node.as_("hub")).status_code == 404
    r = node.client.post("/v1/incidents", json=body, headers=node.as_("hub"))
    assert r.status_code == 201, r.text
    incident = r.json()
    assert incident["state"] == "active" and incident["bank"] == "live"
    again = node.client.post("/v1/incidents", json=body, headers=node.as_("hub"))
    assert again.status_code == 409
    for org, sees in [("m1", True), ("m2", True), ("hub", True), ("obs", False), ("p1", False)]:
        listed = node.client.get("/v1/incidents", headers=node.as_(org)).json()
        assert [i["id"] for i in listed] == ([incident["id"]] if sees else []), org
    assert node.client.get("/v1/incidents").status_code == 401
    path = f"/v1/incidents/{incident['id']}"
    assert node.client.get(path, headers=node.as_("p1")).status_code == 404
    r = node.client.patch(path, json={"note": "more"}, headers=node.as_("hub"))
    assert r.status_code == 200 and r.json()["note"] == "more"
    assert node.client.patch(path, json={"note": "x"}, headers=node.as_("m1")).status_code == 403
    assert node.client.get(f"{path}/timeline", headers=node.as_("m1")).status_code == 403
    r = node.client.post(f"{path}/end", json={"note": "over"}, headers=node.as_("hub"))
    assert r.status_code == 200 and r.json()["state"] == "ended"
    assert node.client.get("/v1/incidents", headers=node.as_("m1")).json() == []
    ended = node.client.get("/v1/incidents?include_ended=true", headers=node.as_("m1")).json()
    assert [i["state"] for i in ended] == ["ended"]
    timeline = node.client.get(f"{path}/timeline", headers=node.as_("hub")).json()
    assert [t["kind"] for t in timeline] == [
        "incident.declared",
        "incident.updated",
        "incident.ended",
    ]


def test_the_webhooks_fire(node: RunningNode) -> None:
    store = node.node.store
    # The receiver is on loopback: an internal address webhooks may use only when allowed.
    settings = node.node.settings.model_copy(update={"webhook_allow_cidrs": ["127.0.0.0/8"]})
    store.create_bank("live", owner_org="hub", distribution="members")
    with Receiver() as rx:
        rx.secret = actions.set_webhook(store.db, "m1", rx.url)
        r = node.client.post(
            "/v1/incidents", json={"name": "stream", "bank": "live"}, headers=node.as_("hub")
        )
        incident = r.json()
        late = _order(node, received_at=_iso(90)).json()
        assert alert_overdue(store.db) == [late["id"]]
        counts = deliver_due(store.db, settings)
        assert counts.delivered == 2
        bodies = [json.loads(req.body) for req in rx.requests]
        assert all(req.signed for req in rx.requests)
        by_kind = {b["kind"]: b for b in bodies}
        assert by_kind["incident.declared"]["payload"]["id"] == incident["id"]
        assert by_kind["removal_order.overdue"]["payload"]["id"] == late["id"]
        assert by_kind["removal_order.overdue"]["content_ref"] == "https://platform.example/v/1"
        node.client.post(f"/v1/removal-orders/{late['id']}/act", json={}, headers=node.as_("m1"))
        deliver_due(store.db, settings)
        assert [json.loads(req.body)["kind"] for req in rx.requests][-1] == "remove"
