"""Reports over HTTP on both stores: the caller's transparency report and statements of reasons."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from jsonschema import Draft202012Validator

from tessera.api import create_app
from tessera.api.routes import ROUTERS
from tessera.api.routes import reports as report_routes
from tessera.reports import sor
from tessera.store import Store
from tessera.store.records import Tier
from tests.api.conftest import node_settings
from tests.api.server import Orgs, run_server
from tests.reports import EXPECTED, ORG, OTHER, History, build_history, period_of


@dataclass
class Reporting:
    """A node on loopback with the hand-counted history, and its organisations' tokens."""

    client: httpx.Client
    orgs: Orgs
    history: History

    def get(self, path: str, org: str | None = ORG, **params: str) -> httpx.Response:
        """GET ``path`` as ``org`` (no token for None)."""
        headers = self.orgs.auth(org) if org else {}
        return self.client.get(path, params=params, headers=headers)

    def period(self) -> dict[str, str]:
        """The history's period as query parameters."""
        p = period_of(self.history.now)
        return {"from": p.start.date().isoformat(), "to": p.end.date().isoformat()}


@pytest.fixture
def reporting(store: Store, tmp_path: Path) -> Iterator[Reporting]:
    """The real app (with the reports router) on each backend, after the history."""
    orgs = Orgs(store)
    orgs.add(ORG, Tier.MEMBER)
    orgs.add(OTHER, Tier.MEMBER)
    orgs.add("matcher", Tier.MEMBER, scopes=["match"])
    history = build_history(store)
    extra = [] if report_routes.router in ROUTERS else [report_routes.router]
    app = create_app(node_settings(tmp_path), store=store, extra_routers=extra)
    with run_server(app) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield Reporting(client, orgs, history)


def _error(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, r.text
    message: str = r.json()["error"]["message"]
    return message


def test_the_transparency_report_in_three_formats(reporting: Reporting) -> None:
    data = reporting.get("/v1/reports/transparency", **reporting.period()).json()
    assert data["org"] == ORG
    for section, expected in EXPECTED.items():
        assert {k: data[section][k] for k in expected} == expected, section

    as_csv = reporting.get("/v1/reports/transparency", format="csv", **reporting.period())
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in as_csv.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(as_csv.text)))
    assert ["removal_orders", "actioned_late", "1"] in rows

    page = reporting.get("/v1/reports/transparency", format="html", **reporting.period())
    assert page.headers["content-type"].startswith("text/html")
    parser = HTMLParser()
    parser.feed(page.text)
    parser.close()
    assert page.text.count("<svg") == 9 and "<script" not in page.text


def test_each_organisation_sees_only_its_own_figures(reporting: Reporting) -> None:
    theirs = reporting.get("/v1/reports/transparency", org=OTHER, **reporting.period()).json()
    assert theirs["org"] == OTHER and theirs["cases"]["opened"] == 1
    assert theirs["removal_orders"]["received"] == 1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "2026-02-01", "to": "2026-01-01"}, "must be before"),
        ({"from": "last week", "to": "2026-01-01"}, "'from' must be a date"),
        ({"from": "2026-01-01"}, "to"),
        ({"from": "2026-01-01", "to": "2026-02-01", "format": "pdf"}, "format"),
    ],
)
def test_bad_periods_and_formats_get_a_clear_422(
    reporting: Reporting, params: dict[str, str], message: str
) -> None:
    r = reporting.get("/v1/reports/transparency", **params)
    assert message in _error(r, 422)
    r = reporting.get("/v1/reports/statements-of-reasons", **params)
    assert message in _error(r, 422)


def test_reports_need_a_token_with_the_review_scope(reporting: Reporting) -> None:
    _error(reporting.get("/v1/reports/transparency", org=None, **reporting.period()), 401)
    _error(reporting.get("/v1/reports/transparency", org="matcher", **reporting.period()), 403)
    case = reporting.history.case_uuids["c1"]
    _error(reporting.get(f"/v1/cases/{case}/statement-of-reasons", org="matcher"), 403)


def test_a_cases_statement_of_reasons(reporting: Reporting) -> None:
    c = reporting.history.case_uuids
    validator = Draft202012Validator(sor.SOR_SCHEMA)
    found = reporting.get(f"/v1/cases/{c['c8']}/statement-of-reasons")
    assert found.status_code == 200, found.text
    statement = found.json()
    assert not list(validator.iter_errors(statement))
    assert statement["puid"] == c["c8"] and statement["source_identity"] == "DE-BKA"
    assert "only for a restriction" in _error(
        reporting.get(f"/v1/cases/{c['c2']}/statement-of-reasons"), 409
    )
    _error(reporting.get(f"/v1/cases/{c['other']}/statement-of-reasons"), 404)
    _error(reporting.get("/v1/cases/nope/statement-of-reasons"), 404)


def test_the_periods_statements_as_json_lines_and_csv(reporting: Reporting) -> None:
    found = reporting.get("/v1/reports/statements-of-reasons", **reporting.period())
    assert found.headers["content-type"].startswith("application/x-ndjson")
    statements = [json.loads(line) for line in found.text.splitlines()]
    assert len(statements) == 6
    assert len({s["puid"] for s in statements}) == 6
    as_csv = reporting.get("/v1/reports/statements-of-reasons", format="csv", **reporting.period())
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["puid"] for r in rows] == [s["puid"] for s in statements]
    empty = reporting.get(
        "/v1/reports/statements-of-reasons", **{"from": "2021-01-01", "to": "2021-02-01"}
    )
    assert empty.status_code == 200 and empty.text == ""
