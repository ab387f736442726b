"""`tessera audit verify | list | head` on a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

import sqlalchemy as sa
from typer.testing import CliRunner

from tessera.cli import audit as audit_cli
from tessera.cli.context import STATE
from tessera.review import audit
from tessera.store import Store


def run(store: Store, *args: str) -> tuple[int, str, str]:
    """Invoke ``tessera audit ARGS`` against the store; (exit code, stdout, stderr)."""
    STATE.reset(None)
    url = store.db.url.render_as_string(hide_password=False)
    schema = store.db.engine.dialect.default_schema_name if store.db.dialect != "sqlite" else None
    env = {"TESSERA_DATABASE_URL": url}
    if schema:
        env["PGOPTIONS"] = f"-csearch_path={schema}"
    result = CliRunner().invoke(audit_cli.app, list(args), env=env)
    STATE.reset(None)
    return result.exit_code, result.stdout, result.stderr


def fill(store: Store) -> None:
    """A bank with entries, a retired entry: five audit records."""
    store.create_bank("b", actor="m1")
    store.update_bank("b", description="x", actor="m1")
    with store.db.write() as conn:
        audit.append(conn, org="m2", actor="bob", kind="case.decided", subject="case:1")
        audit.append(conn, org="m2", actor="bob", kind="case.decided", subject="case:2")
        audit.append(conn, org="m2", actor="bob", kind="case.reopened", subject="case:1")


def test_verify_passes_then_names_each_problem(store: Store) -> None:
    code, stdout, _ = run(store, "verify")
    assert code == 0 and stdout.strip() == f"ok: 0 records, head {audit.GENESIS}"
    fill(store)
    code, stdout, _ = run(store, "verify")
    seq, digest = audit.head(store.db)
    assert code == 0 and stdout.strip() == f"ok: 5 records, head {digest}"
    assert seq == 5
    with store.db.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_log SET actor = 'eve' WHERE seq = 2"))
        conn.execute(sa.text("DELETE FROM audit_log WHERE seq = 5"))
    code, stdout, stderr = run(store, "verify")
    assert code == 1
    assert stdout.splitlines() == [
        "seq 2: edited: the row's fields do not match its hash",
        "seq 5: tail_missing: the head is at seq 5 but the last row is seq 4",
    ]
    assert "2 problem(s), first bad seq 2" in stderr


def test_head_and_the_witness(store: Store) -> None:
    fill(store)
    code, stdout, _ = run(store, "head")
    witness = stdout.strip()
    seq, digest = audit.head(store.db)
    assert code == 0 and witness == f"{seq}:{digest}"
    assert run(store, "verify", "--witness", witness)[0] == 0
    code, stdout, _ = run(store, "verify", "--witness", f"3:{'a' * 64}")
    assert code == 1 and "seq 3: witness_mismatch" in stdout
    code, _, stderr = run(store, "verify", "--witness", "nonsense")
    assert code == 1 and "SEQ:HASH" in stderr


def test_list_filters_and_prints_json(store: Store) -> None:
    fill(store)
    code, stdout, _ = run(store, "list", "--subject", "case:1", "--json")
    assert code == 0
    rows = [json.loads(line) for line in stdout.splitlines()]
    assert [(r["seq"], r["kind"]) for r in rows] == [(3, "case.decided"), (5, "case.reopened")]
    assert all(len(r["hash"]) == 64 for r in rows)
    code, stdout, _ = run(store, "list", "--kind", "bank.updated", "--json")
    assert [json.loads(line)["detail"]["fields"] for line in stdout.splitlines()] == [
        {"description": "x"}
    ]
    code, stdout, _ = run(store, "list", "--limit", "2")
    assert code == 0 and "bank.created" in stdout and "case.decided" not in stdout
    code, _, _ = run(store, "list", "--limit", "0")
    assert code == 2  # typer refuses it as a usage error
