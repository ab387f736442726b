"""The authorisation matrix: every organisation tier x every distribution x every /v1 route.

The expectations here are written out by hand (``VISIBLE``, ``CURATORS``), not computed by the
access-policy module they check. ``SPECS`` must name every /v1 route of the app — a new route
without a spec fails ``test_every_route_has_a_spec`` — and each case checks, beyond the status:
nothing of a bank the caller may not see (name, entry uuid, signal) appears in the answer, and
other organisations' opinions show only to the bank's owner and coordinators.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tessera.api import Node, create_app
from tessera.review import actions, complaints, incidents, orders
from tessera.review.records import Decision
from tessera.services import review
from tessera.services.access import TIER_SCOPES, Principal
from tessera.services.matching import Query
from tessera.services.orgs import issue_token
from tessera.settings import Settings
from tessera.signals.base import Signal
from tessera.store import Database, Store
from tessera.store.orgs import OrgStore
from tessera.store.records import NewEntry, Tier, Verdict
from tests.api.server import Orgs, run_server

DISTRIBUTIONS = ["owner", "members", "members_observers", "all", "group:g1", "group:g2"]
CALLERS = {
    "own": Tier.MEMBER,  # owns every bank of the matrix
    "hub": Tier.COORDINATOR,
    "m2": Tier.MEMBER,  # in g1
    "obs": Tier.OBSERVER,  # in g2
    "p1": Tier.PARTNER,  # in g1
    "p2": Tier.PARTNER,  # in no group
}
VISIBLE = {
    "owner": {"own"},
    "members": {"own", "hub", "m2"},
    "members_observers": {"own", "hub", "m2", "obs"},
    "all": {"own", "hub", "m2", "obs", "p1", "p2"},
    "group:g1": {"own", "hub", "m2", "p1"},
    "group:g2": {"own", "hub", "obs"},
}
CONTRIBUTORS = {"own", "hub", "m2"}  # tiers whose tokens may hold the contribute scope
SECRET_REASON = "outsider-secret-reason"


def curators(distribution: str) -> set[str]:
    """Who may change a bank of ``own`` at this distribution: its owner; a coordinator if shared."""
    return {"own"} | ({"hub"} if distribution != "owner" else set())


@dataclass(frozen=True)
class Case:
    """A fresh bank of ``own`` with one entry (and an outsider's opinion) for one request."""

    bank: str
    entry: str
    md5: str
    content: bytes
    distribution: str
    token_prefix: str
    seq: int = 0  # the change log's position just before the case was made
    # Review objects of ``own`` about the bank's content: an open case (with a kept preview), a
    # case decided violating (its remove action queued) with an open complaint, and a removal
    # order; and the coordinator's incident on the bank ("none" when hub may not see it).
    review_case: str = ""
    decided_case: str = ""
    complaint: str = ""
    order: str = ""
    action: str = ""
    incident: str = "none"


Request = tuple[str, str, dict[str, Any]]


@dataclass(frozen=True)
class Spec:
    """How to call one route for a case, and what kind of permission it needs."""

    kind: str  # list | read | curate | opine | match | match_bank | create | admin | any | fixed
    # | feed | own (``own``'s review objects: 404 for everyone else) | incident | incident_write
    build: Callable[[Case], Request]
    per_bank: bool = True
    status: int = 200  # fixed: every caller's status; own: own's
    fresh: bool = False  # the request changes the case's objects: make new ones for it
    prepare: Callable[[World, str], None] | None = None  # run for the caller before the request
    incident: bool = True  # make the coordinator's incident on the bank


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


SPECS: dict[tuple[str, str], Spec] = {
    ("GET", "/v1/me"): Spec("any", lambda _c: ("GET", "/v1/me", {}), per_bank=False),
    ("POST", "/v1/hash"): Spec(
        "any", lambda c: ("POST", "/v1/hash", {"files": {"file": ("x", c.content + b"x")}})
    ),
    ("POST", "/v1/hash/url"): Spec(
        "fixed",
        lambda _c: ("POST", "/v1/hash/url", {"json": {"url": "http://127.0.0.1/x"}}),
        per_bank=False,
        status=403,
    ),
    ("POST", "/v1/match"): Spec(
        "match", lambda c: ("POST", "/v1/match", {"files": {"file": ("q", c.content)}})
    ),
    ("GET", "/v1/match/signal"): Spec(
        "match_bank",
        lambda c: (
            "GET",
            "/v1/match/signal",
            {"params": {"type": "md5", "value": c.md5, "bank": c.bank}},
        ),
    ),
    ("POST", "/v1/match/signals"): Spec(
        "match",
        lambda c: (
            "POST",
            "/v1/match/signals",
            {"json": {"signals": [{"type": "md5", "value": c.md5}]}},
        ),
    ),
    ("GET", "/v1/banks"): Spec("list", lambda _c: ("GET", "/v1/banks", {})),
    ("POST", "/v1/banks"): Spec(
        "create",
        lambda c: (
            "POST",
            "/v1/banks",
            {"json": {"name": f"new-{uuid.uuid4().hex}", "distribution": c.distribution}},
        ),
    ),
    ("GET", "/v1/banks/{bank}"): Spec("read", lambda c: ("GET", f"/v1/banks/{c.bank}", {})),
    ("PATCH", "/v1/banks/{bank}"): Spec(
        "curate",
        lambda c: ("PATCH", f"/v1/banks/{c.bank}", {"json": {"description": "changed"}}),
    ),
    ("DELETE", "/v1/banks/{bank}"): Spec("curate", lambda c: ("DELETE", f"/v1/banks/{c.bank}", {})),
    ("GET", "/v1/banks/{bank}/entries"): Spec(
        "read", lambda c: ("GET", f"/v1/banks/{c.bank}/entries", {})
    ),
    ("POST", "/v1/banks/{bank}/entries"): Spec(
        "curate",
        lambda c: (
            "POST",
            f"/v1/banks/{c.bank}/entries",
            {"json": {"signals": [{"type": "md5", "value": _md5(c.content + b"new")}]}},
        ),
    ),
    ("POST", "/v1/banks/{bank}/entries/upload"): Spec(
        "curate",
        lambda c: (
            "POST",
            f"/v1/banks/{c.bank}/entries/upload",
            {"files": {"file": ("new", c.content + b"upload")}},
        ),
    ),
    ("GET", "/v1/banks/{bank}/entries/{entry}"): Spec(
        "read", lambda c: ("GET", f"/v1/banks/{c.bank}/entries/{c.entry}", {})
    ),
    ("PATCH", "/v1/banks/{bank}/entries/{entry}"): Spec(
        "curate",
        lambda c: ("PATCH", f"/v1/banks/{c.bank}/entries/{c.entry}", {"json": {"note": "n"}}),
    ),
    ("DELETE", "/v1/banks/{bank}/entries/{entry}"): Spec(
        "curate", lambda c: ("DELETE", f"/v1/banks/{c.bank}/entries/{c.entry}", {})
    ),
    ("PUT", "/v1/banks/{bank}/entries/{entry}/opinion"): Spec(
        "opine",
        lambda c: (
            "PUT",
            f"/v1/banks/{c.bank}/entries/{c.entry}/opinion",
            {"json": {"verdict": "confirmed"}},
        ),
    ),
    ("GET", "/v1/banks/{bank}/entries/{entry}/opinions"): Spec(
        "read", lambda c: ("GET", f"/v1/banks/{c.bank}/entries/{c.entry}/opinions", {})
    ),
    ("GET", "/v1/changes"): Spec(
        "feed", lambda c: ("GET", "/v1/changes", {"params": {"after": c.seq, "limit": 100}})
    ),
    ("POST", "/v1/opinions"): Spec(
        "opine",
        lambda c: (
            "POST",
            "/v1/opinions",
            {
                "json": {
                    "opinions": [
                        {
                            "entry": c.entry,
                            "org": "peer-reviewer",
                            "verdict": "confirmed",
                            "origin_node": "0b7e2b1c-52a4-4a8e-9d0c-3f1e2d4c5b6a",
                        }
                    ]
                }
            },
        ),
    ),
    ("GET", "/v1/orgs"): Spec("admin", lambda _c: ("GET", "/v1/orgs", {}), per_bank=False),
    ("POST", "/v1/orgs"): Spec(
        "admin",
        lambda c: ("POST", "/v1/orgs", {"json": {"name": f"org-{c.bank}", "tier": "partner"}}),
        per_bank=False,
    ),
    ("GET", "/v1/orgs/{org}/tokens"): Spec(
        "admin", lambda _c: ("GET", "/v1/orgs/p2/tokens", {}), per_bank=False
    ),
    ("POST", "/v1/orgs/{org}/tokens"): Spec(
        "admin",
        lambda _c: ("POST", "/v1/orgs/p2/tokens", {"json": {"scopes": ["match"]}}),
        per_bank=False,
    ),
    ("DELETE", "/v1/tokens/{prefix}"): Spec(
        "admin", lambda c: ("DELETE", f"/v1/tokens/{c.token_prefix}", {}), per_bank=False
    ),
    ("GET", "/v1/groups"): Spec("admin", lambda _c: ("GET", "/v1/groups", {}), per_bank=False),
    ("POST", "/v1/groups"): Spec(
        "admin",
        lambda c: ("POST", "/v1/groups", {"json": {"name": f"grp-{c.bank}"}}),
        per_bank=False,
    ),
    ("PUT", "/v1/groups/{group}/members/{org}"): Spec(
        "admin", lambda _c: ("PUT", "/v1/groups/gx/members/p2", {}), per_bank=False
    ),
    ("DELETE", "/v1/groups/{group}/members/{org}"): Spec(
        "admin", lambda _c: ("DELETE", "/v1/groups/gx/members/p2", {}), per_bank=False
    ),
}


def _webhook(world: World, caller: str) -> None:
    actions.set_webhook(world.store.db, caller, "https://platform.example/hook")


def _submit_signals(c: Case) -> Request:
    body = {"content_ref": f"sig-{uuid.uuid4().hex}", "media_kind": "file"}
    return (
        "POST",
        "/v1/content/signals",
        {"json": body | {"signals": [{"type": "md5", "value": c.md5}]}},
    )


def _period() -> dict[str, str]:
    today = datetime.now(UTC).date()
    return {"from": str(today), "to": str(today + timedelta(days=1))}


REVIEW_SPECS: dict[tuple[str, str], Spec] = {
    ("POST", "/v1/content"): Spec(
        "match",
        lambda c: (
            "POST",
            "/v1/content",
            {
                "files": {"file": ("q", c.content)},
                "data": {"content_ref": f"up-{uuid.uuid4().hex}"},
            },
        ),
    ),
    ("POST", "/v1/content/signals"): Spec("match", _submit_signals),
    ("GET", "/v1/cases"): Spec("any", lambda _c: ("GET", "/v1/cases", {}), per_bank=False),
    ("GET", "/v1/cases/{case}"): Spec("own", lambda c: ("GET", f"/v1/cases/{c.review_case}", {})),
    ("GET", "/v1/cases/{case}/preview"): Spec(
        "own", lambda c: ("GET", f"/v1/cases/{c.review_case}/preview", {})
    ),
    ("GET", "/v1/cases/{case}/statement-of-reasons"): Spec(
        "own", lambda c: ("GET", f"/v1/cases/{c.decided_case}/statement-of-reasons", {})
    ),
    ("POST", "/v1/cases/{case}/assign"): Spec(
        "own",
        lambda c: ("POST", f"/v1/cases/{c.review_case}/assign", {"json": {"assignee": "rev"}}),
        fresh=True,
    ),
    ("POST", "/v1/cases/{case}/notes"): Spec(
        "own",
        lambda c: ("POST", f"/v1/cases/{c.review_case}/notes", {"json": {"text": "note"}}),
        fresh=True,
    ),
    ("POST", "/v1/cases/{case}/decision"): Spec(
        "own",
        lambda c: (
            "POST",
            f"/v1/cases/{c.review_case}/decision",
            {"json": {"decision": "not_violating"}},
        ),
        fresh=True,
    ),
    ("POST", "/v1/cases/{case}/complaints"): Spec(
        "own",  # the case has an open complaint already: own gets 409, anyone else 404
        lambda c: ("POST", f"/v1/cases/{c.decided_case}/complaints", {"json": {"reason": "r"}}),
        status=409,
    ),
    ("GET", "/v1/complaints"): Spec("any", lambda _c: ("GET", "/v1/complaints", {})),
    ("GET", "/v1/complaints/{complaint}"): Spec(
        "own", lambda c: ("GET", f"/v1/complaints/{c.complaint}", {})
    ),
    ("POST", "/v1/complaints/{complaint}/uphold"): Spec(
        "own", lambda c: ("POST", f"/v1/complaints/{c.complaint}/uphold", {"json": {}}), fresh=True
    ),
    ("POST", "/v1/complaints/{complaint}/reject"): Spec(
        "own",
        lambda c: ("POST", f"/v1/complaints/{c.complaint}/reject", {"json": {"reason": "stands"}}),
        fresh=True,
    ),
    ("POST", "/v1/removal-orders"): Spec(
        "fixed",
        lambda _c: (
            "POST",
            "/v1/removal-orders",
            {"json": {"authority": "IRU", "legal_reference": "TCO/1", "content_ref": "ord-x"}},
        ),
        per_bank=False,
        status=201,
    ),
    ("GET", "/v1/removal-orders"): Spec("any", lambda _c: ("GET", "/v1/removal-orders", {})),
    ("GET", "/v1/removal-orders/{order}"): Spec(
        "own", lambda c: ("GET", f"/v1/removal-orders/{c.order}", {})
    ),
    ("POST", "/v1/removal-orders/{order}/act"): Spec(
        "own", lambda c: ("POST", f"/v1/removal-orders/{c.order}/act", {"json": {}}), fresh=True
    ),
    ("POST", "/v1/removal-orders/{order}/not-actioned"): Spec(
        "own",
        lambda c: (
            "POST",
            f"/v1/removal-orders/{c.order}/not-actioned",
            {"json": {"reason": "manifest_error"}},
        ),
        fresh=True,
    ),
    ("POST", "/v1/removal-orders/{order}/uploader-informed"): Spec(
        "own",
        lambda c: ("POST", f"/v1/removal-orders/{c.order}/uploader-informed", {"json": {}}),
        fresh=True,
    ),
    ("GET", "/v1/incidents"): Spec("any", lambda _c: ("GET", "/v1/incidents", {})),
    ("GET", "/v1/incidents/{incident}"): Spec(
        "incident", lambda c: ("GET", f"/v1/incidents/{c.incident}", {})
    ),
    ("POST", "/v1/incidents"): Spec(
        "incident_write",
        lambda c: ("POST", "/v1/incidents", {"json": {"name": "surge", "bank": c.bank}}),
        fresh=True,
        incident=False,
        status=201,
    ),
    ("PATCH", "/v1/incidents/{incident}"): Spec(
        "incident_write",
        lambda c: ("PATCH", f"/v1/incidents/{c.incident}", {"json": {"note": "n"}}),
        fresh=True,
    ),
    ("POST", "/v1/incidents/{incident}/end"): Spec(
        "incident_write",
        lambda c: ("POST", f"/v1/incidents/{c.incident}/end", {"json": {}}),
        fresh=True,
    ),
    ("GET", "/v1/incidents/{incident}/timeline"): Spec(
        "incident_write", lambda c: ("GET", f"/v1/incidents/{c.incident}/timeline", {})
    ),
    ("GET", "/v1/webhook"): Spec(
        "any", lambda _c: ("GET", "/v1/webhook", {}), per_bank=False, prepare=_webhook
    ),
    ("PUT", "/v1/webhook"): Spec(
        "any",
        lambda _c: ("PUT", "/v1/webhook", {"json": {"url": "https://platform.example/h2"}}),
        per_bank=False,
    ),
    ("DELETE", "/v1/webhook"): Spec(
        "any", lambda _c: ("DELETE", "/v1/webhook", {}), per_bank=False, prepare=_webhook
    ),
    ("GET", "/v1/actions"): Spec("any", lambda _c: ("GET", "/v1/actions", {})),
    ("POST", "/v1/actions/{action}/retry"): Spec(
        "own",  # the action is pending, not dead: own gets 409, anyone else 404
        lambda c: ("POST", f"/v1/actions/{c.action}/retry", {}),
        status=409,
    ),
    ("GET", "/v1/policies"): Spec("any", lambda _c: ("GET", "/v1/policies", {})),
    ("GET", "/v1/policies/{bank}"): Spec("read", lambda c: ("GET", f"/v1/policies/{c.bank}", {})),
    ("PUT", "/v1/policies/{bank}"): Spec(
        "read", lambda c: ("PUT", f"/v1/policies/{c.bank}", {"json": {"mode": "review"}})
    ),
    ("GET", "/v1/reports/transparency"): Spec(
        "any", lambda _c: ("GET", "/v1/reports/transparency", {"params": _period()})
    ),
    ("GET", "/v1/reports/statements-of-reasons"): Spec(
        "any", lambda _c: ("GET", "/v1/reports/statements-of-reasons", {"params": _period()})
    ),
}
SPECS |= REVIEW_SPECS
HUB = Principal("hub", Tier.COORDINATOR, TIER_SCOPES[Tier.COORDINATOR])
NOT_JSON = ("/preview", "/transparency", "/statements-of-reasons")  # may answer other types


@dataclass
class World:
    """One node serving the matrix: its app, store, client and callers' tokens."""

    app: FastAPI
    store: Store
    client: httpx.Client
    orgs: Orgs
    counter: Iterator[int]
    shared: dict[str, Case] = field(default_factory=dict)

    def case(self, distribution: str, fresh: bool, incident: bool = True) -> Case:
        """A bank of ``own`` at ``distribution`` with one entry, an outsider's opinion and the
        review objects of ``Case``; a new one when the request may change it, else one shared by
        the read-only requests."""
        if not fresh and distribution in self.shared:
            return self.shared[distribution]
        name = f"b{next(self.counter)}"
        content = f"content of {name}".encode()
        seq = self.store.latest_seq()
        self.store.create_bank(name, distribution=distribution, owner_org="own")
        added = self.store.add_entries(
            name, [NewEntry(signals=(Signal("md5", _md5(content)),), created_by="own")]
        )
        entry = added.added[0].uuid
        self.store.set_opinion(name, entry, "outsider", Verdict.DISPUTED, SECRET_REASON)
        node: Node = self.app.state.node
        node.matcher.refresh()
        token = issue_token(OrgStore(self.store.db), "p2", ["match"]).info.prefix
        case = Case(name, entry, _md5(content), content, distribution, token, seq)
        case = self._review(case, node, incident)
        if not fresh:
            self.shared[distribution] = case
        return case

    def _review(self, case: Case, node: Node, incident: bool) -> Case:
        settings = node.settings
        signal = Signal("md5", case.md5)

        def route(ref: str, preview: tuple[str, bytes] | None = None) -> str:
            routed = review.route(
                self.store,
                settings,
                org="own",
                content_ref=ref,
                media_kind="file",
                signals=[signal],
                matches=node.matcher.match([Query(signal)]),
                preview=preview,
            )
            assert routed.case is not None
            return routed.case.uuid

        opened = route(f"open-{case.bank}", ("image/jpeg", b"\xff\xd8 preview"))
        decided = route(f"decided-{case.bank}")
        done = review.decide(
            self.store,
            settings,
            org="own",
            case_uuid=decided,
            decision=Decision.VIOLATING,
            actor="r",
        )
        complaint = complaints.file_complaint(
            self.store, settings, org="own", case_uuid=decided, reason="news", actor="r"
        )
        order = orders.record_order(
            self.store,
            settings,
            org="own",
            authority="IRU",
            legal_reference="TCO/1",
            content_ref=f"order-{case.bank}",
        )
        declared = "none"
        if incident and case.distribution != "owner":
            declared = incidents.declare(
                self.store, settings, HUB, name="surge", bank=case.bank
            ).uuid
        return replace(
            case,
            review_case=opened,
            decided_case=decided,
            complaint=complaint.uuid,
            order=order.uuid,
            action=done.actions[0],
            incident=declared,
        )


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A node on SQLite with the matrix's organisations and groups."""
    tmp: Path = tmp_path_factory.mktemp("matrix")
    db = Database(f"sqlite:///{tmp / 'node.db'}")
    db.migrate()
    store = Store(db, node_org="own")
    orgs = Orgs(store)
    for name, tier in CALLERS.items():
        orgs.add(name, tier)
    groups = OrgStore(db)
    for group, members in {"g1": ["m2", "p1"], "g2": ["obs"], "gx": []}.items():
        groups.create_group(group)
        for org in members:
            groups.set_group_member(group, org, True)
    app = create_app(Settings(data_dir=tmp), store=store, follow=False)
    with run_server(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield World(app, store, client, orgs, itertools.count())
    db.dispose()


def test_every_route_has_a_spec(world: World) -> None:
    # The published route table: every operation the app serves (none is hidden from it).
    paths = world.app.openapi()["paths"]
    routes = {
        (method.upper(), path)
        for path, operations in paths.items()
        if path.startswith("/v1")
        for method in operations
    }
    assert routes == set(SPECS), "add the new route to SPECS (and its expectations)"


def _cases() -> Iterator[Any]:
    for (method, path), spec in SPECS.items():
        for distribution in DISTRIBUTIONS if spec.per_bank else ["members"]:
            for caller in CALLERS:
                yield pytest.param(
                    (method, path),
                    distribution,
                    caller,
                    id=f"{method} {path} {distribution} {caller}",
                )


@pytest.mark.parametrize(("route", "distribution", "caller"), list(_cases()))
def test_matrix(world: World, route: tuple[str, str], distribution: str, caller: str) -> None:
    spec = SPECS[route]
    fresh = spec.fresh or spec.kind in ("curate", "admin")
    case = world.case(distribution, fresh=fresh, incident=spec.incident)
    if spec.prepare is not None:
        spec.prepare(world, caller)
    method, url, kwargs = spec.build(case)
    r = world.client.request(method, url, headers=world.orgs.auth(caller), **kwargs)
    body = r.text
    visible = caller in VISIBLE[distribution]
    if r.status_code >= 400 or not route[1].endswith(NOT_JSON):
        assert r.headers["content-type"].startswith("application/json"), body
    if r.status_code >= 400:
        assert set(r.json()["error"]) >= {"code", "message"}
    if not visible and spec.kind != "create":
        # A match answer repeats the query (the md5), so there only the entry would leak.
        for secret in (case.entry,) if spec.kind.startswith("match") else (case.entry, case.md5):
            assert secret not in body, f"{caller} sees a hidden bank's {secret}"
        if spec.kind != "list":
            assert f'"{case.bank}"' not in body or r.status_code == 404
    if caller not in ("own", "hub"):
        assert SECRET_REASON not in body, f"{caller} sees another organisation's opinion"

    expected: set[int]
    if spec.kind == "any":
        expected = {200}
    elif spec.kind == "fixed":
        expected = {spec.status}
    elif spec.kind == "list":
        expected = {200}
        assert (case.bank in {b["name"] for b in r.json()}) == visible
    elif spec.kind == "read":
        expected = {200} if visible else {404}
    elif spec.kind == "opine":
        expected = {200} if visible else {404}
    elif spec.kind == "curate":
        if caller not in CONTRIBUTORS:
            expected = {403}
        elif not visible:
            expected = {404}
        else:
            expected = {200, 201} if caller in curators(distribution) else {403}
    elif spec.kind == "feed":
        expected = {200}
        assert (case.entry in body) == visible
    elif spec.kind == "match":
        expected = {200}
        assert (case.entry in body) == visible
    elif spec.kind == "match_bank":
        expected = {200} if visible else {404}
        if visible:
            assert [m["entry"] for m in r.json()["matches"]] == [case.entry]
    elif spec.kind == "create":
        expected = {201} if CALLERS[caller] in (Tier.COORDINATOR, Tier.MEMBER) else {403}
    elif spec.kind == "admin":
        expected = {200, 201} if caller == "hub" else {403}
    elif spec.kind == "own":
        expected = {spec.status} if caller == "own" else {404}
    elif spec.kind == "incident":
        expected = {200} if visible and distribution != "owner" else {404}
    elif spec.kind == "incident_write":
        if caller != "hub":
            expected = {403}
        else:
            expected = {spec.status} if visible else {404}
    else:
        raise AssertionError(f"unknown kind {spec.kind}")
    assert r.status_code in expected, f"{method} {url} as {caller}: {r.status_code} {body}"
