"""Migrations: every revision upgrades a store holding data, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import command

from tessera.signals.base import Signal
from tessera.store import Database, Store
from tessera.store.records import NewEntry


def test_value_keys_are_backfilled_when_upgrading_from_the_core_schema(
    database_url: tuple[str, str | None],
) -> None:
    url, schema = database_url
    db = Database(url, schema=schema)
    try:
        with db.engine.connect().execution_options(tessera_write=True) as conn:
            command.upgrade(db._alembic_config(conn), "0001_core")
            conn.commit()
        with db.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO banks (uuid, name, description, owner_org, labels, "
                    "inclusion_criterion, distribution, thresholds, enabled, created_at, "
                    "updated_at) VALUES ('b-uuid', 'old', '', 'o', '[]', '', 'owner', '{}', "
                    "TRUE, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO entries (uuid, bank_id, labels, inclusion_criterion, status, "
                    "created_by, created_at, updated_at, source, note) SELECT 'e-uuid', id, "
                    "'[]', '', 'active', 'o', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, '', '' "
                    "FROM banks"
                )
            )
            conn.execute(
                sa.text(
                    "INSERT INTO signals (entry_id, bank_id, signal_type, value) "
                    "SELECT e.id, e.bank_id, 'md5', :v FROM entries e"
                ),
                {"v": "ab" * 16},
            )
        db.migrate()
        with db.read() as conn:
            key = conn.execute(sa.text("SELECT value_key FROM signals")).scalar_one()
        assert key == hashlib.sha256(("ab" * 16).encode()).hexdigest()
        assert db.current_revision() == db.head_revision()
    finally:
        db.dispose()


def test_signal_values_of_any_length_are_stored_and_deduplicated(store: Store) -> None:
    store.create_bank("videos")
    long_value = "frame," * 200_000  # 1.2 MB: far over a PostgreSQL b-tree row
    entry = NewEntry(signals=(Signal("vpdq", long_value),))
    first = store.add_entries("videos", [entry])
    again = store.add_entries("videos", [entry])
    assert len(first.added) == 1 and len(again.duplicates) == 1
    assert store.get_entry("videos", first.added[0].uuid).signals[0].value == long_value
