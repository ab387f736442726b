"""The write transaction's options: a large SQLite page cache for one transaction, or for a run of
transactions on one held connection (``Database.writer``), and a WAL checkpointed less often."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import sqlalchemy as sa

from tessera.store import Database
from tessera.store.db import SQLITE_PAGE_SIZE
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


def _add_bank(conn: sa.Connection, n: int) -> None:
    conn.execute(
        banks.insert().values(
            uuid=f"00000000-0000-0000-0000-{n:012d}",
            name=f"b{n}",
            owner_org="o",
            distribution="members",
            created_at=sa.func.now(),
            updated_at=sa.func.now(),
            origin_node="n",
            labels=[],
            thresholds={},
        )
    )


def _pragma(conn: sa.Connection, name: str) -> int:
    return int(conn.exec_driver_sql(f"PRAGMA {name}").scalar_one())


def test_a_writer_holds_one_connection_with_its_settings_for_every_transaction(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    db.migrate()
    before, _ = _cache_size(db)
    with db.writer(sqlite_cache_kib=65536, sqlite_checkpoint_kib=800_000) as writer:
        seen = []
        for n in range(3):
            with writer.write() as conn:
                seen.append(conn.connection.dbapi_connection)
                assert _pragma(conn, "cache_size") == -65536
                # 800,000 KiB of the new database's 16 KiB pages.
                assert _pragma(conn, "page_size") == SQLITE_PAGE_SIZE == 16384
                assert _pragma(conn, "wal_autocheckpoint") == 50_000
                _add_bank(conn, n)
        assert seen[0] is seen[1] is seen[2]
        # A read meanwhile gets another connection, with the default settings.
        with db.read() as other:
            assert other.connection.dbapi_connection is not seen[0]
            assert _pragma(other, "cache_size") == before
    # Each transaction committed; the held connection gets its own settings back.
    with db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(banks)).scalar_one() == 3
    held = seen[0]
    assert int(held.execute("PRAGMA cache_size").fetchone()[0]) == before
    assert int(held.execute("PRAGMA wal_autocheckpoint").fetchone()[0]) == 1000
    db.dispose()


def test_an_existing_database_keeps_its_page_size(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    old = sqlite3.connect(path)
    old.execute("PRAGMA page_size=4096")
    old.execute("CREATE TABLE kept (x INTEGER)")
    old.commit()
    old.close()
    db = Database(f"sqlite:///{path}")
    db.migrate()
    with db.writer(sqlite_checkpoint_kib=800_000) as writer, writer.write() as conn:
        assert _pragma(conn, "page_size") == 4096
        assert _pragma(conn, "wal_autocheckpoint") == 200_000
        _add_bank(conn, 1)
    db.dispose()


def test_a_failed_transaction_of_a_writer_rolls_back_alone(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    db.migrate()
    with db.writer(sqlite_cache_kib=32768) as writer:
        try:
            with writer.write() as conn:
                _add_bank(conn, 9)
                raise RuntimeError("boom")
        except RuntimeError:
            pass
        with writer.write() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(banks)).scalar_one() == 0
    db.dispose()


def test_a_writer_on_postgresql_ignores_the_sqlite_settings(
    postgres_url: str, pg_schema: str
) -> None:
    db = Database(postgres_url, schema=pg_schema)
    db.migrate()
    with db.writer(sqlite_cache_kib=65536, sqlite_checkpoint_kib=800_000) as writer:
        for _ in range(2):
            with writer.write() as conn:
                assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
    db.dispose()
