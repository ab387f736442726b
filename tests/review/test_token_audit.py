"""Token use in the audit log: counted in memory as tokens resolve, written as one record per token
per flush (on a timer and on stop), never lost to a failed flush — on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tessera.api import create_app
from tessera.errors import Unauthenticated
from tessera.review import audit
from tessera.review.token_audit import KIND, TokenUseRecorder
from tessera.services.orgs import TokenAuthority, issue_token
from tessera.settings import Settings
from tessera.store import Store
from tessera.store.orgs import OrgStore
from tessera.store.records import Tier
from tests.api.server import Orgs, run_server


def token_records(store: Store) -> list[audit.AuditRecord]:
    """The token-use records, oldest first."""
    return audit.list_records(store.db, kind=KIND, limit=1000)


def authority(store: Store, recorder: TokenUseRecorder) -> tuple[TokenAuthority, str, str]:
    """A token authority telling ``recorder``, and tokens of orgs m1 and m2."""
    orgs = OrgStore(store.db)
    orgs.create_org("m1", Tier.MEMBER)
    orgs.create_org("m2", Tier.MEMBER)
    one = issue_token(orgs, "m1", ["match"]).secret
    two = issue_token(orgs, "m2", ["match", "review"]).secret
    return TokenAuthority(orgs, on_use=recorder.record), one, two


def test_uses_are_counted_and_flushed_as_one_record_per_token(store: Store) -> None:
    recorder = TokenUseRecorder(store.db, 60.0)
    tokens, one, two = authority(store, recorder)
    for route in ["/v1/match", "/v1/match", "/v1/banks/{bank}"]:
        tokens.resolve(one, route)
    tokens.resolve(two, "/v1/cases")
    with pytest.raises(Unauthenticated):
        tokens.resolve(one[:-3] + "AAA", "/v1/match")  # a refused token is not a use
    assert recorder.pending() == 4
    assert token_records(store) == []  # nothing written per request
    assert recorder.flush() == 2
    assert recorder.pending() == 0
    records = {r.org: r for r in token_records(store)}
    m1 = records["m1"]
    prefix = one.split("_")[1]
    assert (m1.subject, m1.actor) == (f"token:{prefix}", f"token:{prefix}")
    assert m1.detail["count"] == 3
    assert m1.detail["routes"] == ["/v1/banks/{bank}", "/v1/match"]
    assert m1.detail["first"] <= m1.detail["last"]
    assert m1.detail["routes_truncated"] is False
    assert records["m2"].detail["count"] == 1
    assert recorder.flush() == 0  # nothing new, nothing written
    assert audit.verify(store.db).ok


def test_routes_are_capped(store: Store) -> None:
    recorder = TokenUseRecorder(store.db, 60.0, max_routes=2)
    for route in ["/a", "/b", "/c", "/a"]:
        recorder.record("abcdef012345", "m1", route)
    recorder.flush()
    (record,) = token_records(store)
    assert record.detail["count"] == 4
    assert record.detail["routes"] == ["/a", "/b"] and record.detail["routes_truncated"] is True


def test_the_background_thread_flushes_and_stop_writes_the_rest(store: Store) -> None:
    recorder = TokenUseRecorder(store.db, 0.05)
    recorder.start()
    try:
        recorder.record("abcdef012345", "m1", "/v1/match")
        deadline = time.monotonic() + 10
        while not token_records(store):
            assert time.monotonic() < deadline, "the recorder never flushed"
            time.sleep(0.02)
    finally:
        recorder.stop()
    recorder = TokenUseRecorder(store.db, 3600.0)
    recorder.start()
    recorder.record("abcdef012345", "m1", "/v1/match")
    recorder.record("abcdef012345", "m1", "/v1/match")
    recorder.stop()  # an hour early: stop writes what is counted
    assert [r.detail["count"] for r in token_records(store)] == [1, 2]
    assert audit.verify(store.db).ok


def test_a_failed_flush_keeps_its_counts_for_the_next(store: Store) -> None:
    recorder = TokenUseRecorder(store.db, 60.0)
    recorder.record("abcdef012345", "m1", "/a")
    with store.db.engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE audit_log RENAME TO audit_log_away"))
    try:
        with pytest.raises(sa.exc.DBAPIError):
            recorder.flush()
        recorder.record("abcdef012345", "m1", "/b")
    finally:
        with store.db.engine.begin() as conn:
            conn.execute(sa.text("ALTER TABLE audit_log_away RENAME TO audit_log"))
    assert recorder.pending() == 2
    assert recorder.flush() == 1
    (record,) = token_records(store)
    assert record.detail["count"] == 2 and record.detail["routes"] == ["/a", "/b"]


def test_requests_to_a_real_node_are_audited_per_token(store: Store, tmp_path: Path) -> None:
    orgs = Orgs(store)
    orgs.add("m1", Tier.MEMBER)
    app = create_app(Settings(data_dir=tmp_path), store=store, follow=False)
    recorder = TokenUseRecorder(store.db, 3600.0)
    app.state.node.tokens.on_use = recorder.record
    with run_server(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(3):
            assert client.get("/v1/me", headers=orgs.auth("m1")).status_code == 200
        assert client.get("/v1/me").status_code == 401
    recorder.stop()
    (record,) = token_records(store)
    assert record.org == "m1" and record.detail["count"] == 3
