"""`tessera serve`: run the HTTP node (uvicorn) on the configured store.

On a store with no organisations, the first start admits ``node_org`` as coordinator and prints
the command that issues its first token; no secret is ever printed or logged here.
"""

from __future__ import annotations

import shlex
from typing import Annotated

import typer
import uvicorn

from tessera.api import create_app
from tessera.cli.context import STATE, DbOption, err, reports_errors
from tessera.services.orgs import ensure_node_org
from tessera.settings import load_settings
from tessera.store.orgs import OrgStore


def first_token_hint(org: str, db_url: str | None) -> str:
    """The command that issues a first (coordinator) token."""
    db = f" --db {shlex.quote(db_url)}" if db_url else ""
    scopes = " ".join(f"--scope {s}" for s in ("admin", "match", "contribute", "review", "sync"))
    return f"tessera{db} token create --org {shlex.quote(org)} {scopes}"


@reports_errors
def serve(
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on (setting host).")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", min=0, max=65535, help="Port (setting port).")
    ] = None,
    db_url: DbOption = None,
) -> None:
    """Run the HTTP node: the API under /v1, OpenAPI at /docs, /healthz, /readyz, /metrics."""
    settings = load_settings(database_url=db_url or STATE.db_url, host=host, port=port)
    store = STATE.store(db_url)
    orgs = OrgStore(store.db)
    created = ensure_node_org(orgs, settings.node_org)
    if created is not None:
        err.print(f"admitted this node's organisation {created.name!r} as coordinator")
    if not any(t.revoked_at is None for t in orgs.list_tokens()):
        owner = next((o.name for o in orgs.list_orgs() if o.tier.value == "coordinator"), None)
        err.print("no API token exists yet; issue one with:", markup=False)
        err.print(f"  {first_token_hint(owner or settings.node_org, db_url or STATE.db_url)}")
    app = create_app(settings, store=store)
    err.print(f"Tessera node on http://{settings.host}:{settings.port}  (API docs: /docs)")
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", access_log=False)
