"""Webhook delivery against a real receiver on loopback that fails, hangs, closes and recovers."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tessera.review.actions import (
    NO_ENDPOINT,
    Action,
    dead_letters,
    disable_webhook,
    enqueue,
    get_action,
    retry,
    set_webhook,
)
from tessera.review.delivery import (
    ATTEMPT_HEADER,
    EVENT_HEADER,
    DeliveryWorker,
    backoff_delay,
    body_bytes,
    deliver_due,
    sign,
    verify_signature,
)
from tessera.review.records import ActionState
from tessera.settings import Settings
from tessera.store import Database, Store
from tessera.store.db import utcnow
from tessera.store.orgs import OrgStore
from tessera.store.records import Tier
from tessera.store.review_tables import actions, audit_log
from tests.review.receiver import Receiver

ORG = "m1"


def fast(tmp_path: Path, **overrides: object) -> Settings:
    """Settings with short timeouts and backoffs, so that failures retry within milliseconds."""
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "webhook_timeout_s": 0.5,
        "webhook_max_attempts": 3,
        "webhook_backoff_s": 0.01,
        "webhook_backoff_max_s": 0.04,
        "webhook_interval_s": 0.02,
    }
    return Settings(**(values | overrides))  # type: ignore[arg-type]


@pytest.fixture
def receiver(store: Store) -> Iterator[Receiver]:
    """A receiver on loopback set as the endpoint of organisation m1."""
    OrgStore(store.db).create_org(ORG, Tier.MEMBER)
    with Receiver() as rx:
        rx.secret = set_webhook(store.db, ORG, rx.url)
        yield rx


def queue(db: Database, kind: str = "remove", **fields: object) -> str:
    """Queue one action of m1 in its own transaction."""
    with db.write() as conn:
        return enqueue(conn, org=ORG, kind=kind, content_ref="post/1", **fields)  # type: ignore[arg-type]


def deliver_until(
    db: Database, settings: Settings, done: Callable[[], bool], timeout_s: float = 15.0
) -> int:
    """Run delivery passes until ``done()``; returns the passes it took."""
    deadline = time.monotonic() + timeout_s
    passes = 0
    while not done():
        assert time.monotonic() < deadline, "not delivered in time"
        deliver_due(db, settings)
        passes += 1
        time.sleep(0.01)
    return passes


def audit_kinds(db: Database, key: str) -> list[str]:
    """The audit log's kinds of rows about action ``key``, in order."""
    with db.read() as conn:
        query = sa.select(audit_log.c.kind).where(audit_log.c.subject == f"action:{key}")
        return list(conn.execute(query.order_by(audit_log.c.seq)).scalars())


def state(db: Database, key: str) -> Action:
    """The action as stored now."""
    return get_action(db, ORG, key)


# -- signatures and backoff ----------------------------------------------------------------------


def test_signature_verifies_and_tampering_fails() -> None:
    body = b'{"id":"x","kind":"remove"}'
    now = int(time.time())
    header = sign("whsec_k", now, body)
    assert header.startswith(f"t={now},v1=") and len(header.rpartition("=")[2]) == 64
    assert verify_signature("whsec_k", header, body)
    assert not verify_signature("whsec_k", header, body.replace(b"remove", b"restore"))
    assert not verify_signature("whsec_other", header, body)
    old = sign("whsec_k", now - 600, body)
    assert not verify_signature("whsec_k", old, body, tolerance_s=300)
    assert verify_signature("whsec_k", old, body, tolerance_s=300, now=now - 500)
    future = sign("whsec_k", now + 600, body)
    assert not verify_signature("whsec_k", future, body, tolerance_s=300)
    # A rotated secret: the header may carry several v1 values; one match is enough.
    mac = header.rpartition("v1=")[2]
    assert verify_signature("whsec_k", f"t={now},v1={'0' * 64},v1={mac}", body)
    for bad in ("", "garbage", f"t={now}", f"v1={mac}", f"t=x,v1={mac}", f"t={now},v1=zz"):
        assert not verify_signature("whsec_k", bad, body)


