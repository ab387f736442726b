"""Database access: engines for SQLite and PostgreSQL, transactions, and migrations.

One writer at a time, on both backends:

1. SQLite runs in WAL mode; a write transaction starts with ``BEGIN IMMEDIATE``, so it takes the
   write lock up front (no deadlocking upgrade from a read lock) and waits ``busy_timeout`` for it.
2. PostgreSQL write transactions that touch the change log first take a transaction-scoped
   advisory lock. Writers therefore commit in the order they allocated change sequence numbers,
   and a reader that has seen ``seq = n`` can never later see a change with ``seq <= n`` commit
   (the classic trap of concurrent sequence allocation, where "after n" silently skips a change
   that commits late).

Reads never block and see a committed prefix of the change log.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine, make_url

from tessera.errors import StoreError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Arbitrary constant naming Tessera's change-log writer lock among PostgreSQL advisory locks.
CHANGELOG_LOCK_KEY = 0x7E55E7A0001
# The page size a new SQLite database is made with (see ``_sqlite_engine``).
SQLITE_PAGE_SIZE = 16384


def utcnow() -> datetime:
    """The current time, timezone-aware UTC, to the microsecond."""
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """Attach UTC to a naive timestamp read back from SQLite."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class Database:
    """An engine plus Tessera's transaction protocol for one store URL."""

    def __init__(
        self, url: str, *, busy_timeout_s: float = 30.0, schema: str | None = None
    ) -> None:
        self.url = make_url(url)
        self.dialect = self.url.get_backend_name()
        if self.dialect == "sqlite":
            self.engine = self._sqlite_engine(busy_timeout_s)
        elif self.dialect == "postgresql":
            if self.url.get_driver_name() in ("", "psycopg2"):
                self.url = self.url.set(drivername="postgresql+psycopg")
            args: dict[str, Any] = {}
            if schema:
                args["options"] = f"-csearch_path={schema}"
            self.engine = sa.create_engine(self.url, connect_args=args, pool_pre_ping=True)
        else:
            raise StoreError(f"unsupported database {self.dialect!r}: use sqlite or postgresql")

    def _sqlite_engine(self, busy_timeout_s: float) -> Engine:
        database = self.url.database
        if database and database != ":memory:":
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            self.url, connect_args={"timeout": busy_timeout_s, "check_same_thread": False}
        )

        @sa.event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is deferred-only).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            # Before WAL mode: a new database takes its page size from its first write (an existing
            # one keeps its own). 16 KiB pages make bulk writes cheaper than SQLite's 4 KiB
            # default: a full sync of 2M signals about a ninth faster (README, "Speed").
            cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
            cursor.close()

        @sa.event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            write = conn.get_execution_options().get("tessera_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (a consistent snapshot on PostgreSQL and SQLite WAL)."""
        with self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self, *, sqlite_cache_kib: int | None = None) -> Iterator[Connection]:
        """A write transaction; change-log appends inside it commit in sequence order.

        ``sqlite_cache_kib`` gives a large transaction's SQLite connection a page cache of that
        size until it ends (the default is 2 MiB: a big write spills its dirty pages to the WAL
        in mid-transaction and rewrites them there); the pooled connection gets its own size back.
        """
        with self.writer(sqlite_cache_kib=sqlite_cache_kib) as writer, writer.write() as conn:
            yield conn

    @contextmanager
    def writer(
        self, *, sqlite_cache_kib: int | None = None, sqlite_checkpoint_kib: int | None = None
    ) -> Iterator[Writer]:
        """One connection held for a run of write transactions (``Writer.write``), such as the
        pages of a bulk sync, so its SQLite page cache stays warm from one to the next.

        On SQLite, ``sqlite_cache_kib`` sizes that cache and ``sqlite_checkpoint_kib`` lets the
        WAL grow that large before a commit copies it into the database (the default, 1,000
        pages, copies the same hot index pages back again after nearly every big
        transaction). Both are the connection's own settings, put back when the run ends; the
        WAL is then checkpointed once (passively: readers are never waited for). Both are
        ignored on PostgreSQL.
        """
        with self.engine.connect().execution_options(tessera_write=True) as conn:
            # On the driver's connection: through SQLAlchemy a PRAGMA would begin a transaction
            # of its own (autobegin) before ours.
            raw: Any = conn.connection.dbapi_connection
            restore: dict[str, int] = {}
            if self.dialect == "sqlite":
                wanted: dict[str, int | None] = {"cache_size": None, "wal_autocheckpoint": None}
                if sqlite_cache_kib is not None:
                    wanted["cache_size"] = -int(sqlite_cache_kib)
                if sqlite_checkpoint_kib is not None:
                    page_size = int(raw.execute("PRAGMA page_size").fetchone()[0])
                    wanted["wal_autocheckpoint"] = max(1, sqlite_checkpoint_kib * 1024 // page_size)
                for pragma, value in wanted.items():
                    if value is not None:
                        restore[pragma] = int(raw.execute(f"PRAGMA {pragma}").fetchone()[0])
                        raw.execute(f"PRAGMA {pragma}={int(value)}")
            writer = Writer(self, conn)
            try:
                yield writer
            finally:
                writer.rollback()  # what the caller left open and uncommitted
                for pragma, value in restore.items():
                    raw.execute(f"PRAGMA {pragma}={value}")
                if "wal_autocheckpoint" in restore:
                    raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _alembic_config(self, conn: Connection) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        return cfg

    def migrate(self) -> None:
        """Bring the schema to the newest migration (idempotent)."""
        with self.engine.connect().execution_options(tessera_write=True) as conn:
            command.upgrade(self._alembic_config(conn), "head")
            conn.commit()

    def current_revision(self) -> str | None:
        """The schema revision the database is at, or None when it has none."""
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head_revision(self) -> str | None:
        """The newest migration this version of Tessera ships."""
        with self.engine.connect() as conn:
            return ScriptDirectory.from_config(self._alembic_config(conn)).get_current_head()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


class Writer:
    """A connection held for a run of write transactions (``Database.writer``): one at a time,
    either as a block (``write``) or opened and ended by the caller (``begin``, ``commit``,
    ``rollback``), for work that spans several steps, such as a group of sync pages."""

    def __init__(self, db: Database, conn: Connection) -> None:
        self.db = db
        self.conn = conn
        self._transaction: sa.RootTransaction | None = None

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction ``begin`` opened is still open."""
        return self._transaction is not None

    def begin(self) -> Connection:
        """Open a write transaction (as ``Database.write`` does) and return its connection."""
        if self._transaction is not None:
            raise StoreError("a transaction is already open on this writer")
        self._transaction = self.conn.begin()
        try:
            if self.db.dialect == "postgresql":
                self.conn.execute(
                    sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": CHANGELOG_LOCK_KEY}
                )
        except BaseException:
            self.rollback()
            raise
        return self.conn

    def commit(self) -> None:
        """Commit the open transaction (a no-op when none is open)."""
        transaction, self._transaction = self._transaction, None
        if transaction is not None:
            transaction.commit()

    def rollback(self) -> None:
        """Roll the open transaction back (a no-op when none is open)."""
        transaction, self._transaction = self._transaction, None
        if transaction is not None:
            transaction.rollback()

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction on the held connection, as ``Database.write`` gives."""
        conn = self.begin()
        try:
            yield conn
        except BaseException:
            self.rollback()
            raise
        self.commit()
