"""The node end to end over real HTTP: admit orgs, issue tokens, share a bank, match, dispute,
retire, revoke — as the README shows it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx

from tessera.store.records import Tier
from tests.api.conftest import RunningNode, jpeg


def wait_for_match(running: RunningNode, org: str, content: bytes) -> list[dict[str, object]]:
    """Match ``content`` as ``org`` until the follower has caught up (or 5 s passed)."""
    deadline = time.monotonic() + 5
    while True:
        r = running.client.post(
            "/v1/match", headers=running.as_(org), files={"file": ("q.jpg", content)}
        )
        assert r.status_code == 200, r.text
        matches: list[dict[str, object]] = r.json()["matches"]
        if matches or time.monotonic() > deadline:
            return matches
        time.sleep(0.05)


def test_a_shared_bank_is_matched_disputed_and_retired(running: RunningNode) -> None:
    c = running.client
    # The coordinator admits a platform and issues its token through the API.
    r = c.post("/v1/orgs", headers=running.as_("hub"), json={"name": "plat", "tier": "member"})
    assert r.status_code == 201, r.text
    r = c.post(
        "/v1/orgs/plat/tokens",
        headers=running.as_("hub"),
        json={"scopes": ["match", "contribute", "review"], "note": "e2e"},
    )
    assert r.status_code == 201
    plat = {"Authorization": f"Bearer {r.json()['token']}"}
    assert c.get("/v1/me", headers=plat).json()["tier"] == "member"

    r = c.post(
        "/v1/banks",
        headers=plat,
        json={"name": "propaganda", "distribution": "members_observers", "labels": ["tve"]},
    )
    assert r.status_code == 201, r.text
    assert r.json()["owner_org"] == "plat"
    original = jpeg(1)
    r = c.post(
        "/v1/banks/propaganda/entries/upload",
        headers=plat,
        files={"file": ("known.jpg", original)},
        data={"labels": ["logo"], "inclusion_criterion": "official propaganda"},
    )
    assert r.status_code == 201, r.text
    (entry,) = r.json()["added"]
    assert {s["type"] for s in entry["signals"]} >= {"pdq", "md5", "sha256"}
    assert entry["created_by"] == "plat" and entry["origin_org"] == "plat"
    assert entry["origin_node"] == c.get("/v1/me", headers=plat).json()["node"]

    # An edited copy matches for an observer (members_observers) but not for a partner.
    copy = jpeg(1, size=(320, 240), quality=60)
    matches = wait_for_match(running, "obs", copy)
    assert {m["bank"] for m in matches} == {"propaganda"}
    assert all(m["entry"] == entry["uuid"] for m in matches)
    r = c.post("/v1/match", headers=running.as_("p1"), files={"file": ("q.jpg", copy)})
    assert r.status_code == 200 and r.json()["matches"] == []

    # The observer disputes it: the status rolls up for everyone; the owner sees the reason.
    r = c.put(
        f"/v1/banks/propaganda/entries/{entry['uuid']}/opinion",
        headers=running.as_("obs"),
        json={"verdict": "disputed", "reason": "news report, not propaganda"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["entry"]["status"] == "disputed"
    shown = c.get(f"/v1/banks/propaganda/entries/{entry['uuid']}", headers=plat).json()
    assert shown["status"] == "disputed" and shown["opinion_counts"] == {"disputed": 1}
    assert [o["reason"] for o in shown["opinions"]] == ["news report, not propaganda"]
    assert {m["entry_status"] for m in wait_for_match(running, "m1", copy)} == {"disputed"}

    # The owner retires the entry: it no longer matches.
    r = c.delete(f"/v1/banks/propaganda/entries/{entry['uuid']}", headers=plat)
    assert r.status_code == 200 and r.json()["status"] == "retired"
    deadline = time.monotonic() + 5
    while wait_for_match(running, "obs", copy) and time.monotonic() < deadline:
        time.sleep(0.05)
    r = c.post("/v1/match", headers=running.as_("obs"), files={"file": ("q.jpg", copy)})
    assert r.json()["matches"] == []

    # Revoking the platform's token locks it out at once.
    prefix = c.get("/v1/orgs/plat/tokens", headers=running.as_("hub")).json()[0]["prefix"]
    assert c.delete(f"/v1/tokens/{prefix}", headers=running.as_("hub")).status_code == 200
    r = c.get("/v1/banks", headers=plat)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    assert r.headers["www-authenticate"] == "Bearer"


def test_health_readiness_metrics_and_docs_need_no_token(running: RunningNode) -> None:
    c = running.client
    assert c.get("/healthz").json() == {"status": "ok"}
    ready = c.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    c.get("/v1/banks", headers=running.as_("m1"))
    metrics = c.get("/metrics").text
    assert 'tessera_http_requests_total{method="GET",route="/v1/banks",status="200"}' in metrics
    assert "tessera_index_signals" in metrics
    assert c.get("/docs").status_code == 200
    assert "/v1/match/signals" in c.get("/openapi.json").json()["paths"]


def test_uploads_over_the_limit_are_refused_with_413_before_reading(running: RunningNode) -> None:
    big = b"\0" * 2_500_000
    r = running.client.post("/v1/hash", headers=running.as_("m1"), files={"file": ("big.bin", big)})
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"

    # Without a Content-Length (chunked), the body is counted as it arrives.
    form = httpx.Request("POST", running.url, files={"file": ("big.bin", big)})
    body = form.read()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 100_000):
            yield body[start : start + 100_000]

    r = running.client.post(
        "/v1/hash",
        headers=running.as_("m1") | {"Content-Type": form.headers["Content-Type"]},
        content=chunks(),
    )
    assert "content-length" not in r.request.headers
    assert r.status_code == 413 and r.json()["error"]["code"] == "too_large"


def test_hash_and_batch_match_by_signal(running: RunningNode) -> None:
    c = running.client
    m1 = running.as_("m1")
    assert c.post("/v1/banks", headers=m1, json={"name": "digests"}).status_code == 201
    md5 = "0123456789abcdef0123456789abcdef"
    r = c.post(
        "/v1/banks/digests/entries",
        headers=m1,
        json={"signals": [{"type": "md5", "value": md5.upper()}], "labels": ["a"]},
    )
    assert r.status_code == 201 and r.json()["added"][0]["signals"][0]["value"] == md5
    again = c.post(
        "/v1/banks/digests/entries", headers=m1, json={"signals": [{"type": "md5", "value": md5}]}
    )
    assert again.json()["already_present"] == [r.json()["added"][0]["uuid"]]
    running.node.matcher.refresh()
    body = {"signals": [{"type": "md5", "value": md5}, {"type": "sha256", "value": "ab" * 32}]}
    results = c.post("/v1/match/signals", headers=m1, json=body).json()["results"]
    assert [len(x["matches"]) for x in results] == [1, 0]
    # The owner bank is invisible to everyone else, coordinator included.
    for org in ("hub", "m2", "obs", "p1"):
        r = c.post("/v1/match/signals", headers=running.as_(org), json=body)
        assert [len(x["matches"]) for x in r.json()["results"]] == [0, 0]
    r = c.get("/v1/match/signal", headers=m1, params={"type": "md5", "value": "zz"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_signal"
    r = c.post("/v1/hash", headers=m1, files={"file": ("x.txt", b"hello")})
    assert [s["type"] for s in r.json()["signals"]] == ["md5", "sha256"]
    r = c.post("/v1/hash", headers=m1, files={"file": ("bad.jpg", b"\xff\xd8\xff\xe0junk")})
    assert r.status_code == 422 and r.json()["error"]["code"] == "media_error"
    r = c.post("/v1/hash/url", headers=m1, json={"url": "http://127.0.0.1/x.jpg"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "fetch_disabled"


def test_wrong_scope_is_403_and_bad_tokens_are_401(running: RunningNode) -> None:
    c = running.client
    match_only = running.orgs.add("reader", Tier.MEMBER, ["match"])
    h = {"Authorization": f"Bearer {match_only}"}
    r = c.post("/v1/banks", headers=h, json={"name": "x"})
    assert r.status_code == 403 and "contribute" in r.json()["error"]["message"]
    assert c.get("/v1/orgs", headers=running.as_("m1")).status_code == 403
    for header in ("", "Bearer", "Bearer nope", f"Bearer {match_only[:-1]}x", "Basic abc"):
        r = c.get("/v1/banks", headers={"Authorization": header} if header else {})
        assert r.status_code == 401, header
        assert r.json()["error"]["code"] == "unauthenticated"
    assert httpx.get(f"{running.url}/v1/me", headers=h).status_code == 200
