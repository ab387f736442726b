"""The transparency report: what an organisation did about terrorist content in a period.

The figures follow TCO Regulation (EU) 2021/784, Art. 7(3), for one organisation and a period
``[from, to)`` (UTC):

1. measures (7(3)(a)-(b)): the match policies in force, the signal types and banks that matched,
   matches by policy mode, matches only logged or suppressed by an allow-list, and how many
   decisions people took and how many were automated;
2. cases opened (by source) and decisions (by decision and exemption), from the audit log, so a
   case decided twice counts twice, as it happened;
3. items removed or restricted (7(3)(c)): actions by kind and delivery state, and the distinct
   content removed or restricted following removal orders or the organisation's own measures;
4. removal orders: received, actioned within the deadline or late, not actioned and why, open,
   overdue, and whether the uploader was informed;
5. complaints (7(3)(d)): received, upheld, rejected, open, and the median handling time;
6. restorations (7(3)(g)): restore actions, and how many followed an upheld complaint;
7. a time series (per day, or per month for long periods) for the charts.

Everything is read with SQLAlchemy Core from the review tables. Administrative or judicial review
proceedings (7(3)(e)-(f)) are not recorded by Tessera; the report says so.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tessera.reports import Period, safe_cell
from tessera.store.db import Database, as_utc, utcnow
from tessera.store.review_tables import (
    actions,
    audit_log,
    case_matches,
    cases,
    complaints,
    match_policies,
    removal_orders,
)
from tessera.store.tables import banks

DAILY_UP_TO_DAYS = 92
"""Periods up to this long are charted per day; longer ones per month."""

CONTENT_ACTIONS = ("remove", "restrict", "restore", "preserve")
NOT_RECORDED = (
    "administrative or judicial review proceedings and their outcomes (TCO Art. 7(3)(e)-(f)) "
    "are not recorded by Tessera"
)


@dataclass(frozen=True, slots=True)
class Measures:
    """TCO Art. 7(3)(a)-(b): how content was found and decided."""

    policies_in_force: list[dict[str, Any]]
    policies_by_mode: dict[str, int]
    matches: int
    matches_by_signal_type: dict[str, int]
    matches_by_bank: dict[str, int]
    matches_by_policy: dict[str, int]
    matches_logged_only: int
    matches_suppressed_by_allow_list: int
    decisions_human: int
    decisions_automated: int
    shadow_actions: int


@dataclass(frozen=True, slots=True)
class CaseFigures:
    """Cases opened in the period, and the decisions taken in it."""

    opened: int
    opened_by_source: dict[str, int]
    decisions: int
    decisions_by_kind: dict[str, int]
    exemptions: dict[str, int]
    median_hours_to_decision: float | None


@dataclass(frozen=True, slots=True)
class ActionFigures:
    """TCO Art. 7(3)(c): the content actions queued in the period."""

    by_kind: dict[str, dict[str, int]]
    automated: int
    human: int
    items_removed: int
    items_restricted: int
    items_removed_or_restricted_following_orders: int
    items_removed_or_restricted_own_measures: int


@dataclass(frozen=True, slots=True)
class OrderFigures:
    """Removal orders received in the period and what became of them."""

    received: int
    by_authority: dict[str, int]
    actioned: int
    actioned_within_deadline: int
    actioned_late: int
    not_actioned: int
    not_actioned_reasons: dict[str, int]
    open: int
    overdue: int
    uploader_informed: int
    median_minutes_to_action: float | None


@dataclass(frozen=True, slots=True)
class ComplaintFigures:
    """TCO Art. 7(3)(d): complaints received in the period and their outcomes."""

    received: int
    upheld: int
    rejected: int
    open: int
    decided_within_deadline: int
    decided_late: int
    median_hours_to_outcome: float | None


@dataclass(frozen=True, slots=True)
class RestorationFigures:
    """TCO Art. 7(3)(g): content reinstated in the period."""

    restored: int
    following_complaint: int
    other: int


@dataclass(frozen=True, slots=True)
class Series:
    """Counts per bucket (day or month) across the period, for the charts."""

    bucket: str
    labels: list[str]
    cases_opened: list[int]
    decisions_human: list[int]
    decisions_automated: list[int]
    orders_received: list[int]
    complaints_received: list[int]


@dataclass(frozen=True, slots=True)
class TransparencyReport:
    """The whole report for one organisation and one period."""

    org: str
    period: Period
    generated_at: datetime
    measures: Measures
    cases: CaseFigures
    actions: ActionFigures
    removal_orders: OrderFigures
    complaints: ComplaintFigures
    restorations: RestorationFigures
    series: Series
    not_recorded: list[str] = field(default_factory=lambda: [NOT_RECORDED])

    def as_json(self) -> dict[str, Any]:
        """The report as a JSON-native dict."""
        return {
            "org": self.org,
            "period": self.period.as_json(),
            "generated_at": self.generated_at.isoformat(),
            **{name: asdict(getattr(self, name)) for name in SECTIONS},
            "series": asdict(self.series),
            "not_recorded": list(self.not_recorded),
        }

    def csv_rows(self) -> Iterator[tuple[str, str, str]]:
        """(section, metric, value) rows: nested figures as dotted metric names."""
        yield "report", "org", self.org
        yield "report", "from", self.period.start.isoformat()
        yield "report", "to", self.period.end.isoformat()
        yield "report", "generated_at", self.generated_at.isoformat()
        for name in SECTIONS:
            for metric, value in _flatten(asdict(getattr(self, name))):
                yield name, metric, value
        for label, values in _series_rows(self.series):
            yield "series", label, values
        for i, note in enumerate(self.not_recorded):
            yield "not_recorded", str(i), note


SECTIONS = ("measures", "cases", "actions", "removal_orders", "complaints", "restorations")


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _flatten(v, f"{prefix}.{i}")
    else:
        yield prefix, "" if value is None else str(value)


SERIES_NAMES = (
    "cases_opened",
    "decisions_human",
    "decisions_automated",
    "orders_received",
    "complaints_received",
)


def _series_rows(series: Series) -> Iterator[tuple[str, str]]:
    for name in SERIES_NAMES:
        for label, n in zip(series.labels, getattr(series, name), strict=True):
            yield f"{name}.{label}", str(n)


def report_csv(report: TransparencyReport) -> str:
    """The report as CSV text: a header, then one (section, metric, value) row per figure."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(("section", "metric", "value"))
    for row in report.csv_rows():
        writer.writerow([safe_cell(cell) for cell in row])
    return buf.getvalue()


