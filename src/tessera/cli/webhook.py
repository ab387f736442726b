"""`tessera webhook ...` and `tessera actions ...`: an organisation's endpoint and its deliveries.

``webhook set --org ORG URL`` gives the organisation's platform endpoint a new signing secret,
printed once, alone on stdout (``SECRET=$(tessera webhook set ...)`` works). ``actions list``
shows the queue and the dead-letter list (``--state dead``), ``actions retry`` sends a dead action
again, and ``actions deliver`` runs one delivery pass now (``tessera serve`` runs them itself).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from tessera.cli.context import STATE, DbOption, err, out, reports_errors
from tessera.cli.webhook_receiver import receive
from tessera.review import actions as action_service
from tessera.review.delivery import deliver_due

app = typer.Typer(help="An organisation's webhook endpoint for actions.", no_args_is_help=True)
actions_app = typer.Typer(help="Actions queued for webhooks: list, retry, deliver.")

OrgOption = Annotated[str, typer.Option("--org", help="The organisation.")]
app.command("receive")(receive)


@app.command("set")
@reports_errors
def set_webhook(
    org: OrgOption,
    url: Annotated[str, typer.Argument(help="The endpoint, e.g. https://platform.example/hook.")],
    db_url: DbOption = None,
) -> None:
    """Set the organisation's endpoint with a new secret; the secret is printed once."""
    secret = action_service.set_webhook(STATE.store(db_url).db, org, url, actor="cli")
    err.print(f"webhook of {org} set to {url}; its signing secret, shown once:", markup=False)
    out.print(secret, markup=False, highlight=False)


@app.command("show")
@reports_errors
def show_webhook(org: OrgOption, db_url: DbOption = None) -> None:
    """The organisation's endpoint and whether it is enabled (never its secret)."""
    hook = action_service.get_webhook(STATE.store(db_url).db, org)
    if hook is None:
        out.print(f"{org} has no webhook; set one with `tessera webhook set --org {org} URL`")
        return
    state = "enabled" if hook.enabled else "disabled"
    when = hook.updated_at.isoformat(timespec="seconds")
    out.print(f"{hook.url}  ({state}, set {when})", markup=False)


@app.command("disable")
@reports_errors
def disable_webhook(org: OrgOption, db_url: DbOption = None) -> None:
    """Stop deliveries to the endpoint; actions wait, pending, until one is set again."""
    hook = action_service.disable_webhook(STATE.store(db_url).db, org, actor="cli")
    out.print(f"webhook of {org} ({hook.url}) disabled; its actions wait until one is set")


@actions_app.command("list")
@reports_errors
def list_actions(
    org: OrgOption,
    state: Annotated[
        str | None,
        typer.Option("--state", help="Only pending, delivered, dead (dead letters) or shadow."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per action.")] = False,
    db_url: DbOption = None,
) -> None:
    """The organisation's actions, newest first."""
    found = action_service.list_actions(STATE.store(db_url).db, org, state=state, limit=limit)
    if as_json:
        for action in found:
            out.print(json.dumps(action.as_json()), markup=False, highlight=False)
        return
    table = Table(title_justify="left")
    table.add_column("id", no_wrap=True, min_width=36)  # whole, to copy into `actions retry`
    for column in ("kind", "content", "state", "attempts", "next attempt", "last error"):
        table.add_column(column)
    for a in found:
        next_at = a.next_attempt_at.isoformat(timespec="seconds") if a.next_attempt_at else ""
        table.add_row(
            a.uuid, a.kind, a.content_ref, a.state.value, str(a.attempts), next_at, a.last_error
        )
    out.print(table)


@actions_app.command("retry")
@reports_errors
def retry(
    org: OrgOption,
    uuid: Annotated[str, typer.Argument(help="The dead action's id.")],
    db_url: DbOption = None,
) -> None:
    """Send a dead action again (same id, attempts reset)."""
    action = action_service.retry(STATE.store(db_url).db, org, uuid, actor="cli")
    out.print(f"action {action.uuid} ({action.kind}) is pending again")


@actions_app.command("deliver")
@reports_errors
def deliver(db_url: DbOption = None) -> None:
    """Run one delivery pass now: send every due action once."""
    counts = deliver_due(STATE.store(db_url).db, STATE.settings(db_url))
    out.print(f"delivered {counts.delivered}, failed {counts.failed} (of which dead {counts.dead})")
