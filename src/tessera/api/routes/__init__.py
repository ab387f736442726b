"""The API's routes, one module per concern; ``ROUTERS`` lists them for the app factory."""

from __future__ import annotations

from tessera.api.routes import (
    actions,
    admin,
    banks,
    cases,
    changes,
    entries,
    hashing,
    health,
    matching,
    opinions,
    orders,
    reports,
)

ROUTERS = [
    health.router,
    hashing.router,
    matching.router,
    banks.router,
    entries.router,
    opinions.router,
    admin.router,
    changes.router,
    cases.router,
    actions.router,
    reports.router,
    orders.router,
]