def build_report(
    db: Database, org: str, period: Period, *, now: datetime | None = None
) -> TransparencyReport:
    """Count the organisation's figures for the period in one read snapshot."""
    now = now or utcnow()
    with db.read() as conn:
        decisions = _decision_rows(conn, org, period)
        orders = _orders(conn, org, period)
        received = _complaints(conn, org, period)
        return TransparencyReport(
            org=org,
            period=period,
            generated_at=now,
            measures=_measures(conn, org, period, decisions),
            cases=_case_figures(conn, org, period, decisions),
            actions=_action_figures(conn, org, period),
            removal_orders=_order_figures(orders, now),
            complaints=_complaint_figures(received),
            restorations=_restorations(conn, org, period),
            series=_series(conn, org, period, decisions, orders, received),
        )


def _between(column: Any, period: Period) -> Any:
    return sa.and_(column >= period.start, column < period.end)


def _counts(conn: Connection, query: sa.Select[Any]) -> dict[str, int]:
    return {str(k): int(n) for k, n in conn.execute(query) if k is not None}


def _median(values: Iterable[float]) -> float | None:
    found = list(values)
    return round(statistics.median(found), 2) if found else None


@dataclass(frozen=True, slots=True)
class _Decision:
    when: datetime
    decision: str
    exemption: str | None
    automated: bool


