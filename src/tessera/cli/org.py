"""`tessera org ...`: admit organisations to this node and list them."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tessera.cli.context import STATE, DbOption, out, reports_errors
from tessera.services import orgs as org_service
from tessera.store.orgs import OrgStore

app = typer.Typer(help="Organisations and their tiers.", no_args_is_help=True)


@app.command("create")
@reports_errors
def create(
    name: Annotated[str, typer.Argument(help="The organisation's name (letters, digits, _.-).")],
    tier: Annotated[
        str, typer.Option("--tier", help="coordinator, member, observer or partner.")
    ] = "member",
    db_url: DbOption = None,
) -> None:
    """Admit an organisation with a tier."""
    org = org_service.create_org(OrgStore(STATE.store(db_url).db), name, tier)
    out.print(f"created organisation {org.name} ({org.tier.value})")


@app.command("list")
@reports_errors
def list_orgs(db_url: DbOption = None) -> None:
    """Organisations with their tiers, sharing groups and active token counts."""
    orgs = OrgStore(STATE.store(db_url).db)
    groups = orgs.list_groups()
    table = Table(title_justify="left")
    for column in ("organisation", "tier", "groups", "tokens", "created"):
        table.add_column(column)
    for org in orgs.list_orgs():
        live = [t for t in orgs.list_tokens(org.name) if t.revoked_at is None]
        member_of = ", ".join(g for g, members in groups.items() if org.name in members)
        table.add_row(
            org.name, org.tier.value, member_of, str(len(live)), org.created_at.date().isoformat()
        )
    out.print(table)
