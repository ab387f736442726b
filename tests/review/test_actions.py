"""Actions and webhook endpoints in the store (both backends), and their commands."""

from __future__ import annotations

import json
import uuid as uuidlib
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from tessera.cli import webhook as webhook_cli
from tessera.cli.context import STATE
from tessera.errors import Conflict, InputError, NotFound
from tessera.review.actions import (
    NO_ENDPOINT,
    check_kind,
    dead_letters,
    disable_webhook,
    enqueue,
    get_action,
    get_webhook,
    list_actions,
    retry,
    set_webhook,
)
from tessera.review.records import ActionState
from tessera.store import Database, Store
from tessera.store.db import utcnow
from tessera.store.orgs import OrgStore
from tessera.store.records import Tier
from tessera.store.review_tables import actions, audit_log, cases, webhooks


@pytest.fixture
def db(store: Store) -> Database:
    """A store with organisations m1 and m2."""
    for name in ("m1", "m2"):
        OrgStore(store.db).create_org(name, Tier.MEMBER)
    return store.db


def add_case(db: Database, org: str, content_ref: str) -> tuple[int, str]:
    """A bare case row (the cases module owns the real ones); its id and uuid."""
    key, now = str(uuidlib.uuid4()), utcnow()
    with db.write() as conn:
        done = conn.execute(
            cases.insert().values(
                uuid=key, org=org, content_ref=content_ref, media_kind="image", signals=[],
                state="decided", source="match", withhold_feedback=False,
                automated_detection=True, automated_decision=False, created_at=now, updated_at=now,
            )
        )  # fmt: skip
        assert done.inserted_primary_key is not None
        return int(done.inserted_primary_key[0]), key


def audit_rows(db: Database, subject: str) -> list[tuple[str, str, dict[str, object]]]:
    """(kind, actor, detail) of the audit rows about ``subject``."""
    with db.read() as conn:
        query = sa.select(audit_log.c.kind, audit_log.c.actor, audit_log.c.detail)
        rows = conn.execute(query.where(audit_log.c.subject == subject).order_by(audit_log.c.seq))
        return [(r.kind, r.actor, dict(r.detail)) for r in rows]


def test_set_webhook_gives_a_new_strong_secret_each_time(db: Database) -> None:
    first = set_webhook(db, "m1", "https://platform.example/hook", actor="token:abc")
    second = set_webhook(db, "m1", "http://10.0.0.5:8080/tessera")
    assert first != second
    for secret in (first, second):
        assert secret.startswith("whsec_") and len(secret) >= 40
    hook = get_webhook(db, "m1")
    assert hook is not None
    assert (hook.url, hook.enabled) == ("http://10.0.0.5:8080/tessera", True)
    assert not hasattr(hook, "secret")
    with db.read() as conn:
        stored = conn.execute(sa.select(webhooks.c.secret).where(webhooks.c.org == "m1"))
        assert stored.scalar_one() == second
        assert conn.execute(sa.select(sa.func.count()).select_from(webhooks)).scalar_one() == 1
    rows = audit_rows(db, "webhook:m1")
    assert [(k, a) for k, a, _ in rows] == [("webhook.set", "token:abc"), ("webhook.set", "node")]
    assert all(first not in json.dumps(d) and second not in json.dumps(d) for _, _, d in rows)
    assert get_webhook(db, "m2") is None


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("", "1-2000 characters"),
        ("ftp://platform.example/hook", "http or https"),
        ("platform.example/hook", "http or https"),
        ("https:///hook", "no host"),
        ("https://user:pw@platform.example/hook", "user name or password"),
        ("https://platform.example/" + "a" * 2000, "1-2000 characters"),
        ("http://[::1/hook", "not a URL"),
    ],
)
def test_set_webhook_refuses_bad_urls(db: Database, url: str, reason: str) -> None:
    with pytest.raises(InputError, match=reason):
        set_webhook(db, "m1", url)
    assert get_webhook(db, "m1") is None


