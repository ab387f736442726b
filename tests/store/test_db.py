"""The write transaction's options: a large SQLite page cache for one transaction only."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from tessera.store import Database
from tessera.store.tables import banks


def _cache_size(db: Database) -> tuple[int, object]:
    """The cache size of the connection a read gets, and that connection."""
    with db.read() as conn:
        raw = conn.connection.dbapi_connection
        return int(conn.exec_driver_sql("PRAGMA cache_size").scalar_one()), raw


def test_a_write_gets_its_cache_and_the_pooled_connection_gets_its_own_back(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    db.migrate()
    before, first = _cache_size(db)
    with db.write(sqlite_cache_kib=65536) as conn:
        # Used one after another, the pool hands out the same connection.
        assert conn.connection.dbapi_connection is first
        assert int(conn.exec_driver_sql("PRAGMA cache_size").scalar_one()) == -65536
        conn.execute(sa.select(banks.c.id)).all()
    after, again = _cache_size(db)
    assert again is first
    assert after == before != -65536
    db.dispose()


def test_a_failed_write_still_restores_the_cache(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    db.migrate()
    before, _ = _cache_size(db)
    try:
        with db.write(sqlite_cache_kib=32768):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert _cache_size(db)[0] == before
    db.dispose()


def test_the_option_is_ignored_on_postgresql(postgres_url: str, pg_schema: str) -> None:
    db = Database(postgres_url, schema=pg_schema)
    with db.write(sqlite_cache_kib=65536) as conn:
        assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
    db.dispose()
