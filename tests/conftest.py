"""Shared fixtures: reference media from ../shared/data, and the two stores (SQLite, PostgreSQL)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("TESSERA_SHARED_DATA", ROOT.parent / "shared" / "data"))
IN_CI = os.environ.get("CI", "").lower() == "true"


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
