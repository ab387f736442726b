"""The fast paths of the node: tokens from memory, lookups in the event loop, hits resolved from
memory while the store does not change, answers written as JSON directly, batches resolved in one
store read, uploads hashing only the types that can match — each answering exactly as the slow
path does (on SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from functools import partial
from pathlib import Path

import httpx
import pytest

from tessera.api.schemas import BatchMatchOut, MatchesOut
from tessera.api.uploads import hash_bytes
from tessera.errors import Unauthenticated
from tessera.services.access import may_see
from tessera.services.matching import Query
from tessera.services.orgs import TokenAuthority, issue_token
from tessera.settings import Settings
from tessera.signals.base import Signal
from tessera.store import Database, Store
from tessera.store.orgs import OrgStore
from tessera.store.probe import ChangeProbe
from tessera.store.records import EntryStatus, NewEntry, Tier, Verdict
from tests.api.conftest import RunningNode, jpeg

PDQ = "f" * 32 + "0" * 32
NEAR = "e" + "f" * 31 + "0" * 32  # 1 bit away
FAR = "0" * 32 + "f" * 32
MD5 = "0123456789abcdef0123456789abcdef"


def _bank(running: RunningNode, name: str, distribution: str) -> None:
    store = running.node.store
    store.create_bank(name, owner_org="hub", distribution=distribution)
    entry = NewEntry(signals=(Signal("pdq", PDQ, 100), Signal("md5", MD5)), labels=("x",))
    store.add_entries(name, [entry])
    running.node.matcher.refresh()


def test_lookups_answer_as_the_documented_models(running: RunningNode) -> None:
    _bank(running, "shared", "members")
    _bank(running, "mine", "owner")
    c = running.client
    for org, banks in [("hub", {"shared", "mine"}), ("m1", {"shared"}), ("p1", set())]:
        r = c.get(
            "/v1/match/signal", headers=running.as_(org), params={"type": "pdq", "value": NEAR}
        )
        assert r.status_code == 200 and r.headers["content-type"] == "application/json"
        body = r.json()
        assert MatchesOut.model_validate(body).model_dump(mode="json") == body
        assert {m["bank"] for m in body["matches"]} == banks
        assert body["signal"] == {"type": "pdq", "value": NEAR, "quality": None}
        # The slow path (the matcher's own answer, through the model) says the same.
        who = running.node.tokens.resolve(running.orgs.tokens[org])
        slow = running.node.matcher.match(
            [Query(Signal("pdq", NEAR))], visible=partial(may_see, who)
        )
        expected = MatchesOut.model_validate(
            {"matches": [m.as_json() for m in slow], "signal": body["signal"]}
        )
        assert expected.model_dump(mode="json") == body
    fresh = c.get(
        "/v1/match/signal", headers=running.as_("hub"), params={"type": "pdq", "value": FAR}
    )
    assert fresh.json() == {
        "matches": [],
        "name": None,
        "signal": {"type": "pdq", "value": FAR, "quality": None},
    }
    hidden = c.get(
        "/v1/match/signal",
        headers=running.as_("m1"),
        params={"type": "pdq", "value": NEAR, "bank": "mine"},
    )
    assert hidden.status_code == 404
    named = c.get(
        "/v1/match/signal",
        headers=running.as_("m1"),
        params={"type": "pdq", "value": NEAR, "bank": "shared"},
    )
    assert [m["bank"] for m in named.json()["matches"]] == ["shared"]


def test_a_batch_answers_as_its_single_lookups(running: RunningNode) -> None:
    _bank(running, "shared", "members")
    _bank(running, "other", "members")
    c = running.client
    m1 = running.as_("m1")
    values = [NEAR, FAR, PDQ]
    body = {
        "signals": [{"type": "pdq", "value": v} for v in values] + [{"type": "md5", "value": MD5}]
    }
    r = c.post("/v1/match/signals", headers=m1, json=body)
    assert r.status_code == 200
    batch = r.json()
    assert BatchMatchOut.model_validate(batch).model_dump(mode="json") == batch
    singles = [c.get("/v1/match/signal", headers=m1, params=s).json() for s in body["signals"]]
    assert batch["results"] == singles
    assert [len(x["matches"]) for x in batch["results"]] == [2, 0, 2, 2]


def test_tokens_are_answered_from_memory_and_revoked_at_once(store: Store) -> None:
    orgs = OrgStore(store.db)
    orgs.create_org("m1", Tier.MEMBER)
    secret = issue_token(orgs, "m1", ["match"]).secret
    uses: list[tuple[str, str, str]] = []
    tokens = TokenAuthority(orgs, 60.0, on_use=lambda *use: uses.append(use))
    assert tokens.resolve_cached(secret, "/v1/me") is None  # not cached yet: needs the database
    who = tokens.resolve(secret, "/v1/me")
    again = tokens.resolve_cached(secret, "/v1/match/signal")
    assert again == who
    prefix = secret.split("_")[1]
    assert uses == [(prefix, "m1", "/v1/me"), (prefix, "m1", "/v1/match/signal")]
    for bad in (None, "", "Bearer x", secret[:-1]):
        with pytest.raises(Unauthenticated):
            tokens.resolve_cached(bad)
    assert len(uses) == 2  # a refused token is not a use
    tokens.revoke(prefix)
    assert tokens.resolve_cached(secret) is None
    with pytest.raises(Unauthenticated, match="revoked"):
        tokens.resolve(secret)
    with pytest.raises(Unauthenticated, match="revoked"):
        tokens.resolve_cached(secret)  # now cached as revoked: refused from memory


def test_a_busy_matcher_does_not_stall_the_event_loop(running: RunningNode) -> None:
    _bank(running, "shared", "members")
    answers: list[httpx.Response] = []
    params = {"type": "pdq", "value": NEAR}
    headers = running.as_("m1")
    running.client.get("/v1/match/signal", headers=headers, params=params)  # warm the caches

    def lookup() -> None:
        with httpx.Client(base_url=running.url, timeout=30) as client:
            answers.append(client.get("/v1/match/signal", headers=headers, params=params))

    lock = running.node.matcher._lock  # as a refresh applying changes holds it
    with lock:
        waiting = threading.Thread(target=lookup)
        waiting.start()
        time.sleep(0.3)
        assert not answers  # the lookup waits for the matcher, on a worker thread ...
        started = time.monotonic()
        assert running.client.get("/healthz").status_code == 200  # ... not in the event loop
        assert time.monotonic() - started < 0.25
    waiting.join(timeout=10)
    assert [len(a.json()["matches"]) for a in answers] == [1]


def test_uploads_hash_only_the_types_an_index_holds(running: RunningNode) -> None:
    image = jpeg(3)
    settings = Settings()
    every = {s.type for s in hash_bytes(image, "a.jpg", settings, keep_content=False).signals}
    assert {"pdq", "pdq_orb", "md5"} <= every
    some = hash_bytes(image, "a.jpg", settings, keep_content=False, only=lambda t: t == "pdq")
    assert [s.type for s in some.signals] == ["pdq"]

    # A bank holding the image's PDQ only: the upload matches it by PDQ (no pdq_orb computed).
    pdq = some.signals[0]
    store = running.node.store
    store.create_bank("photos", owner_org="hub", distribution="members")
    store.add_entries("photos", [NewEntry(signals=(pdq,))])
    running.node.matcher.refresh()
    assert running.node.matcher.has_signals("pdq")
    assert not running.node.matcher.has_signals("pdq_orb")
    r = running.client.post(
        "/v1/match", headers=running.as_("m1"), files={"file": ("q.jpg", image)}
    )
    assert r.status_code == 200
    body = r.json()
    assert MatchesOut.model_validate(body).model_dump(mode="json") == body
    assert [(m["bank"], m["signal_type"], m["distance"]) for m in body["matches"]] == [
        ("photos", "pdq", 0)
    ]
    assert body["name"] == "q.jpg" and body["signal"] is None


def test_remembered_hits_follow_every_change_of_the_store_at_once(
    running: RunningNode, database_url: tuple[str, str | None]
) -> None:
    """Writes through another connection (as another worker or a sync would make them) show in
    the very next lookup: no wait for the change-log follower, which is stopped here."""
    _bank(running, "shared", "members")
    matcher = running.node.matcher
    matcher.stop()  # the index keeps the hit whatever happens: only the resolution decides
    c = running.client
    params = {"type": "pdq", "value": NEAR}

    def seen(org: str) -> list[tuple[str, list[str], str, int]]:
        r = c.get("/v1/match/signal", headers=running.as_(org), params=params)
        assert r.status_code == 200
        return [
            (m["bank"], m["labels"], m["entry_status"], m["threshold"]) for m in r.json()["matches"]
        ]

    assert seen("m1") == [("shared", ["x"], "active", 31)]
    assert seen("m1") == [("shared", ["x"], "active", 31)]
    cached = matcher.owners.cached(list(matcher.find([Query(Signal("pdq", NEAR))]) or {}))
    assert (cached is not None) == (matcher.owners.probe is not None)  # SQLite files only
    url, schema = database_url
    other_db = Database(url, schema=schema)
    other = Store(other_db, node_org="test-org")
    try:
        entry = other.get_entry(
            "shared",
            c.get("/v1/match/signal", headers=running.as_("m1"), params=params).json()["matches"][
                0
            ]["entry"],
        ).uuid
        other.update_entry("shared", entry, labels=["y"])
        assert seen("m1") == [("shared", ["y"], "active", 31)]
        other.set_opinion("shared", entry, "m2", Verdict.DISPUTED, "not propaganda")
        assert seen("m1") == [("shared", ["y"], "disputed", 31)]
        other.update_bank("shared", thresholds={"pdq": 10})
        assert seen("m1") == [("shared", ["y"], "disputed", 10)]
        other.update_bank("shared", thresholds={"pdq": 0})  # NEAR is 1 bit away
        assert seen("m1") == []
        other.update_bank("shared", thresholds={})
        assert seen("m1") == [("shared", ["y"], "disputed", 31)]
        other.update_bank("shared", distribution="owner")  # narrowed: hub owns it
        assert seen("m1") == [] and len(seen("hub")) == 1
        other.update_bank("shared", distribution="members")
        assert len(seen("m1")) == 1
        other.update_bank("shared", enabled=False)
        assert seen("hub") == []
        other.update_bank("shared", enabled=True)
        assert len(seen("hub")) == 1
        other.set_entry_status("shared", entry, EntryStatus.RETIRED)
        assert seen("hub") == []
        other.set_entry_status("shared", entry, EntryStatus.ACTIVE)
        assert len(seen("hub")) == 1
        other.delete_bank("shared")
        assert seen("hub") == []
    finally:
        other_db.dispose()


def test_a_token_revoked_by_another_process_is_refused_at_once(tmp_path: Path) -> None:
    """On SQLite the token cache asks the store whether anything was committed since it read the
    token: a revocation through another connection (another worker) is seen by the next request,
    long before ``token_cache_s``."""
    url = f"sqlite:///{tmp_path / 'node.db'}"
    db = Database(url)
    db.migrate()
    orgs = OrgStore(db)
    orgs.create_org("m1", Tier.MEMBER)
    secret = issue_token(orgs, "m1", ["match"]).secret
    prefix = secret.split("_")[1]
    tokens = TokenAuthority(orgs, 600.0, probe=ChangeProbe.of(db))
    try:
        tokens.resolve(secret)  # its first use writes last_used_at: a commit, so read again
        tokens.resolve(secret)
        assert tokens.resolve_cached(secret) is not None  # answered from memory
        other = Database(url)  # another worker's connection to the same file
        try:
            OrgStore(other).revoke_token(prefix)
        finally:
            other.dispose()
        assert tokens.resolve_cached(secret) is None  # the store changed: read it again
        with pytest.raises(Unauthenticated, match="revoked"):
            tokens.resolve(secret)
    finally:
        assert tokens.probe is not None
        tokens.probe.close()
        db.dispose()
