"""The migrations build exactly the schema the models describe (tables, columns, types,
nullability, indexes, unique constraints), on SQLite and PostgreSQL."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import tessera.store
from tessera.store import Store
from tessera.store.tables import metadata


def _import_table_modules() -> None:
    """Import every module of ``tessera.store`` (but the migrations): each registers its tables."""
    for module in pkgutil.iter_modules(tessera.store.__path__, "tessera.store."):
        if not module.name.endswith(".migrations"):
            importlib.import_module(module.name)


def _include(_obj: Any, name: str | None, type_: str, reflected: bool, _compare_to: Any) -> bool:
    # Alembic's own bookkeeping table is not a model.
    return not (type_ == "table" and name == "alembic_version" and reflected)


def test_the_migrated_schema_matches_the_models(store: Store) -> None:
    _import_table_modules()
    with store.db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "compare_server_default": False,
                "include_object": _include,
            },
        )
        diff = compare_metadata(context, metadata)
    assert diff == [], "\n".join(repr(d) for d in diff)
