"""`tessera db ...`: schema migrations and a look at the change log."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from tessera.cli.context import STATE, DbOption, out, reports_errors
from tessera.store import Database

app = typer.Typer(help="Schema migrations and the change log.", no_args_is_help=True)


@app.command("upgrade")
@reports_errors
def upgrade(db_url: DbOption = None) -> None:
    """Apply pending schema migrations."""
    settings = STATE.settings(db_url)
    db = Database(settings.resolved_database_url())
    db.migrate()
    out.print(f"schema at {db.current_revision()}")


@app.command("status")
@reports_errors
def status(db_url: DbOption = None) -> None:
    """Show the schema revision and the change log's position."""
    settings = STATE.settings(db_url)
    db = Database(settings.resolved_database_url())
    current, head = db.current_revision(), db.head_revision()
    out.print(f"store: {settings.resolved_database_url()}")
    out.print(f"schema: {current or 'empty'} (newest: {head})")
    if current == head:
        out.print(f"change log: at sequence {STATE.store(db_url).latest_seq()}")


@app.command("changes")
@reports_errors
def changes(
    after: Annotated[int, typer.Option(min=0, help="Show changes after this sequence.")] = 0,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many.")] = 100,
    db_url: DbOption = None,
) -> None:
    """Print change-log records after a sequence number, one JSON object per line."""
    for c in STATE.store(db_url).changes_after(after, limit):
        record = {
            "seq": c.seq,
            "created_at": c.created_at.isoformat(),
            "kind": c.kind.value,
            "bank": c.bank_uuid,
            "entry": c.entry_uuid,
            "payload": c.payload,
        }
        out.print(json.dumps(record), markup=False, highlight=False)