def test_webhook_of_an_unknown_org_and_disabling(db: Database) -> None:
    with pytest.raises(NotFound, match="no organisation named 'nobody'"):
        set_webhook(db, "nobody", "https://platform.example/hook")
    with pytest.raises(NotFound, match="has no webhook"):
        disable_webhook(db, "m1")
    set_webhook(db, "m1", "https://platform.example/hook")
    assert disable_webhook(db, "m1").enabled is False
    hook = get_webhook(db, "m1")
    assert hook is not None and not hook.enabled
    assert [k for k, _, _ in audit_rows(db, "webhook:m1")] == ["webhook.set", "webhook.disabled"]


def test_kinds_are_content_actions_or_events(db: Database) -> None:
    for kind in (
        "remove",
        "restrict",
        "restore",
        "preserve",
        "incident.declared",
        "incident.ended",
    ):
        assert check_kind(kind) == kind
    for bad in ("delete", "", "Remove", "incident", "incident.", ".x", "a.b.c", "x" * 50):
        with pytest.raises(InputError, match="unknown action"):
            check_kind(bad)
    with db.write() as conn, pytest.raises(InputError, match="content reference"):
        enqueue(conn, org="m1", kind="remove", content_ref="")
    with db.write() as conn:
        key = enqueue(conn, org="m1", kind="incident.declared", content_ref="")
    assert get_action(db, "m1", key).content_ref == ""


def test_enqueue_records_and_audits_in_the_callers_transaction(db: Database) -> None:
    case_id, case_uuid = add_case(db, "m1", "post/7")
    set_webhook(db, "m1", "https://platform.example/hook")
    with db.write() as conn:
        key = enqueue(
            conn, org="m1", kind="remove", content_ref="post/7", case_id=case_id,
            payload={"bank": "b1", "labels": ["x"]}, automated=True, actor="reviewer",
        )  # fmt: skip
    action = get_action(db, "m1", key)
    assert (action.org, action.kind, action.content_ref, action.case_uuid) == (
        "m1",
        "remove",
        "post/7",
        case_uuid,
    )
    assert (action.state, action.attempts, action.last_error) == (ActionState.PENDING, 0, "")
    assert action.automated and action.payload == {"bank": "b1", "labels": ["x"]}
    assert action.next_attempt_at is not None and action.delivered_at is None
    assert action.body() == {
        "id": key,
        "kind": "remove",
        "content_ref": "post/7",
        "case": case_uuid,
        "automated": True,
        "created_at": action.created_at.isoformat(timespec="microseconds"),
        "payload": {"bank": "b1", "labels": ["x"]},
    }
    assert audit_rows(db, f"action:{key}") == [
        (
            "action.queued",
            "reviewer",
            {"kind": "remove", "content_ref": "post/7", "automated": True, "shadow": False},
        )
    ]
    # A transaction that fails leaves no action behind.
    with pytest.raises(RuntimeError), db.write() as conn:
        lost = enqueue(conn, org="m1", kind="restrict", content_ref="post/8")
        raise RuntimeError("the decision failed")
    with pytest.raises(NotFound):
        get_action(db, "m1", lost)


def test_list_filters_and_stays_within_the_org(db: Database) -> None:
    case_id, case_uuid = add_case(db, "m1", "post/1")
    with db.write() as conn:
        waiting = enqueue(conn, org="m1", kind="remove", content_ref="post/1", case_id=case_id)
        shadow = enqueue(conn, org="m1", kind="restrict", content_ref="post/2", shadow=True)
        theirs = enqueue(conn, org="m2", kind="remove", content_ref="post/1")
    assert [a.uuid for a in list_actions(db, "m1")] == [shadow, waiting]
    assert [a.uuid for a in list_actions(db, "m1", state="shadow")] == [shadow]
    assert [a.uuid for a in list_actions(db, "m1", state=ActionState.PENDING)] == [waiting]
    assert [a.uuid for a in list_actions(db, "m1", case_id=case_id)] == [waiting]
    assert [a.uuid for a in list_actions(db, "m1", case_uuid=case_uuid)] == [waiting]
    assert [a.uuid for a in list_actions(db, "m1", limit=1)] == [shadow]
    assert get_action(db, "m1", waiting).last_error == NO_ENDPOINT
    assert get_action(db, "m1", shadow).last_error == ""
    with pytest.raises(InputError, match="unknown action state 'lost'"):
        list_actions(db, "m1", state="lost")
    with pytest.raises(InputError, match="limit"):
        list_actions(db, "m1", limit=0)
    with pytest.raises(NotFound):
        get_action(db, "m1", theirs)
    assert dead_letters(db, "m1") == []


