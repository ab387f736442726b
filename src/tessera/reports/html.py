"""The transparency report as one self-contained HTML page: figures, tables and SVG charts.

1. the charts are drawn in Python (``charts``) from the report's figures;
2. the page is rendered from ``templates/transparency.html`` with autoescaping on, so every
   string from the store is escaped; only the chart SVGs, which escape their own labels, are
   passed as markup;
3. the page carries its styles inline and loads nothing: it can be mailed, archived or printed.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from tessera.reports.charts import bar_chart, line_chart
from tessera.reports.transparency import TransparencyReport

_ENV = Environment(
    loader=PackageLoader("tessera.reports", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _bars(report: TransparencyReport) -> dict[str, tuple[str, list[tuple[str, float]]]]:
    m, c, a, o, q = (
        report.measures,
        report.cases,
        report.actions,
        report.removal_orders,
        report.complaints,
    )
    taken = {
        kind: sum(n for s, n in states.items() if s != "shadow")
        for kind, states in a.by_kind.items()
    }
    return {
        "decisions": ("Decisions by kind", list(c.decisions_by_kind.items())),
        "actions": ("Content actions by kind (not counting shadow)", list(taken.items())),
        "matches_bank": ("Matches by bank", list(m.matches_by_bank.items())),
        "matches_type": ("Matches by signal type", list(m.matches_by_signal_type.items())),
        "orders": (
            "Removal orders by outcome",
            [
                ("actioned within the deadline", o.actioned_within_deadline),
                ("actioned late", o.actioned_late),
                ("not actioned", o.not_actioned),
                ("open", o.open),
            ],
        ),
        "reasons": ("Removal orders not actioned, by reason", list(o.not_actioned_reasons.items())),
        "complaints": (
            "Complaints by outcome",
            [("upheld", q.upheld), ("rejected", q.rejected), ("open", q.open)],
        ),
    }


def charts(report: TransparencyReport) -> dict[str, Markup]:
    """Every chart of the report as inline SVG markup, by name."""
    s = report.series
    found = {
        "activity": line_chart(
            f"Cases and decisions per {s.bucket}",
            s.labels,
            [
                ("cases opened", s.cases_opened),
                ("human decisions", s.decisions_human),
                ("automated decisions", s.decisions_automated),
            ],
            chart_id="chart-activity",
        ),
        "notices": line_chart(
            f"Removal orders and complaints per {s.bucket}",
            s.labels,
            [("removal orders", s.orders_received), ("complaints", s.complaints_received)],
            chart_id="chart-notices",
        ),
    }
    for name, (title, items) in _bars(report).items():
        found[name] = bar_chart(title, items, chart_id=f"chart-{name.replace('_', '-')}")
    # The SVGs escape every label themselves (charts module); nothing else is marked safe.
    return {name: Markup(svg) for name, svg in found.items()}


def render_report(report: TransparencyReport) -> str:
    """The report as a complete HTML document."""
    context: dict[str, Any] = {
        "report": report,
        "data": report.as_json(),
        "charts": charts(report),
    }
    return _ENV.get_template("transparency.html").render(**context)
