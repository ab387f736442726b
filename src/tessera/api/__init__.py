"""The HTTP API: the FastAPI app factory, its routes, and errors mapped to JSON in one place."""

from __future__ import annotations

from tessera.api.app import create_app
from tessera.api.deps import Node

__all__ = ["Node", "create_app"]
