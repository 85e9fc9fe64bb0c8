"""Server-rendered SVG: the per-transformation estimate chart and status bars.

Plain SVG with presentation attributes only (no inline style, no script), so the
dashboard's Content-Security-Policy stays strict. Every text is XML-escaped.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from xml.sax.saxutils import escape, quoteattr

from alchemiscale_like.models.estimate import TransformationEstimate
from alchemiscale_like.services.overview import STATUS_ORDER, StatusCounts

#: Fill colour of each Task status in bars and legends.
STATUS_COLOURS: dict[str, str] = {
    "complete": "#2e7d32",
    "running": "#1565c0",
    "waiting": "#9e9e9e",
    "error": "#c62828",
    "invalid": "#6d4c41",
    "deleted": "#424242",
}

#: Most transformations one chart draws (the rest are counted in a note).
MAX_CHART_ROWS = 300

_ROW = 22
_LABEL = 260
_PLOT = 520
_TOP = 34
_BOTTOM = 40


def status_bar(status: StatusCounts, width: int = 220, height: int = 14) -> str:
    """A stacked bar of Task counts by status, with a tooltip per segment."""
    parts = [
        f'<svg class="bar" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{status.total} tasks">',
        f'<rect width="{width}" height="{height}" fill="#eeeeee"/>',
    ]
    x = 0.0
    for name in STATUS_ORDER:
        n = status.get(name)
        if not n:
            continue
        w = width * n / status.total
        parts.append(
            f'<rect x="{x:.2f}" width="{w:.2f}" height="{height}" '
            f'fill="{STATUS_COLOURS[name]}"><title>{name}: {n}</title></rect>'
        )
        x += w
    parts.append("</svg>")
    return "".join(parts)


def progress_bar(done: int, total: int, width: int = 160, height: int = 12) -> str:
    """A bar of units done out of ``total``."""
    share = done / total if total else 0.0
    return (
        f'<svg class="bar" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{done} of {total} units">'
        f'<rect width="{width}" height="{height}" fill="#eeeeee"/>'
        f'<rect width="{width * share:.2f}" height="{height}" fill="{STATUS_COLOURS["complete"]}">'
        f"<title>{done} / {total} units</title></rect></svg>"
    )


def _nice_ticks(low: float, high: float, count: int = 6) -> list[float]:
    span = high - low
    step = 10 ** math.floor(math.log10(span / count))
    for factor in (1, 2, 5, 10):
        if span / (step * factor) <= count:
            step *= factor
            break
    first = math.ceil(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    return ticks


def _label(value: float) -> str:
    return f"{value:.6g}"


def estimate_chart(estimates: Sequence[TransformationEstimate]) -> str:
    """A forest plot: one row per transformation, its estimate with a one-sigma error bar."""
    rows = list(estimates)[:MAX_CHART_ROWS]
    if not rows:
        return '<p class="muted">No estimates yet: they appear as Tasks complete.</p>'
    lows = [r.estimate.estimate - (r.estimate.uncertainty or 0.0) for r in rows]
    highs = [r.estimate.estimate + (r.estimate.uncertainty or 0.0) for r in rows]
    low, high = min(lows), max(highs)
    if high - low < 1e-12:
        low, high = low - 1.0, high + 1.0
    pad = (high - low) * 0.05
    low, high = low - pad, high + pad

    def x(value: float) -> float:
        return _LABEL + (value - low) / (high - low) * _PLOT

    height = _TOP + _ROW * len(rows) + _BOTTOM
    width = _LABEL + _PLOT + 20
    units = {r.estimate.units for r in rows}
    axis = "estimate" + (f" ({units.pop()})" if len(units) == 1 and None not in units else "")
    parts = [
        f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="estimates of {len(rows)} transformations" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="12">',
        f'<text x="{_LABEL}" y="16" font-weight="bold">{escape(axis)} \u00b1 1\u03c3</text>',
    ]
    bottom = _TOP + _ROW * len(rows)
    for tick in _nice_ticks(low, high):
        tx = x(tick)
        parts.append(
            f'<line x1="{tx:.1f}" y1="{_TOP - 6}" x2="{tx:.1f}" y2="{bottom}" stroke="#e0e0e0"/>'
            f'<text x="{tx:.1f}" y="{bottom + 16}" text-anchor="middle">{_label(tick)}</text>'
        )
    if low < 0 < high:
        parts.append(
            f'<line x1="{x(0):.1f}" y1="{_TOP - 6}" x2="{x(0):.1f}" y2="{bottom}" '
            'stroke="#757575" stroke-dasharray="4 3"/>'
        )
    for i, row in enumerate(rows):
        y = _TOP + _ROW * i + _ROW / 2
        value, sigma = row.estimate.estimate, row.estimate.uncertainty
        name = row.name or row.transformation
        shown = name if len(name) <= 38 else name[:37] + "…"
        tip = f"{name}: {_label(value)}"
        if sigma is not None:
            tip += f" ± {_label(sigma)}"
        if row.estimate.units:
            tip += f" {row.estimate.units}"
        tip += f" ({row.n_results} result{'s' if row.n_results != 1 else ''})"
        parts.append(f'<g class="estimate" data-transformation={quoteattr(row.transformation)}>')
        parts.append(f"<title>{escape(tip)}</title>")
        parts.append(
            f'<text x="{_LABEL - 8}" y="{y + 4:.1f}" text-anchor="end">{escape(shown)}</text>'
        )
        if sigma:
            parts.append(
                f'<line x1="{x(value - sigma):.1f}" y1="{y:.1f}" x2="{x(value + sigma):.1f}" '
                f'y2="{y:.1f}" stroke="#37474f" stroke-width="1.5"/>'
            )
            for end in (value - sigma, value + sigma):
                parts.append(
                    f'<line x1="{x(end):.1f}" y1="{y - 5:.1f}" x2="{x(end):.1f}" '
                    f'y2="{y + 5:.1f}" stroke="#37474f" stroke-width="1.5"/>'
                )
        parts.append(f'<circle cx="{x(value):.1f}" cy="{y:.1f}" r="4" fill="#1565c0"/></g>')
    if len(estimates) > len(rows):
        parts.append(
            f'<text x="{_LABEL}" y="{height - 6}">… and {len(estimates) - len(rows)} more '
            "(see the JSON API)</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