def test_retry_only_a_dead_action_of_ones_own(db: Database) -> None:
    with db.write() as conn:
        key = enqueue(conn, org="m1", kind="remove", content_ref="post/1")
    with pytest.raises(Conflict, match="only a dead action"):
        retry(db, "m1", key)
    with db.write() as conn:  # as the delivery leaves it after its last attempt
        conn.execute(
            actions.update()
            .where(actions.c.uuid == key)
            .values(state="dead", attempts=8, next_attempt_at=None, last_error="HTTP 500")
        )
    assert [a.uuid for a in dead_letters(db, "m1")] == [key]
    with pytest.raises(NotFound):
        retry(db, "m2", key)
    with pytest.raises(NotFound):
        retry(db, "m1", str(uuidlib.uuid4()))
    again = retry(db, "m1", key, actor="token:abc")
    assert (again.state, again.attempts, again.uuid) == (ActionState.PENDING, 0, key)
    assert again.next_attempt_at is not None
    assert dead_letters(db, "m1") == []
    assert audit_rows(db, f"action:{key}")[-1][:2] == ("action.retried", "token:abc")


def test_commands(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 't.db'}"
    db = Database(url)
    db.migrate()
    OrgStore(db).create_org("m1", Tier.MEMBER)
    runner = CliRunner()

    def run(app: object, *args: str) -> tuple[int, str, str]:
        STATE.reset(None)
        result = runner.invoke(app, [*args, "--db", url])  # type: ignore[arg-type]
        return result.exit_code, result.stdout, result.stderr

    try:
        code, stdout, stderr = run(webhook_cli.app, "set", "--org", "m1", "ftp://x")
        assert code == 1 and "http or https" in stderr
        code, stdout, stderr = run(webhook_cli.app, "set", "--org", "m1", "https://p.example/h")
        assert code == 0 and "shown once" in stderr
        secret = stdout.strip()
        assert secret.startswith("whsec_")
        code, stdout, _ = run(webhook_cli.app, "show", "--org", "m1")
        assert code == 0 and "https://p.example/h" in stdout and "enabled" in stdout
        assert secret not in stdout
        with db.write() as conn:
            key = enqueue(conn, org="m1", kind="remove", content_ref="post/1")
            conn.execute(actions.update().values(state="dead", attempts=3, next_attempt_at=None))
        code, stdout, _ = run(webhook_cli.actions_app, "list", "--org", "m1", "--state", "dead")
        assert code == 0 and key in stdout
        code, stdout, _ = run(webhook_cli.actions_app, "list", "--org", "m1", "--json")
        assert [json.loads(line)["id"] for line in stdout.splitlines()] == [key]
        code, _, stderr = run(webhook_cli.actions_app, "list", "--org", "m1", "--state", "x")
        assert code == 1 and "unknown action state" in stderr
        code, stdout, _ = run(webhook_cli.actions_app, "retry", "--org", "m1", key)
        assert code == 0 and "pending again" in stdout
        code, _, stderr = run(webhook_cli.actions_app, "retry", "--org", "m1", key)
        assert code == 1 and "only a dead action" in stderr
        code, stdout, _ = run(webhook_cli.app, "disable", "--org", "m1")
        assert code == 0 and "disabled" in stdout
        code, stdout, _ = run(webhook_cli.actions_app, "deliver")
        assert code == 0 and "delivered 0, failed 0" in stdout
    finally:
        STATE.reset(None)
        db.dispose()