# The audit kinds the figures are counted from.
DECIDED = ("case.decided",)
AUTO_ACTIONED = ("case.auto_actioned",)
ORDER_ACTIONED = ("case.actioned",)
LOGGED = ("match.logged",)
SUPPRESSED = ("match.suppressed",)


def _decision_rows(conn: Connection, org: str, period: Period) -> list[_Decision]:
    """Every decision in the period: a reviewer's, an auto_action's, or executing an order."""
    q = sa.select(audit_log.c.kind, audit_log.c.detail, audit_log.c.created_at).where(
        audit_log.c.org == org,
        audit_log.c.kind.in_([*DECIDED, *AUTO_ACTIONED, *ORDER_ACTIONED]),
        _between(audit_log.c.created_at, period),
    )
    found = []
    for kind, detail, when in conn.execute(q):
        if kind in DECIDED:
            decision = str((detail or {}).get("decision", "unknown"))
            exemption = (detail or {}).get("exemption")
        else:
            decision, exemption = "violating", None
        found.append(_Decision(as_utc(when), decision, exemption, kind in AUTO_ACTIONED))
    return found


def _measures(conn: Connection, org: str, period: Period, decisions: list[_Decision]) -> Measures:
    policies = conn.execute(
        sa.select(match_policies, banks.c.name.label("bank_name"))
        .outerjoin(banks, banks.c.uuid == match_policies.c.bank_uuid)
        .where(match_policies.c.org == org, match_policies.c.updated_at < period.end)
        .order_by(banks.c.name, match_policies.c.id)
    ).all()
    in_force = [
        {
            "bank": p.bank_name or p.bank_uuid,
            "mode": p.mode,
            "rollout": float(p.rollout),
            "shadow": bool(p.shadow),
            "action": p.action,
        }
        for p in policies
    ]
    by = (case_matches.c.signal_type, case_matches.c.bank_name, case_matches.c.policy)
    rows = conn.execute(
        sa.select(*by, sa.func.count())
        .join(cases, cases.c.id == case_matches.c.case_id)
        .where(cases.c.org == org, _between(case_matches.c.created_at, period))
        .group_by(*by)
    ).all()
    signal_types: Counter[str] = Counter()
    bank_names: Counter[str] = Counter()
    modes: Counter[str] = Counter()
    for signal_type, bank_name, policy, n in rows:
        signal_types[signal_type] += n
        bank_names[bank_name] += n
        modes[policy] += n
    audit_counts = _counts(
        conn,
        sa.select(audit_log.c.kind, sa.func.count())
        .where(
            audit_log.c.org == org,
            audit_log.c.kind.in_([*LOGGED, *SUPPRESSED]),
            _between(audit_log.c.created_at, period),
        )
        .group_by(audit_log.c.kind),
    )
    shadow = conn.execute(
        sa.select(sa.func.count()).where(
            actions.c.org == org,
            actions.c.state == "shadow",
            _between(actions.c.created_at, period),
        )
    ).scalar_one()
    return Measures(
        policies_in_force=in_force,
        policies_by_mode=dict(sorted(Counter(p["mode"] for p in in_force).items())),
        matches=sum(signal_types.values()),
        matches_by_signal_type=dict(sorted(signal_types.items())),
        matches_by_bank=dict(sorted(bank_names.items())),
        matches_by_policy=dict(sorted(modes.items())),
        matches_logged_only=sum(audit_counts.get(k, 0) for k in LOGGED),
        matches_suppressed_by_allow_list=sum(audit_counts.get(k, 0) for k in SUPPRESSED),
        decisions_human=sum(1 for d in decisions if not d.automated),
        decisions_automated=sum(1 for d in decisions if d.automated),
        shadow_actions=int(shadow),
    )


