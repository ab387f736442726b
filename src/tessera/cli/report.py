"""`tessera report ...`: the transparency report and the DSA statements of reasons.

``transparency`` prints (or writes with ``--out``) an organisation's TCO Art. 7(3) figures for a
period ``[--from, --to)`` as JSON, CSV or a self-contained HTML page with charts. ``sor`` exports
statements of reasons in the EU DSA Transparency Database's schema: one case's (``--case``), or
every restriction in a period, as JSON lines or CSV.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from tessera.cli.context import STATE, DbOption, err, reports_errors
from tessera.errors import InputError
from tessera.reports import parse_period, sor
from tessera.reports.html import render_report
from tessera.reports.transparency import build_report, report_csv
from tessera.store.orgs import OrgStore

app = typer.Typer(help="Transparency reports and DSA statements of reasons.", no_args_is_help=True)


class ReportFormat(StrEnum):
    """How the transparency report is written."""

    JSON = "json"
    CSV = "csv"
    HTML = "html"


class SorFormat(StrEnum):
    """How statements of reasons are written."""

    JSONL = "jsonl"
    CSV = "csv"


OrgOption = Annotated[
    str, typer.Option("--org", help="The organisation the report is about.", show_default=False)
]
FromOption = Annotated[
    str | None, typer.Option("--from", help="Start of the period (YYYY-MM-DD, UTC), included.")
]
ToOption = Annotated[
    str | None, typer.Option("--to", help="End of the period (YYYY-MM-DD, UTC), not included.")
]
OutOption = Annotated[
    Path | None, typer.Option("--out", help="Write to this file instead of standard output.")
]


def _emit(chunks: Iterable[str], out: Path | None) -> None:
    """Write the chunks to ``out`` (UTF-8), or to standard output."""
    if out is None:
        for chunk in chunks:
            sys.stdout.write(chunk)
        sys.stdout.flush()
        return
    try:
        with out.open("w", encoding="utf-8", newline="") as f:
            for chunk in chunks:
                f.write(chunk)
    except OSError as e:
        raise InputError(f"cannot write {out}: {e.strerror or e}") from None
    err.print(f"wrote {out}", markup=False, highlight=False)


@app.command("transparency")
@reports_errors
def transparency(
    org: OrgOption,
    start: FromOption = None,
    end: ToOption = None,
    fmt: Annotated[
        ReportFormat, typer.Option("--format", help="json, csv or html (with charts).")
    ] = ReportFormat.JSON,
    out: OutOption = None,
    db_url: DbOption = None,
) -> None:
    """The organisation's TCO Art. 7(3) transparency report for a period."""
    period = parse_period(start, end)
    store = STATE.store(db_url)
    OrgStore(store.db).get_org(org)
    report = build_report(store.db, org, period)
    if fmt is ReportFormat.HTML:
        text = render_report(report)
    elif fmt is ReportFormat.CSV:
        text = report_csv(report)
    else:
        text = json.dumps(report.as_json(), indent=2, ensure_ascii=False) + "\n"
    _emit([text], out)


@app.command("sor")
@reports_errors
def statements_of_reasons(
    org: OrgOption,
    case: Annotated[
        str | None, typer.Option("--case", help="Only this case's statement (its uuid).")
    ] = None,
    start: FromOption = None,
    end: ToOption = None,
    fmt: Annotated[
        SorFormat, typer.Option("--format", help="jsonl (one statement a line) or csv.")
    ] = SorFormat.JSONL,
    out: OutOption = None,
    db_url: DbOption = None,
) -> None:
    """DSA statements of reasons, in the EU Transparency Database's schema."""
    if case is not None and (start is not None or end is not None):
        raise InputError("give either --case or a period (--from and --to), not both")
    if case is None and (start is None or end is None):
        raise InputError("give --case UUID, or a period with both --from and --to")
    store = STATE.store(db_url)
    OrgStore(store.db).get_org(org)
    if case is not None:
        found: Iterable[dict[str, Any]] = [sor.statement_for_case(store.db, org, case)]
    else:
        found = sor.statements(store.db, org, parse_period(start, end))
    chunks = sor.as_csv(found) if fmt is SorFormat.CSV else sor.as_jsonl(found)
    _emit(chunks, out)