def test_backoff_grows_then_is_capped(tmp_path: Path) -> None:
    settings = fast(tmp_path, webhook_backoff_s=2.0, webhook_backoff_max_s=60.0)
    highest = [backoff_delay(n, settings, jitter=0.0) for n in range(1, 9)]
    assert highest == [2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
    lowest = [backoff_delay(n, settings, jitter=0.9999) for n in range(1, 9)]
    assert all(0.75 * h <= low < h for low, h in zip(lowest, highest, strict=True))
    # Jittered, each wait still exceeds the previous one until the cap.
    assert all(lowest[n + 1] > highest[n] for n in range(4))
    assert backoff_delay(10_000, settings) <= 60.0


# -- deliveries ----------------------------------------------------------------------------------


def test_delivered_on_the_third_attempt_with_one_idempotency_key(
    store: Store, receiver: Receiver, tmp_path: Path
) -> None:
    settings = fast(tmp_path)
    receiver.script("500", "close")
    key = queue(store.db, payload={"bank": "b1"}, automated=True)
    deliver_until(store.db, settings, lambda: state(store.db, key).state == ActionState.DELIVERED)
    assert receiver.keys() == [key, key, key]
    assert [r.answer for r in receiver.requests] == ["500", "close", "200"]
    assert all(r.signed for r in receiver.requests)
    assert [r.headers[ATTEMPT_HEADER.lower()] for r in receiver.requests] == ["1", "2", "3"]
    assert {r.headers[EVENT_HEADER.lower()] for r in receiver.requests} == {"remove"}
    action = state(store.db, key)
    assert (action.attempts, action.last_error, action.next_attempt_at) == (3, "", None)
    assert action.delivered_at is not None
    body = json.loads(receiver.requests[-1].body)
    assert body == {
        "id": key,
        "kind": "remove",
        "content_ref": "post/1",
        "case": None,
        "automated": True,
        "created_at": action.created_at.isoformat(timespec="microseconds"),
        "payload": {"bank": "b1"},
    }
    assert {r.body for r in receiver.requests} == {body_bytes(action)}
    assert receiver.applied == Counter({key: 1})
    assert audit_kinds(store.db, key) == [
        "action.queued",
        "action.attempt_failed",
        "action.attempt_failed",
        "action.delivered",
    ]


def test_a_receiver_that_hangs_is_a_failed_attempt_not_a_hang(
    store: Store, receiver: Receiver, tmp_path: Path
) -> None:
    settings = fast(tmp_path, webhook_timeout_s=0.3)
    receiver.hang_s = 5.0
    receiver.script("hang")
    key = queue(store.db)
    started = time.monotonic()
    counts = deliver_due(store.db, settings)
    assert time.monotonic() - started < 2.5
    assert (counts.delivered, counts.failed, counts.dead) == (0, 1, 0)
    action = state(store.db, key)
    assert action.state == ActionState.PENDING and action.attempts == 1
    assert "no answer in time" in action.last_error
    deliver_until(store.db, settings, lambda: state(store.db, key).state == ActionState.DELIVERED)
    assert receiver.keys() == [key, key]


def test_max_attempts_go_dead_then_a_retry_delivers(
    store: Store, receiver: Receiver, tmp_path: Path
) -> None:
    settings = fast(tmp_path)
    receiver.script("503", "500", "502")
    key = queue(store.db)
    deliver_until(store.db, settings, lambda: state(store.db, key).state == ActionState.DEAD)
    dead = state(store.db, key)
    assert (dead.attempts, dead.next_attempt_at) == (3, None)
    assert dead.last_error == "HTTP 502 Bad Gateway"
    assert [a.uuid for a in dead_letters(store.db, ORG)] == [key]
    assert deliver_due(store.db, settings).claimed == 0  # dead stays dead
    again = retry(store.db, ORG, key, actor="test")
    assert (again.state, again.attempts) == (ActionState.PENDING, 0)
    assert deliver_due(store.db, settings).delivered == 1
    assert state(store.db, key).state == ActionState.DELIVERED
    assert dead_letters(store.db, ORG) == []
    assert receiver.keys() == [key] * 4
    assert audit_kinds(store.db, key)[-4:] == [
        "action.attempt_failed",
        "action.dead",
        "action.retried",
        "action.delivered",
    ]


def test_an_answer_a_retry_cannot_change_goes_dead_at_once(
    store: Store, receiver: Receiver, tmp_path: Path
) -> None:
    settings = fast(tmp_path, webhook_max_attempts=8)
    receiver.script("410", "404")
    gone = queue(store.db)
    assert deliver_due(store.db, settings).dead == 1
    assert (state(store.db, gone).state, state(store.db, gone).attempts) == (ActionState.DEAD, 1)
    missing = queue(store.db)
    counts = deliver_due(store.db, settings)
    assert (counts.failed, counts.dead) == (1, 0)  # 404: an endpoint being deployed; retried
    assert state(store.db, missing).state == ActionState.PENDING


def test_backoff_between_real_attempts_grows_and_is_capped(
    store: Store, receiver: Receiver, tmp_path: Path
) -> None:
    settings = fast(tmp_path, webhook_backoff_s=10.0, webhook_backoff_max_s=15.0)
    settings = settings.model_copy(update={"webhook_max_attempts": 5})
    receiver.script("500", "500", "500")
    key = queue(store.db)
    waits = []
    for _ in range(3):
        before = utcnow()
        assert deliver_due(store.db, settings).failed == 1
        due = state(store.db, key).next_attempt_at
        assert due is not None
        waits.append((due - before).total_seconds())
        assert deliver_due(store.db, settings).claimed == 0  # not due yet
        with store.db.write() as conn:  # let the clock run out, not the test
            conn.execute(actions.update().values(next_attempt_at=utcnow() - timedelta(seconds=1)))
    assert 7.5 - 0.1 <= waits[0] <= 10.0 + 0.5
    assert 15.0 * 0.75 - 0.1 <= waits[1] <= 15.0 + 0.5  # 20 s, capped at 15
    assert 15.0 * 0.75 - 0.1 <= waits[2] <= 15.0 + 0.5


def test_retry_after_stretches_the_wait(store: Store, receiver: Receiver, tmp_path: Path) -> None:
    settings = fast(tmp_path, webhook_backoff_max_s=30.0)
    receiver.script("429:20")
    key = queue(store.db)
    before = utcnow()
    deliver_due(store.db, settings)
    due = state(store.db, key).next_attempt_at
    assert due is not None and (due - before).total_seconds() >= 19.5
    assert state(store.db, key).last_error == "HTTP 429 Too Many Requests"


def test_shadow_actions_never_leave(store: Store, receiver: Receiver, tmp_path: Path) -> None:
    settings = fast(tmp_path)
    key = queue(store.db, shadow=True, automated=True)
    for _ in range(3):
        assert deliver_due(store.db, settings).claimed == 0
    action = state(store.db, key)
    assert (action.state, action.attempts, action.next_attempt_at) == (ActionState.SHADOW, 0, None)
    assert receiver.requests == []


def test_without_an_endpoint_actions_wait_then_go(store: Store, tmp_path: Path) -> None:
    settings = fast(tmp_path)
    OrgStore(store.db).create_org(ORG, Tier.MEMBER)
    key = queue(store.db, kind="incident.declared")
    assert state(store.db, key).last_error == NO_ENDPOINT
    assert deliver_due(store.db, settings).claimed == 0
    with Receiver() as rx:
        rx.secret = set_webhook(store.db, ORG, rx.url)
        disable_webhook(store.db, ORG)
        assert deliver_due(store.db, settings).claimed == 0
        assert state(store.db, key).state == ActionState.PENDING
        rx.secret = set_webhook(store.db, ORG, rx.url)
        assert deliver_due(store.db, settings).delivered == 1
    assert rx.keys() == [key]
    assert rx.requests[0].headers[EVENT_HEADER.lower()] == "incident.declared"
    assert state(store.db, key).last_error == ""


def test_two_concurrent_passes_deliver_each_action_once(
    store: Store, receiver: Receiver, database_url: tuple[str, str | None], tmp_path: Path
) -> None:
    settings = fast(tmp_path)
    keys = {queue(store.db) for _ in range(30)}
    url, schema = database_url
    other = Database(url, schema=schema)
    errors: list[BaseException] = []

    def run(db: Database) -> None:
        try:
            deliver_until(db, settings, lambda: len(receiver.applied) >= len(keys))
        except BaseException as e:  # reported by the test below
            errors.append(e)

    try:
        threads = [threading.Thread(target=run, args=(db,)) for db in (store.db, other)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        other.dispose()
    assert errors == []
    assert Counter(receiver.keys()) == Counter(dict.fromkeys(keys, 1))
    assert all(state(store.db, k).state == ActionState.DELIVERED for k in keys)


def test_the_worker_delivers_in_the_background(
    store: Store, receiver: Receiver, tmp_path: Path
) -> None:
    idle = DeliveryWorker(store.db, fast(tmp_path, webhook_interval_s=0))
    idle.start()
    idle.stop()
    worker = DeliveryWorker(store.db, fast(tmp_path))
    worker.start()
    try:
        key = queue(store.db, kind="preserve")
        deadline = time.monotonic() + 15
        while state(store.db, key).state != ActionState.DELIVERED:
            assert time.monotonic() < deadline, "the worker did not deliver"
            time.sleep(0.02)
    finally:
        worker.stop()
    assert receiver.keys() == [key]