def _case_figures(
    conn: Connection, org: str, period: Period, decisions: list[_Decision]
) -> CaseFigures:
    by_source = _counts(
        conn,
        sa.select(cases.c.source, sa.func.count())
        .where(cases.c.org == org, _between(cases.c.created_at, period))
        .group_by(cases.c.source),
    )
    spans = conn.execute(
        sa.select(cases.c.created_at, cases.c.decided_at).where(
            cases.c.org == org, _between(cases.c.decided_at, period)
        )
    ).all()
    hours = ((as_utc(d) - as_utc(c)).total_seconds() / 3600 for c, d in spans)
    return CaseFigures(
        opened=sum(by_source.values()),
        opened_by_source=dict(sorted(by_source.items())),
        decisions=len(decisions),
        decisions_by_kind=dict(sorted(Counter(d.decision for d in decisions).items())),
        exemptions=dict(sorted(Counter(d.exemption for d in decisions if d.exemption).items())),
        median_hours_to_decision=_median(hours),
    )


def _order_case_ids(org: str) -> sa.Select[Any]:
    return sa.select(removal_orders.c.case_id).where(
        removal_orders.c.org == org, removal_orders.c.case_id.is_not(None)
    )


def _action_figures(conn: Connection, org: str, period: Period) -> ActionFigures:
    in_period = sa.and_(
        actions.c.org == org,
        actions.c.kind.in_(CONTENT_ACTIONS),
        _between(actions.c.created_at, period),
    )
    by_kind: dict[str, dict[str, int]] = {kind: {} for kind in CONTENT_ACTIONS}
    automated = human = 0
    q = sa.select(actions.c.kind, actions.c.state, actions.c.automated, sa.func.count())
    for kind, state, is_auto, n in conn.execute(
        q.where(in_period).group_by(actions.c.kind, actions.c.state, actions.c.automated)
    ):
        by_kind[kind][state] = by_kind[kind].get(state, 0) + int(n)
        if state != "shadow" and is_auto:
            automated += int(n)
        elif state != "shadow":
            human += int(n)
    taking_down = sa.and_(
        in_period, actions.c.state != "shadow", actions.c.kind.in_(["remove", "restrict"])
    )
    items = _counts(
        conn,
        sa.select(actions.c.kind, sa.func.count(sa.distinct(actions.c.content_ref)))
        .where(taking_down)
        .group_by(actions.c.kind),
    )
    linked = sa.or_(
        actions.c.case_id.in_(_order_case_ids(org)),
        actions.c.case_id.in_(
            sa.select(cases.c.id).where(cases.c.org == org, cases.c.source == "removal_order")
        ),
    )
    distinct = sa.func.count(sa.distinct(actions.c.content_ref))
    following = conn.execute(sa.select(distinct).where(taking_down, linked)).scalar_one()
    total = conn.execute(sa.select(distinct).where(taking_down)).scalar_one()
    return ActionFigures(
        by_kind={k: dict(sorted(v.items())) for k, v in by_kind.items()},
        automated=int(automated),
        human=int(human),
        items_removed=items.get("remove", 0),
        items_restricted=items.get("restrict", 0),
        items_removed_or_restricted_following_orders=int(following),
        items_removed_or_restricted_own_measures=int(total) - int(following),
    )


def _orders(conn: Connection, org: str, period: Period) -> list[Any]:
    q = sa.select(removal_orders).where(
        removal_orders.c.org == org, _between(removal_orders.c.received_at, period)
    )
    return list(conn.execute(q.order_by(removal_orders.c.received_at)))


def _order_figures(orders: list[Any], now: datetime) -> OrderFigures:
    actioned = [o for o in orders if o.state == "actioned"]
    late = [
        o for o in actioned if o.actioned_at is None or as_utc(o.actioned_at) > as_utc(o.deadline)
    ]
    refused = [o for o in orders if o.state == "not_actioned"]
    waiting = [o for o in orders if o.state == "open"]
    minutes = (
        (as_utc(o.actioned_at) - as_utc(o.received_at)).total_seconds() / 60
        for o in actioned
        if o.actioned_at is not None
    )
    reasons = Counter(_reason(o.not_actioned_reason) for o in refused)
    return OrderFigures(
        received=len(orders),
        by_authority=dict(sorted(Counter(str(o.authority) for o in orders).items())),
        actioned=len(actioned),
        actioned_within_deadline=len(actioned) - len(late),
        actioned_late=len(late),
        not_actioned=len(refused),
        not_actioned_reasons=dict(sorted(reasons.items())),
        open=len(waiting),
        overdue=sum(1 for o in waiting if as_utc(o.deadline) < now),
        uploader_informed=sum(1 for o in orders if o.uploader_informed),
        median_minutes_to_action=_median(minutes),
    )


