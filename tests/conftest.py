"""Shared fixtures: reference media from ../shared/data, and the two stores (SQLite, PostgreSQL)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from tessera.store import Database, Store

# Timing is for benchmarks: on a loaded 2-core machine a per-example deadline only makes flakes.
hypothesis_settings.register_profile("tessera", deadline=None)
hypothesis_settings.load_profile("tessera")

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("TESSERA_SHARED_DATA", ROOT.parent / "shared" / "data"))
IN_CI = os.environ.get("CI", "").lower() == "true"
# The suite's webhook receivers listen on loopback, which a node refuses by default; tests that
# check the refusal pass webhook_allow_cidrs=[] themselves.
os.environ.setdefault("TESSERA_WEBHOOK_ALLOW_CIDRS", '["127.0.0.0/8", "::1/128"]')


def require_shared_data() -> Path:
    """The reference media folder; skips the test when absent (fails under CI=true)."""
    if not SHARED_DATA.is_dir():
        message = (
            f"reference media not found at {SHARED_DATA} (clone ../shared beside the project, "
            "or set TESSERA_SHARED_DATA)"
        )
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return SHARED_DATA


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data (real reference media)."""
    return require_shared_data()


# -- stores --------------------------------------------------------------------------------------

POSTGRES_URL = os.environ.get(
    "TESSERA_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_reachable() -> str | None:
    """None when PostgreSQL answers, else the reason it does not."""
    import sqlalchemy as sa

    engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as e:  # any failure to reach it is reported, not raised
        return f"{type(e).__name__}: {e}".splitlines()[0]
    finally:
        engine.dispose()
    return None


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The PostgreSQL test server's URL; skips when unreachable (fails under CI=true)."""
    reason = _postgres_reachable()
    if reason is not None:
        message = f"PostgreSQL not reachable at {POSTGRES_URL}: {reason}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return POSTGRES_URL


@pytest.fixture
def pg_schema(postgres_url: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL schema for one test, dropped afterwards."""
    import sqlalchemy as sa

    name = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    try:
        yield name
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, str | None]]:
    """(URL, schema) of an empty store, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tessera.db'}", None
    else:
        schema = request.getfixturevalue("pg_schema")
        yield request.getfixturevalue("postgres_url"), schema


@pytest.fixture
def store(database_url: tuple[str, str | None]) -> Iterator[Store]:
    """A migrated, empty store on each backend."""
    url, schema = database_url
    db = Database(url, schema=schema)
    db.migrate()
    try:
        yield Store(db, node_org="test-org")
    finally:
        db.dispose()
