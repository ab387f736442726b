"""Alembic environment: runs migrations on the connection Tessera hands over (never a new URL)."""

from __future__ import annotations

from alembic import context

from tessera.store import review_tables as _review_tables  # noqa: F401  (registers them)
from tessera.store import scan_tables as _scan_tables  # noqa: F401  (registers them)
from tessera.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError(
        "run migrations through tessera.store.db.migrate(), which passes a connection"
    )

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