def _reason(stored: str | None) -> str:
    """The reason of a refusal stored as ``<reason>`` or ``<reason>: <explanation>``."""
    reason = (stored or "").split(":", 1)[0].strip()
    return reason or "(no reason given)"


def _complaints(conn: Connection, org: str, period: Period) -> list[Any]:
    q = sa.select(complaints).where(
        complaints.c.org == org, _between(complaints.c.received_at, period)
    )
    return list(conn.execute(q.order_by(complaints.c.received_at)))


def _complaint_figures(received: list[Any]) -> ComplaintFigures:
    decided = [c for c in received if c.state in ("upheld", "rejected") and c.decided_at]
    late = [c for c in decided if as_utc(c.decided_at) > as_utc(c.deadline)]
    hours = ((as_utc(c.decided_at) - as_utc(c.received_at)).total_seconds() / 3600 for c in decided)
    return ComplaintFigures(
        received=len(received),
        upheld=sum(1 for c in received if c.state == "upheld"),
        rejected=sum(1 for c in received if c.state == "rejected"),
        open=sum(1 for c in received if c.state == "open"),
        decided_within_deadline=len(decided) - len(late),
        decided_late=len(late),
        median_hours_to_outcome=_median(hours),
    )


def _restorations(conn: Connection, org: str, period: Period) -> RestorationFigures:
    restores = sa.and_(
        actions.c.org == org,
        actions.c.kind == "restore",
        actions.c.state != "shadow",
        _between(actions.c.created_at, period),
    )
    upheld = sa.select(complaints.c.case_id).where(
        complaints.c.org == org, complaints.c.state == "upheld"
    )
    total = conn.execute(sa.select(sa.func.count()).where(restores)).scalar_one()
    after_complaint = conn.execute(
        sa.select(sa.func.count()).where(restores, actions.c.case_id.in_(upheld))
    ).scalar_one()
    return RestorationFigures(
        restored=int(total),
        following_complaint=int(after_complaint),
        other=int(total) - int(after_complaint),
    )


def _buckets(period: Period) -> tuple[str, list[str]]:
    last = (period.end - timedelta(microseconds=1)).date()
    day = period.start.date()
    if period.end - period.start <= timedelta(days=DAILY_UP_TO_DAYS):
        labels = []
        while day <= last:
            labels.append(day.isoformat())
            day += timedelta(days=1)
        return "day", labels
    months = []
    year, month = day.year, day.month
    while (year, month) <= (last.year, last.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return "month", months


def _tally(labels: list[str], bucket: str, times: Iterable[datetime]) -> list[int]:
    width = 10 if bucket == "day" else 7
    found = Counter(as_utc(t).astimezone(UTC).isoformat()[:width] for t in times)
    return [found.get(label, 0) for label in labels]


def _series(
    conn: Connection,
    org: str,
    period: Period,
    decisions: list[_Decision],
    orders: list[Any],
    received: list[Any],
) -> Series:
    bucket, labels = _buckets(period)
    opened = conn.execute(
        sa.select(cases.c.created_at).where(
            cases.c.org == org, _between(cases.c.created_at, period)
        )
    ).scalars()
    return Series(
        bucket=bucket,
        labels=labels,
        cases_opened=_tally(labels, bucket, opened),
        decisions_human=_tally(labels, bucket, (d.when for d in decisions if not d.automated)),
        decisions_automated=_tally(labels, bucket, (d.when for d in decisions if d.automated)),
        orders_received=_tally(labels, bucket, (o.received_at for o in orders)),
        complaints_received=_tally(labels, bucket, (c.received_at for c in received)),
    )
