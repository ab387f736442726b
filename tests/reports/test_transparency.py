"""The transparency report: hand-counted figures, periods, CSV, the HTML page and its charts."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest

from tessera.errors import InputError
from tessera.reports import Period, make_period, parse_period, parse_when, safe_cell, sor
from tessera.reports.charts import bar_chart, line_chart
from tessera.reports.html import render_report
from tessera.reports.transparency import build_report, report_csv
from tessera.review import complaints, orders
from tessera.review.records import Decision
from tessera.services import review
from tessera.services.orgs import create_org
from tessera.settings import Settings
from tessera.signals.base import Signal
from tessera.store import Store
from tessera.store.orgs import OrgStore
from tessera.store.review_tables import removal_orders
from tests.reports import EXPECTED, ORG, build_history, match_of, period_of


def _section(got: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    return {k: got[k] for k in expected}


def test_figures_match_the_hand_counted_history(store: Store) -> None:
    history = build_history(store)
    report = build_report(store.db, ORG, period_of(history.now)).as_json()
    for section, expected in EXPECTED.items():
        assert _section(report[section], expected) == expected, section
    policies = {p["bank"]: p for p in report["measures"]["policies_in_force"]}
    assert set(policies) == {"auto", "shadowed", "logbank", "allow"}
    assert policies["shadowed"]["shadow"] is True and policies["auto"]["action"] == "remove"
    assert report["cases"]["median_hours_to_decision"] is not None
    series = report["series"]
    assert series["bucket"] == "day" and len(series["labels"]) == 11
    assert sum(series["cases_opened"]) == 9
    assert sum(series["decisions_human"]) == 9 and sum(series["decisions_automated"]) == 3
    assert sum(series["orders_received"]) == 7 and sum(series["complaints_received"]) == 4
    assert report["not_recorded"] and "7(3)(e)" in report["not_recorded"][0]


def test_another_organisations_history_is_left_out(store: Store) -> None:
    history = build_history(store)
    theirs = build_report(store.db, "other", period_of(history.now)).as_json()
    assert theirs["cases"]["opened"] == 1 and theirs["cases"]["decisions"] == 1
    assert theirs["actions"]["items_removed"] == 1
    assert theirs["removal_orders"]["received"] == 1
    assert theirs["complaints"]["received"] == 1 and theirs["complaints"]["upheld"] == 1
    assert theirs["measures"]["policies_in_force"] == []


def test_an_empty_period_gives_zeros(store: Store) -> None:
    build_history(store)
    long_ago = make_period(datetime(2021, 1, 1, tzinfo=UTC), datetime(2022, 1, 1, tzinfo=UTC))
    report = build_report(store.db, ORG, long_ago)
    data = report.as_json()
    assert data["cases"]["opened"] == 0 and data["cases"]["decisions"] == 0
    assert data["removal_orders"]["received"] == 0
    assert data["removal_orders"]["median_minutes_to_action"] is None
    assert data["complaints"]["median_hours_to_outcome"] is None
    assert data["restorations"] == {"restored": 0, "following_complaint": 0, "other": 0}
    assert data["series"]["bucket"] == "month" and len(data["series"]["labels"]) == 12
    assert set(data["series"]["cases_opened"]) == {0}
    # Policies set after the period were not in force during it.
    assert data["measures"]["policies_in_force"] == []
    page = _parse(render_report(report))
    assert page.svgs == 9


def test_an_empty_store_reports_zeros(store: Store) -> None:
    now = datetime.now(UTC)
    report = build_report(store.db, "nobody", period_of(now))
    assert report.measures.matches == 0 and report.actions.items_removed == 0
    assert report_csv(report).startswith("section,metric,value\n")


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-02-01", "2026-01-01", "must be before"),
        ("2026-01-01", "2026-01-01", "the period is empty"),
        ("01/02/2026", "2026-03-01", "must be a date (YYYY-MM-DD)"),
        ("2026-01-01", "soon", "'to' must be a date"),
        ("2026-13-01", "2027-01-01", "'from' must be a date"),
        (None, "2026-01-01", "give both 'from' and 'to'"),
        ("2000-01-01", "2026-01-01", "at most"),
    ],
)
def test_bad_periods_are_refused_clearly(start: str | None, end: str, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_period(start, end)


def test_dates_and_times_are_read_as_utc() -> None:
    assert parse_when("2026-03-01", "x") == datetime(2026, 3, 1, tzinfo=UTC)
    assert parse_when("2026-03-01T12:30:00+02:00", "x") == datetime(2026, 3, 1, 10, 30, tzinfo=UTC)
    assert parse_when("2026-03-01T12:30", "x") == datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
    period = parse_period("2026-01-01", "2026-01-08")
    assert period == Period(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 8, tzinfo=UTC))


def test_csv_rows_carry_every_figure_and_defuse_formulas(store: Store) -> None:
    history = build_history(store)
    text = report_csv(build_report(store.db, ORG, period_of(history.now)))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["section", "metric", "value"]
    found = {(s, m): v for s, m, v in rows[1:]}
    assert found[("report", "org")] == ORG
    assert found[("removal_orders", "received")] == "7"
    assert found[("removal_orders", "not_actioned_reasons.de_facto_impossibility")] == "2"
    assert found[("removal_orders", "not_actioned_reasons.manifest_error")] == "1"
    assert found[("actions", "by_kind.remove.pending")] == "5"
    assert found[("measures", "policies_in_force.0.bank")] in {"allow", "auto"}
    assert found[("complaints", "median_hours_to_outcome")] == "24.0"
    day = history.now.date().isoformat()
    assert int(found[("series", f"cases_opened.{day}")]) >= 1


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.svgs = 0
        self.titles: list[str] = []
        self.scripts = 0
        self.external = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.svgs += tag == "svg"
        self.scripts += tag == "script"
        self.external += any(k in ("src", "href") for k, _v in attrs)
        self._in_title = tag == "title"

    def handle_data(self, data: str) -> None:
        if self._in_title and data.strip():
            self.titles.append(data.strip())

    def handle_endtag(self, tag: str) -> None:  # noqa: ARG002
        self._in_title = False


def _parse(page: str) -> _Page:
    parser = _Page()
    parser.feed(page)
    parser.close()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    return parser


def test_the_html_page_is_self_contained_with_its_charts(store: Store) -> None:
    history = build_history(store)
    page = render_report(build_report(store.db, ORG, period_of(history.now)))
    parsed = _parse(page)
    assert parsed.svgs == 9 and parsed.scripts == 0 and parsed.external == 0
    assert "Cases and decisions per day" in parsed.titles
    assert "Removal orders by outcome" in parsed.titles
    assert "FR-OCLCTIC" in page and "de_facto_impossibility" in page
    assert "<polyline" in page and "<rect" in page


def test_text_from_the_store_is_escaped_in_the_page(store: Store) -> None:
    now = datetime.now(UTC)
    with store.db.write() as conn:
        conn.execute(
            removal_orders.insert().values(
                uuid="o-1",
                org=ORG,
                authority="<script>alert(1)</script>",
                legal_reference="ref",
                content_ref="post/1",
                received_at=now,
                deadline=now + timedelta(hours=1),
                state="not_actioned",
                not_actioned_reason="<img src=x onerror=alert(2)>",
                uploader_informed=False,
                note="",
                created_at=now,
            )
        )
    page = render_report(build_report(store.db, ORG, period_of(now)))
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img" not in page
    parsed = _parse(page)
    assert parsed.scripts == 0 and parsed.external == 0


def test_cells_that_could_run_as_formulas_are_defused() -> None:
    assert safe_cell("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert safe_cell("+1") == "'+1" and safe_cell("@x") == "'@x" and safe_cell("-2") == "'-2"
    assert safe_cell("plain") == "plain" and safe_cell("") == ""


def test_charts_escape_labels_and_handle_no_data() -> None:
    svg = bar_chart("A & B", [("<b>x</b>", 3), ("y", 0)], chart_id="c1")
    assert "<b>" not in svg and "&lt;b&gt;" in svg and "A &amp; B" in svg
    assert "no data" in bar_chart("Nothing", [], chart_id="c2")
    flat = line_chart("Flat", ["d1", "d2"], [("zero", [0, 0])], chart_id="c3")
    assert flat.count("<polyline") == 1 and "nan" not in flat
    one = line_chart("One day", ["d1"], [("n", [5])], chart_id="c4")
    assert "<polyline" in one


def test_figures_from_the_real_order_and_complaint_services(store: Store) -> None:
    create_org(OrgStore(store.db), ORG, "member")
    store.create_bank("tco", owner_org="hub")
    settings = Settings()
    first = orders.record_order(
        store, settings, org=ORG, authority="DE-BKA", legal_reference="ref-1",
        content_ref="post/o1", media_kind="image",
    )  # fmt: skip
    orders.act_on_order(store, org=ORG, order_uuid=first.uuid, actor="rev-1")
    second = orders.record_order(
        store, settings, org=ORG, authority="DE-BKA", legal_reference="ref-2", content_ref="post/o2"
    )
    orders.not_actioned(
        store,
        org=ORG,
        order_uuid=second.uuid,
        reason=orders.NotActionedReason.MANIFEST_ERROR,
        explanation="no such URL",
        actor="rev-1",
    )
    routed = review.route(
        store, settings, org=ORG, content_ref="post/m1", media_kind="video",
        signals=[Signal("md5", "v")], matches=[match_of("tco", "md5")],
    )  # fmt: skip
    assert routed.case is not None
    review.decide(
        store, settings, org=ORG, case_uuid=routed.case.uuid, decision=Decision.VIOLATING,
        actor="rev-1", withhold_feedback=True,
    )  # fmt: skip
    filed = complaints.file_complaint(
        store, settings, org=ORG, case_uuid=routed.case.uuid, reason="news", actor="app"
    )
    complaints.uphold(
        store, org=ORG, complaint_uuid=filed.uuid, actor="rev-2", withhold_feedback=True
    )

    now = datetime.now(UTC)
    data = build_report(store.db, ORG, period_of(now)).as_json()
    o = data["removal_orders"]
    assert (o["received"], o["actioned"], o["actioned_within_deadline"]) == (2, 1, 1)
    assert o["not_actioned_reasons"] == {"manifest_error": 1}
    assert data["cases"]["opened_by_source"] == {"match": 1, "removal_order": 2}
    assert data["cases"]["decisions_by_kind"] == {"violating": 2}
    assert data["measures"]["decisions_human"] == 2
    assert data["actions"]["items_removed"] == 2
    assert data["actions"]["items_removed_or_restricted_following_orders"] == 1
    assert data["complaints"]["upheld"] == 1 and data["complaints"]["received"] == 1
    assert data["restorations"] == {"restored": 1, "following_complaint": 1, "other": 0}

    by_order = sor.statement_for_case(store.db, ORG, first.case_uuid or "")
    assert by_order["source_type"] == "SOURCE_TYPE_OTHER_NOTIFICATION"
    assert by_order["source_identity"] == "DE-BKA" and by_order["automated_detection"] == "No"
    restored = sor.statement_for_case(store.db, ORG, routed.case.uuid)
    assert restored["source_type"] == "SOURCE_VOLUNTARY"
    assert restored["automated_decision"] == "AUTOMATED_DECISION_NOT_AUTOMATED"
    assert len(list(sor.statements(store.db, ORG, period_of(now)))) == 2
