"""The store: SQLAlchemy tables, Alembic migrations and the repository (SQLite or PostgreSQL)."""

from __future__ import annotations

from tessera.settings import Settings
from tessera.store import review_tables as review_tables  # registers the review tables
from tessera.store import scan_tables as scan_tables  # registers the scan tables
from tessera.store.db import Database
from tessera.store.repository import AddResult, Store

__all__ = ["AddResult", "Database", "Store", "open_store"]


def open_store(settings: Settings, *, schema: str | None = None) -> Store:
    """Open the configured store, applying migrations first when ``auto_migrate`` is on."""
    db = Database(
        settings.resolved_database_url(),
        busy_timeout_s=settings.sqlite_busy_timeout_s,
        schema=schema,
    )
    if settings.auto_migrate:
        db.migrate()
    return Store(db, node_org=settings.node_org)
