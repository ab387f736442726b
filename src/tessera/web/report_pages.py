"""The reports page: the organisation's transparency report and its statements of reasons.

Scope ``review``; every report covers the signed-in organisation only, as the API's
``/v1/reports`` routes do (they take a bearer token, so the pages serve the same reports through
the session instead):

1. ``/web/reports?from=&to=`` shows the period form (the last 30 days unless asked) and, for a
   valid period, the report in a sandboxed frame with links to download it;
2. ``/web/reports/transparency?from=&to=&format=html|json|csv`` is the report itself. The HTML
   document (``tessera.reports.html``) is self-contained: inline SVG charts and one inline
   ``<style>``, no script. The pages' CSP (``style-src 'self'``) would drop that style, so the
   document gets its own CSP that allows exactly that style by its SHA-256 hash and nothing else
   (no script, no other resource, no form, ``sandbox``), and only the node's own pages may frame
   it;
3. ``/web/reports/statements-of-reasons?from=&to=&format=jsonl|csv`` downloads the DSA
   statements of reasons of every restriction in the period, and
   ``/web/cases/{uuid}/statement-of-reasons`` one case's statement (409 when the case
   restricted no content).

The period is ``[from, to)`` in UTC (``reports.parse_period``: dates or ISO 8601 times).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from datetime import timedelta
from enum import StrEnum
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

from tessera.api.deps import NodeDep
from tessera.errors import InputError
from tessera.reports import Period, parse_period, sor
from tessera.reports.html import render_report
from tessera.reports.transparency import build_report, report_csv
from tessera.store.db import utcnow
from tessera.web.render import CSP, WebRoute, render
from tessera.web.session import ReviewViewer

router = APIRouter(route_class=WebRoute, include_in_schema=False)

DEFAULT_DAYS = 30
PAGE_CSP = f"{CSP}; frame-src 'self'"
_STYLE = re.compile(r"<style\b[^>]*>(.*?)</style>", re.DOTALL | re.IGNORECASE)

From = Annotated[str | None, Query(alias="from", max_length=40)]
To = Annotated[str | None, Query(alias="to", max_length=40)]


class ReportFormat(StrEnum):
    """How the transparency report is served."""

    HTML = "html"
    JSON = "json"
    CSV = "csv"


class SorFormat(StrEnum):
    """How statements of reasons are downloaded."""

    JSONL = "jsonl"
    CSV = "csv"


def report_csp(html: str) -> str:
    """A CSP for the report document: its own inline styles (by hash), nothing else."""
    hashes = sorted(
        {
            "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
            for s in _STYLE.findall(html)
        }
    )
    styles = " ".join(hashes) or "'none'"
    return (
        f"default-src 'none'; style-src {styles}; img-src 'self'; form-action 'none'; "
        "frame-ancestors 'self'; base-uri 'none'; sandbox"
    )


def _filename(stem: str, org: str, period: Period, ext: str) -> str:
    return f"{stem}-{org}-{period.start.date().isoformat()}-{period.end.date().isoformat()}.{ext}"


def _download(body: str, media_type: str, name: str) -> Response:
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(body, media_type=media_type, headers=headers)


@router.get("/web/reports")
def reports_page(viewer: ReviewViewer, start: From = None, end: To = None) -> Response:
    """The period form and, for a valid period, the report and its downloads."""
    if not start and not end:
        today = utcnow().date()
        start = (today - timedelta(days=DEFAULT_DAYS)).isoformat()
        end = (today + timedelta(days=1)).isoformat()
    problem, query = "", ""
    try:
        parse_period(start, end)  # checked here; each link builds the report for itself
    except InputError as e:
        problem = str(e)
    else:
        query = urlencode({"from": start, "to": end})
    page = render(
        viewer,
        "reports.html",
        status=422 if problem else 200,
        start=start or "",
        end=end or "",
        problem=problem,
        query=query,
    )
    page.headers["Content-Security-Policy"] = PAGE_CSP
    return page


@router.get("/web/reports/transparency")
def transparency(
    node: NodeDep,
    viewer: ReviewViewer,
    start: From = None,
    end: To = None,
    fmt: Annotated[ReportFormat, Query(alias="format")] = ReportFormat.HTML,
) -> Response:
    """The organisation's transparency report for the period: a page, JSON or CSV."""
    period = parse_period(start, end)
    report = build_report(node.store.db, viewer.org, period)
    if fmt is ReportFormat.JSON:
        body = json.dumps(report.as_json(), indent=2)
        name = _filename("transparency", viewer.org, period, "json")
        return _download(body, "application/json", name)
    if fmt is ReportFormat.CSV:
        name = _filename("transparency", viewer.org, period, "csv")
        return _download(report_csv(report), "text/csv; charset=utf-8", name)
    html = render_report(report)
    name = _filename("transparency", viewer.org, period, "html")
    headers = {
        "Content-Security-Policy": report_csp(html),
        "X-Frame-Options": "SAMEORIGIN",
        "Content-Disposition": f'inline; filename="{name}"',
    }
    return HTMLResponse(html, headers=headers)


@router.get("/web/reports/statements-of-reasons")
def statements(
    node: NodeDep,
    viewer: ReviewViewer,
    start: From = None,
    end: To = None,
    fmt: Annotated[SorFormat, Query(alias="format")] = SorFormat.JSONL,
) -> Response:
    """The DSA statements of reasons for every restriction in the period, as a download."""
    period = parse_period(start, end)
    found = list(sor.statements(node.store.db, viewer.org, period))
    name = _filename("statements-of-reasons", viewer.org, period, fmt.value)
    if fmt is SorFormat.CSV:
        return _download("".join(sor.as_csv(found)), "text/csv; charset=utf-8", name)
    return _download("".join(sor.as_jsonl(found)), "application/x-ndjson", name)


@router.get("/web/cases/{case_uuid}/statement-of-reasons")
def case_statement(node: NodeDep, viewer: ReviewViewer, case_uuid: str) -> Response:
    """One case's DSA statement of reasons, as a download."""
    statement = sor.statement_for_case(node.store.db, viewer.org, case_uuid)
    body = json.dumps(statement, indent=2)
    return _download(body, "application/json", f"statement-of-reasons-{case_uuid}.json")
