"""Reports over HTTP: the caller's transparency report and its DSA statements of reasons.

Scope ``review``; every route reports on the calling organisation only (another organisation's
case is answered as absent).

- ``GET /v1/reports/transparency?from=&to=&format=json|csv|html``: TCO Art. 7(3) figures for the
  period ``[from, to)``;
- ``GET /v1/cases/{case}/statement-of-reasons``: one case's statement in the EU DSA Transparency
  Database's schema (409 when the case restricted no content);
- ``GET /v1/reports/statements-of-reasons?from=&to=&format=jsonl|csv``: every restriction in the
  period.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response

from tessera.api.deps import NodeDep, ReviewOrg
from tessera.api.errors import ERROR_RESPONSES
from tessera.reports import Period, parse_period, sor
from tessera.reports.html import render_report
from tessera.reports.transparency import build_report, report_csv

router = APIRouter(prefix="/v1", tags=["reports"], responses=ERROR_RESPONSES)

_TEXT = {"schema": {"type": "string"}}
_SOR_SCHEMA = {k: v for k, v in sor.SOR_SCHEMA.items() if k != "$schema"}


class ReportFormat(StrEnum):
    """How the transparency report is returned."""

    JSON = "json"
    CSV = "csv"
    HTML = "html"


class SorFormat(StrEnum):
    """How statements of reasons are returned."""

    JSONL = "jsonl"
    CSV = "csv"


From = Annotated[
    str,
    Query(
        alias="from",
        min_length=1,
        max_length=40,
        description="Start of the period, included: YYYY-MM-DD (UTC) or an ISO 8601 time.",
        examples=["2026-01-01"],
    ),
]
To = Annotated[
    str,
    Query(
        alias="to",
        min_length=1,
        max_length=40,
        description="End of the period, not included: YYYY-MM-DD (UTC) or an ISO 8601 time.",
        examples=["2027-01-01"],
    ),
]


def _attachment(stem: str, org: str, period: Period, ext: str) -> dict[str, str]:
    name = f"{stem}-{org}-{period.start.date().isoformat()}-{period.end.date().isoformat()}"
    return {"Content-Disposition": f'attachment; filename="{name}.{ext}"'}


@router.get(
    "/reports/transparency",
    response_model=None,
    responses={
        200: {
            "description": "The report as JSON, CSV (section, metric, value) or an HTML page.",
            "content": {
                "application/json": {"schema": {"type": "object"}},
                "text/csv": _TEXT,
                "text/html": _TEXT,
            },
        }
    },
)
def transparency_report(
    node: NodeDep,
    who: ReviewOrg,
    start: From,
    end: To,
    fmt: Annotated[ReportFormat, Query(alias="format")] = ReportFormat.JSON,
) -> Response:
    """The caller's TCO Art. 7(3) transparency report for the period."""
    period = parse_period(start, end)
    report = build_report(node.store.db, who.org, period)
    if fmt is ReportFormat.HTML:
        return HTMLResponse(render_report(report))
    if fmt is ReportFormat.CSV:
        headers = _attachment("transparency", who.org, period, "csv")
        return Response(report_csv(report), media_type="text/csv", headers=headers)
    return JSONResponse(report.as_json())


@router.get(
    "/cases/{case}/statement-of-reasons",
    response_model=None,
    responses={
        200: {
            "description": "The statement, ready for the DSA Transparency Database API.",
            "content": {"application/json": {"schema": _SOR_SCHEMA}},
        }
    },
)
def case_statement(node: NodeDep, who: ReviewOrg, case: str) -> dict[str, Any]:
    """The DSA statement of reasons for the restriction of one of the caller's cases."""
    return sor.statement_for_case(node.store.db, who.org, case)


@router.get(
    "/reports/statements-of-reasons",
    response_model=None,
    responses={
        200: {
            "description": "One statement per restriction: JSON lines, or CSV with a header.",
            "content": {"application/x-ndjson": _TEXT, "text/csv": _TEXT},
        }
    },
)
def period_statements(
    node: NodeDep,
    who: ReviewOrg,
    start: From,
    end: To,
    fmt: Annotated[SorFormat, Query(alias="format")] = SorFormat.JSONL,
) -> Response:
    """The DSA statements of reasons for every restriction the caller applied in the period."""
    period = parse_period(start, end)
    found = list(sor.statements(node.store.db, who.org, period))
    headers = _attachment("statements-of-reasons", who.org, period, fmt.value)
    if fmt is SorFormat.CSV:
        return Response("".join(sor.as_csv(found)), media_type="text/csv", headers=headers)
    body = "".join(sor.as_jsonl(found))
    return Response(body, media_type="application/x-ndjson", headers=headers)
