"""`tessera audit ...`: check the hash-chained audit log, list its records, show its head.

``verify`` reads the whole chain (in pages) and exits 0 with ``ok: N records, head <hash>`` when
it is intact, or 1 with one line per problem. ``head`` prints the newest seq and hash, for an
outside witness to keep; ``verify --witness SEQ:HASH`` checks the chain still holds it.
"""

from __future__ import annotations

import json
import re
from typing import Annotated

import typer
from rich.table import Table

from tessera.cli.context import STATE, DbOption, fail, out, reports_errors
from tessera.errors import InputError
from tessera.review import audit

app = typer.Typer(help="The hash-chained audit log.", no_args_is_help=True)

_WITNESS = re.compile(r"^(\d+):([0-9a-f]{64})$")


def _witness(value: str | None) -> tuple[int, str] | None:
    if value is None:
        return None
    found = _WITNESS.match(value.strip().lower())
    if found is None:
        raise InputError(f"--witness must be SEQ:HASH (64 hex digits), got {value!r}")
    return int(found.group(1)), found.group(2)


@app.command("verify")
@reports_errors
def verify(
    witness: Annotated[
        str | None,
        typer.Option("--witness", help="SEQ:HASH from an earlier `tessera audit head`."),
    ] = None,
    db_url: DbOption = None,
) -> None:
    """Check every record's hash and link and the head; exit 1 naming each problem."""
    expected = _witness(witness)
    report = audit.verify(STATE.store(db_url).db, witness=expected)
    if report.ok:
        out.print(f"ok: {report.records} records, head {report.last_hash}", markup=False)
        return
    for problem in report.problems:
        out.print(str(problem), markup=False, highlight=False)
    more = report.problem_count - len(report.problems)
    if more:
        out.print(f"... and {more} more problems", markup=False)
    first = report.first_bad_seq
    at = f", first bad seq {first}" if first is not None else ""
    raise fail(f"the audit log has been tampered with: {report.problem_count} problem(s){at}")


@app.command("list")
@reports_errors
def list_records(
    subject: Annotated[
        str | None, typer.Option("--subject", help="Only this subject (bank:<name>, ...).")
    ] = None,
    kind: Annotated[
        str | None, typer.Option("--kind", help="Only this kind (bank.created, ...).")
    ] = None,
    org: Annotated[str | None, typer.Option("--org", help="Only this organisation's.")] = None,
    after: Annotated[int, typer.Option("--after", min=0, help="Only records after this seq.")] = 0,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=audit.MAX_LIST, help="At most this many.")
    ] = 100,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per record.")] = False,
    db_url: DbOption = None,
) -> None:
    """Records oldest first, optionally filtered by subject, kind or organisation."""
    records = audit.list_records(
        STATE.store(db_url).db, subject=subject, kind=kind, org=org, after=after, limit=limit
    )
    if as_json:
        for r in records:
            out.print(json.dumps(r.as_json(), ensure_ascii=False), markup=False, highlight=False)
        return
    table = Table(title_justify="left")
    for column in ("seq", "time", "org", "actor", "kind", "subject", "detail"):
        table.add_column(column)
    for r in records:
        table.add_row(
            str(r.seq),
            r.created_at.isoformat(timespec="seconds"),
            r.org,
            r.actor,
            r.kind,
            r.subject,
            json.dumps(r.detail, ensure_ascii=False, sort_keys=True),
        )
    out.print(table)


@app.command("head")
@reports_errors
def head(db_url: DbOption = None) -> None:
    """Print the newest record's seq and hash as SEQ:HASH (for an outside witness)."""
    seq, digest = audit.head(STATE.store(db_url).db)
    out.print(f"{seq}:{digest}", markup=False, highlight=False)
