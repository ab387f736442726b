"""`tessera report ...` on both stores: the transparency report and the statements of reasons."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from tessera.cli import report
from tessera.cli.context import STATE
from tessera.services.orgs import create_org
from tessera.store import Store
from tessera.store.orgs import OrgStore
from tests.reports import EXPECTED, ORG, OTHER, History, build_history, period_of


@pytest.fixture
def db_url(database_url: tuple[str, str | None]) -> str:
    """The store's URL as the command's --db takes it (PostgreSQL: its schema on the path)."""
    url, schema = database_url
    return f"{url}?options=-csearch_path%3D{schema}" if schema else url


@pytest.fixture
def history(store: Store) -> Iterator[History]:
    """The hand-counted history, with its organisations admitted."""
    orgs = OrgStore(store.db)
    create_org(orgs, ORG, "member")
    create_org(orgs, OTHER, "member")
    yield build_history(store)
    STATE.reset(None)


def _run(db_url: str, *args: str) -> Result:
    STATE.reset(None)
    return CliRunner().invoke(report.app, [*args, "--db", db_url])


def _period(history: History) -> list[str]:
    period = period_of(history.now)
    return ["--from", period.start.date().isoformat(), "--to", period.end.date().isoformat()]


def test_transparency_as_json_csv_and_html(history: History, db_url: str, tmp_path: Path) -> None:
    got = _run(db_url, "transparency", "--org", ORG, *_period(history))
    assert got.exit_code == 0, got.output
    data = json.loads(got.stdout)
    assert data["removal_orders"]["received"] == EXPECTED["removal_orders"]["received"]
    assert data["cases"]["decisions_by_kind"] == EXPECTED["cases"]["decisions_by_kind"]

    as_csv = _run(db_url, "transparency", "--org", ORG, *_period(history), "--format", "csv")
    rows = list(csv.reader(io.StringIO(as_csv.stdout)))
    assert rows[0] == ["section", "metric", "value"]
    assert ["restorations", "following_complaint", "1"] in rows

    page = tmp_path / "report.html"
    written = _run(
        db_url,
        "transparency",
        "--org",
        ORG,
        *_period(history),
        "--format",
        "html",
        "--out",
        str(page),
    )
    assert written.exit_code == 0 and written.stdout == ""
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>") and html.count("<svg") == 9


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "2026-02-01", "--to", "2026-01-01"], "must be before"),
        (["--from", "yesterday", "--to", "2026-01-01"], "'from' must be a date"),
        (["--to", "2026-01-01"], "give both 'from' and 'to'"),
        (["--from", "2026-01-01", "--to", "2026-02-01", "--org", "nobody"], "no organisation"),
        (["--from", "2026-01-01", "--to", "2026-02-01", "--format", "pdf"], "pdf"),
    ],
)
def test_transparency_refuses_bad_input_in_one_line(
    history: History, db_url: str, args: list[str], message: str
) -> None:
    del history
    org = [] if "--org" in args else ["--org", ORG]
    got = _run(db_url, "transparency", *org, *args)
    assert got.exit_code != 0
    assert message in got.output
    assert "Traceback" not in got.output


def test_sor_for_a_case_and_for_a_period(history: History, db_url: str, tmp_path: Path) -> None:
    c = history.case_uuids
    one = _run(db_url, "sor", "--org", ORG, "--case", c["c8"])
    assert one.exit_code == 0, one.output
    (line,) = one.stdout.splitlines()
    assert json.loads(line)["source_type"] == "SOURCE_TYPE_OTHER_NOTIFICATION"

    lines = _run(db_url, "sor", "--org", ORG, *_period(history)).stdout.splitlines()
    assert len(lines) == 6
    out = tmp_path / "sor.csv"
    written = _run(
        db_url, "sor", "--org", ORG, *_period(history), "--format", "csv", "--out", str(out)
    )
    assert written.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert len(rows) == 6 and {r["category"] for r in rows} == {
        "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY"
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give --case UUID, or a period"),
        (["--case", "x", "--from", "2026-01-01"], "not both"),
        (["--case", "no-such-case"], "no case"),
        (["--case", "@c2"], "only for a restriction"),
        (["--case", "@other"], "no case"),
    ],
)
def test_sor_refuses_bad_input_in_one_line(
    history: History, db_url: str, args: list[str], message: str
) -> None:
    args = [history.case_uuids[a[1:]] if a.startswith("@") else a for a in args]
    got = _run(db_url, "sor", "--org", ORG, *args)
    assert got.exit_code == 1
    assert message in got.output and "Traceback" not in got.output
