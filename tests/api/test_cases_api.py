"""Review over HTTP: submit content, see the case, decide; policies; another org sees nothing."""

from __future__ import annotations

import time

import httpx

from tests.api.conftest import RunningNode, jpeg


def shared_bank(running: RunningNode, name: str = "tco", seed: int = 1) -> str:
    """hub creates a bank every member sees, with one image; returns the entry uuid."""
    c = running.client
    hub = running.as_("hub")
    r = c.post("/v1/banks", headers=hub, json={"name": name, "distribution": "members"})
    assert r.status_code == 201, r.text
    r = c.post(
        f"/v1/banks/{name}/entries/upload",
        headers=hub,
        files={"file": ("known.jpg", jpeg(seed))},
        data={"labels": ["propaganda"], "inclusion_criterion": "official outlet"},
    )
    assert r.status_code == 201, r.text
    uuid: str = r.json()["added"][0]["uuid"]
    return uuid


def submit(running: RunningNode, org: str, ref: str, seed: int = 1) -> httpx.Response:
    """Submit an edited copy of scene ``seed``, waiting for the matcher to follow the bank."""
    copy = jpeg(seed, size=(320, 240), quality=60)
    deadline = time.monotonic() + 10
    while True:
        r = running.client.post(
            "/v1/content",
            headers=running.as_(org),
            files={"file": ("upload.jpg", copy)},
            data={"content_ref": ref},
        )
        if r.status_code != 200 or r.json()["matches"] or time.monotonic() > deadline:
            return r
        time.sleep(0.05)


def test_submitted_content_opens_a_case_the_owner_decides(running: RunningNode) -> None:
    c = running.client
    m1 = running.as_("m1")
    entry = shared_bank(running)
    r = submit(running, "m1", "https://platform.example/p/1")
    assert r.status_code == 200, r.text
    body = r.json()
    case = body["case"]
    assert case["state"] == "open" and case["has_preview"] and case["deadline"]
    assert {m["entry"] for m in case["matches"]} == {entry}
    assert case["content_ref"] == "https://platform.example/p/1"

    listed = c.get("/v1/cases", headers=m1, params={"state": ["open", "reopened"]}).json()
    assert [x["uuid"] for x in listed["cases"]] == [case["uuid"]]
    assert listed["counts"]["open"] == 1

    preview = c.get(f"/v1/cases/{case['uuid']}/preview", headers=m1)
    assert preview.status_code == 200 and preview.headers["content-type"] == "image/jpeg"
    assert preview.headers["cache-control"] == "no-store"

    r = c.post(
        f"/v1/cases/{case['uuid']}/decision",
        headers=m1,
        json={"decision": "violating", "reviewer": "rev-7", "note": "known outlet logo"},
    )
    assert r.status_code == 200, r.text
    decided = r.json()
    assert decided["case"]["state"] == "actioned" and decided["case"]["decided_by"] == "rev-7"
    assert len(decided["actions"]) == 1
    assert decided["feedback"] == [{"entry": entry, "verdict": "confirmed"}]
    opinions = c.get(f"/v1/banks/tco/entries/{entry}/opinions", headers=running.as_("hub")).json()
    assert [(o["org"], o["verdict"]) for o in opinions] == [("m1", "confirmed")]

    again = c.post(f"/v1/cases/{case['uuid']}/decision", headers=m1, json={"decision": "violating"})
    assert again.status_code == 409


def test_another_organisation_cannot_see_or_decide_a_case(running: RunningNode) -> None:
    c = running.client
    shared_bank(running)
    case = submit(running, "m1", "p/2").json()["case"]
    m2 = running.as_("m2")
    for method, path, extra in (
        ("GET", f"/v1/cases/{case['uuid']}", {}),
        ("GET", f"/v1/cases/{case['uuid']}/preview", {}),
        ("POST", f"/v1/cases/{case['uuid']}/decision", {"json": {"decision": "violating"}}),
        ("POST", f"/v1/cases/{case['uuid']}/notes", {"json": {"text": "x"}}),
    ):
        r = c.request(method, path, headers=m2, **extra)  # type: ignore[arg-type]
        assert r.status_code == 404, (path, r.text)
    assert c.get("/v1/cases", headers=m2).json()["cases"] == []
    assert c.get("/v1/cases", headers={}).status_code == 401


def test_policies_route_matches(running: RunningNode) -> None:
    c = running.client
    m1 = running.as_("m1")
    shared_bank(running)
    assert c.get("/v1/policies/tco", headers=m1).json()["mode"] == "review"
    r = c.put("/v1/policies/tco", headers=m1, json={"mode": "auto_action", "action": "restrict"})
    assert r.status_code == 200, r.text
    assert [p["bank"] for p in c.get("/v1/policies", headers=m1).json()] == ["tco"]
    case = submit(running, "m1", "p/3").json()["case"]
    assert case["state"] == "actioned" and case["automated_decision"]
    assert case["decided_by"] == "auto_action:tco"

    r = c.put("/v1/policies/tco", headers=m1, json={"mode": "allow_list"})
    assert r.status_code == 200
    body = submit(running, "m1", "p/4").json()
    assert body["case"] is None and body["suppressed"] and body["matches"]

    # m2's policies are its own: the same bank still goes to review for it.
    assert submit(running, "m2", "p/5").json()["case"]["state"] == "open"
    # A bank the caller may not see is answered as absent; bad modes are 422.
    assert (
        c.put("/v1/policies/tco", headers=running.as_("p1"), json={"mode": "review"}).status_code
        == 404
    )
    assert c.put("/v1/policies/tco", headers=m1, json={"mode": "delete_all"}).status_code == 422
    assert (
        c.put(
            "/v1/policies/tco", headers=m1, json={"mode": "auto_action", "rollout": 2}
        ).status_code
        == 422
    )


def test_signals_only_submission_never_needs_the_content(running: RunningNode) -> None:
    c = running.client
    m1 = running.as_("m1")
    shared_bank(running)
    hashed = c.post("/v1/hash", headers=m1, files={"file": ("a.jpg", jpeg(1, (320, 240), 60))})
    pdq = next(s for s in hashed.json()["signals"] if s["type"] == "pdq")
    body = {"content_ref": "p/6", "media_kind": "image", "signals": [pdq]}
    deadline = time.monotonic() + 10
    while True:
        r = c.post("/v1/content/signals", headers=m1, json=body)
        assert r.status_code == 200, r.text
        if r.json()["case"] or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    case = r.json()["case"]
    assert case["state"] == "open" and not case["has_preview"]
    bad = {"content_ref": "p/7", "signals": [{"type": "pdq", "value": "zz"}]}
    assert c.post("/v1/content/signals", headers=m1, json=bad).status_code == 422
    assert (
        c.post(
            "/v1/content/signals", headers=m1, json={"content_ref": "", "signals": [pdq]}
        ).status_code
        == 422
    )


def test_decision_input_is_checked(running: RunningNode) -> None:
    c = running.client
    m1 = running.as_("m1")
    shared_bank(running)
    case = submit(running, "m1", "p/8").json()["case"]
    url = f"/v1/cases/{case['uuid']}/decision"
    assert c.post(url, headers=m1, json={"decision": "exempt"}).status_code == 422
    assert c.post(url, headers=m1, json={"decision": "burn"}).status_code == 422
    assert c.post(url, headers=m1, json={"decision": "violating", "x": 1}).status_code == 422
    r = c.post(url, headers=m1, json={"decision": "exempt", "exemption": "research"})
    assert r.status_code == 200 and r.json()["case"]["exemption"] == "research"
    assert c.get("/v1/cases/not-a-case", headers=m1).status_code == 404
