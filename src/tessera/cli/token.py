"""`tessera token ...`: issue, list and revoke the API tokens of organisations.

A new token is printed once, alone on stdout (so ``TOKEN=$(tessera token create ...)`` works);
only its prefix and a hash are stored.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tessera.cli.context import STATE, DbOption, err, out, reports_errors
from tessera.services import orgs as org_service
from tessera.store.orgs import OrgStore

app = typer.Typer(help="API tokens of organisations.", no_args_is_help=True)


@app.command("create")
@reports_errors
def create(
    org: Annotated[str, typer.Option("--org", help="The organisation the token acts for.")],
    scope: Annotated[
        list[str],
        typer.Option(
            "--scope", help="match, contribute, review, sync or admin (repeatable; tier caps)."
        ),
    ],
    note: Annotated[str, typer.Option("--note", help="What the token is for.")] = "",
    db_url: DbOption = None,
) -> None:
    """Issue a token; it is printed once and cannot be shown again."""
    issued = org_service.issue_token(OrgStore(STATE.store(db_url).db), org, scope, note)
    scopes = ", ".join(s.value for s in issued.info.scopes)
    err.print(f"token {issued.info.prefix} for {org} ({scopes}); shown once, store it safely:")
    out.print(issued.secret, markup=False, highlight=False)


@app.command("list")
@reports_errors
def list_tokens(
    org: Annotated[str | None, typer.Option("--org", help="Only this organisation's.")] = None,
    db_url: DbOption = None,
) -> None:
    """Tokens by prefix, with organisation, scopes and state (never the secrets)."""
    table = Table(title_justify="left")
    for column in ("prefix", "organisation", "scopes", "note", "created", "last used", "state"):
        table.add_column(column)
    for t in OrgStore(STATE.store(db_url).db).list_tokens(org):
        table.add_row(
            t.prefix,
            t.org,
            ", ".join(s.value for s in t.scopes),
            t.note,
            t.created_at.isoformat(timespec="seconds"),
            t.last_used_at.isoformat(timespec="seconds") if t.last_used_at else "",
            "revoked" if t.revoked_at else "active",
        )
    out.print(table)


@app.command("revoke")
@reports_errors
def revoke(
    prefix: Annotated[str, typer.Argument(help="The token's prefix (or the whole token).")],
    db_url: DbOption = None,
) -> None:
    """Revoke a token for good."""
    match = org_service.TOKEN.match(prefix)
    info = OrgStore(STATE.store(db_url).db).revoke_token(match.group(1) if match else prefix)
    out.print(f"revoked token {info.prefix} of {info.org}")
