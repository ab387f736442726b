"""The 0006_scan migration creates exactly the live scan tables, and downgrades cleanly."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from tessera.store import Store
from tessera.store.scan_tables import kept_signals, retro_cursors, scan_items, scan_jobs

SCAN_TABLES = {t.name for t in (scan_jobs, scan_items, kept_signals, retro_cursors)}


def _mentions_scan_table(diff: object) -> bool:
    parts = diff if isinstance(diff, list) else [diff]
    for part in parts:
        for value in part if isinstance(part, tuple) else (part,):
            table = getattr(value, "table", value)
            if getattr(table, "name", None) in SCAN_TABLES or value in SCAN_TABLES:
                return True
    return False


def test_migration_matches_the_live_tables(store: Store) -> None:
    with store.db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diffs = compare_metadata(context, scan_jobs.metadata)
    assert [d for d in diffs if _mentions_scan_table(d)] == []


def test_downgrade_and_upgrade_again(store: Store) -> None:
    with store.db.engine.connect().execution_options(tessera_write=True) as conn:
        command.downgrade(store.db._alembic_config(conn), "0005_review")
        conn.commit()
    with store.db.engine.connect() as conn:
        names = set(sa.inspect(conn).get_table_names())
    assert not names & SCAN_TABLES
    store.db.migrate()
    with store.db.engine.connect() as conn:
        assert SCAN_TABLES <= set(sa.inspect(conn).get_table_names())
