"""Reports: the TCO transparency report and the DSA statement-of-reasons export.

- ``transparency``: the figures TCO Art. 7(3) asks for, for one organisation and a period;
- ``charts`` and ``html``: the same figures as a self-contained HTML page with inline SVG charts;
- ``sor``: one statement of reasons per restriction, in the EU DSA Transparency Database's schema.

Reports only read the review tables (cases, matches, actions, removal orders, complaints, the
audit log); they never change them. Both kinds of report cover a ``Period`` ``[from, to)`` in UTC,
parsed here with clear errors, and both write CSV cells through ``safe_cell``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from tessera.errors import InputError
from tessera.store.db import as_utc

MAX_PERIOD_DAYS = 3660
"""The longest period one report covers (ten years)."""


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open period ``[start, end)`` in UTC."""

    start: datetime
    end: datetime

    def as_json(self) -> dict[str, str]:
        """The period as ISO 8601 strings."""
        return {"from": self.start.isoformat(), "to": self.end.isoformat()}


def parse_when(value: str, name: str) -> datetime:
    """A date (``YYYY-MM-DD``, midnight UTC) or an ISO 8601 time (UTC unless it says otherwise)."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(
            f"{name} must be a date (YYYY-MM-DD) or an ISO 8601 time, got {value!r}"
        ) from None
    return as_utc(when).astimezone(UTC)


def make_period(start: datetime, end: datetime) -> Period:
    """A checked period: start before end, at most ``MAX_PERIOD_DAYS`` long."""
    start, end = as_utc(start).astimezone(UTC), as_utc(end).astimezone(UTC)
    if start >= end:
        raise InputError(
            f"the period is empty: 'from' ({start.isoformat()}) must be before "
            f"'to' ({end.isoformat()})"
        )
    if end - start > timedelta(days=MAX_PERIOD_DAYS):
        raise InputError(f"a report covers at most {MAX_PERIOD_DAYS} days")
    return Period(start, end)


def parse_period(start: str | None, end: str | None) -> Period:
    """The period ``[start, end)`` from two strings (see ``parse_when``); both are required."""
    if not start or not end:
        raise InputError("a report needs a period: give both 'from' and 'to' (YYYY-MM-DD)")
    return make_period(parse_when(start, "'from'"), parse_when(end, "'to'"))


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: str) -> str:
    """A CSV cell a spreadsheet will not run as a formula (a leading ' where one could start)."""
    return f"'{value}" if value.startswith(_FORMULA_START) else value
