"""Cheap probes of a SQLite store: has anything been committed since I last looked?

Caches of what the store holds (signal owners, tokens) ask before each use. SQLite's
``PRAGMA data_version``, read on a connection of the probe's own, changes whenever any other
connection of any process commits: a few microseconds, no write, no lock held. PostgreSQL and
in-memory SQLite have no probe (``ChangeProbe.of`` gives None); their caches fall back to time.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from tessera.store.db import Database
from tessera.store.tables import changes


class ChangeProbe:
    """Whether a SQLite store changed (``commits``) and its newest change-log sequence number
    (``version``), cheap enough for every request."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._data_version: int | None = None
        self._seq = 0
        self._lock = threading.Lock()

    @classmethod
    def of(cls, db: Database) -> ChangeProbe | None:
        """A probe of ``db``; None when it has none (not a SQLite file)."""
        name = db.url.database
        if db.dialect != "sqlite" or not name or name == ":memory:" or name.startswith("file:"):
            return None
        return cls(Path(name).expanduser().resolve())

    def commits(self) -> int | None:
        """A number that changes whenever any connection, of any process, commits to the
        database (SQLite's ``data_version``, read on the probe's own connection); None when it
        cannot be read now."""
        with self._lock:
            try:
                return int(self._connection().execute("PRAGMA data_version").fetchone()[0])
            except sqlite3.Error:
                self._close()  # reopened at the next probe
                return None

    def version(self) -> int | None:
        """The newest committed sequence number; None when it cannot be read now."""
        with self._lock:
            try:
                return self._read()
            except sqlite3.Error:
                self._close()  # reopened at the next probe
                return None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = sqlite3.connect(
                f"{self.path.as_uri()}?mode=ro",
                uri=True,
                timeout=0.05,  # an event loop asks: give up rather than wait
                isolation_level=None,
                check_same_thread=False,
            )
            self._data_version = None
        return self._conn

    def _read(self) -> int:
        conn = self._connection()
        # data_version first: a commit between the two reads changes it again, so it is seen.
        data_version = conn.execute("PRAGMA data_version").fetchone()[0]
        if data_version != self._data_version:
            row = conn.execute(f"SELECT max(seq) FROM {changes.name}").fetchone()
            self._seq = int(row[0] or 0)
            self._data_version = data_version
        return self._seq

    def close(self) -> None:
        """Close the probe's connection (a later probe opens it again)."""
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
