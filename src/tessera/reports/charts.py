"""Charts as inline SVG, drawn in Python: no JavaScript, no plotting library, nothing fetched.

``bar_chart`` draws horizontal bars (labels can be long: authorities, reasons); ``line_chart``
draws counts per day or month, one line per series. Both return a complete ``<svg>`` element
with a ``<title>`` and ``role="img"`` for screen readers; every label is XML-escaped, so text
from the store (bank names, reasons) cannot inject markup.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

PALETTE = ("#1f5f8b", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#7f8c8d")
DASHES = ("none", "7 4", "2 3", "10 3 2 3")
"""Series colours and dash patterns: lines stay apart in greyscale and where they overlap."""

_FONT = 'font-family="system-ui, sans-serif" font-size="12"'
_LABEL_CHARS = 38


def _short(text: str, limit: int = _LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.2f}"


def _open(title: str, width: int, height: int, chart_id: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-labelledby="{chart_id}-title">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<text x="0" y="16" {_FONT} font-weight="bold">{escape(title)}</text>',
    ]


def bar_chart(
    title: str,
    items: Sequence[tuple[str, float]],
    *,
    chart_id: str,
    width: int = 560,
    bar_height: int = 22,
) -> str:
    """Horizontal bars, one per (label, value), with the value written after each bar."""
    label_width, top, gap = 250, 30, 6
    height = top + max(1, len(items)) * (bar_height + gap) + 10
    parts = _open(title, width, height, chart_id)
    if not items:
        parts.append(f'<text x="0" y="{top + 16}" {_FONT} fill="#555">no data in the period</text>')
        return "\n".join([*parts, "</svg>"])
    peak = max((v for _label, v in items), default=0) or 1
    room = width - label_width - 60
    for i, (label, value) in enumerate(items):
        y = top + i * (bar_height + gap)
        length = max(0.0, value) / peak * room
        parts.append(
            f"<g><title>{escape(label)}: {_number(value)}</title>"
            f'<text x="{label_width - 8}" y="{y + bar_height * 0.7:.1f}" text-anchor="end" '
            f"{_FONT}>{escape(_short(label))}</text>"
            f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar_height}" '
            f'fill="{PALETTE[0]}"/>'
            f'<text x="{label_width + length + 6:.1f}" y="{y + bar_height * 0.7:.1f}" '
            f"{_FONT}>{_number(value)}</text></g>"
        )
    return "\n".join([*parts, "</svg>"])


def _ticks(peak: float) -> list[float]:
    """Three to six round tick values from 0 up to at least ``peak``."""
    if peak <= 0:
        return [0.0, 1.0]
    raw = peak / 4
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    step = max(step, 1.0)
    return [i * step for i in range(math.ceil(peak / step) + 1)]


def line_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    chart_id: str,
    width: int = 720,
    height: int = 280,
) -> str:
    """One line per (name, values) over the labels (days or months), with axes and a legend."""
    left, right, top, bottom = 44, 16, 46, 46
    parts = _open(title, width, height, chart_id)
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((v for _name, values in series for v in values), default=0)
    ticks = _ticks(peak)
    scale = ticks[-1] or 1
    n = len(labels)

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h - plot_h * v / scale

    for t in ticks:
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y(t):.1f}" y2="{y(t):.1f}" '
            f'stroke="#ddd"/><text x="{left - 6}" y="{y(t) + 4:.1f}" text-anchor="end" '
            f"{_FONT}>{_number(t)}</text>"
        )
    every = max(1, math.ceil(n / 8))
    for i, label in enumerate(labels):
        if i % every == 0 or i == n - 1:
            anchor = "start" if i == 0 and n > 1 else "end" if i == n - 1 and n > 1 else "middle"
            parts.append(
                f'<text x="{x(i):.1f}" y="{top + plot_h + 18}" text-anchor="{anchor}" '
                f"{_FONT}>{escape(label)}</text>"
            )
    for k, (name, values) in enumerate(series):
        colour, dash = PALETTE[k % len(PALETTE)], DASHES[k % len(DASHES)]
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
        parts.append(
            f'<polyline class="series" fill="none" stroke="{colour}" stroke-width="2" '
            f'stroke-dasharray="{dash}" points="{points}"><title>{escape(name)}</title></polyline>'
        )
        lx = left + k * 170
        parts.append(
            f'<line x1="{lx}" x2="{lx + 22}" y1="{height - 10}" y2="{height - 10}" '
            f'stroke="{colour}" stroke-width="3" stroke-dasharray="{dash}"/>'
            f'<text x="{lx + 28}" y="{height - 6}" {_FONT}>{escape(_short(name, 24))}</text>'
        )
    return "\n".join([*parts, "</svg>"])
