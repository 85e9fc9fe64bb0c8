"""``results NETWORK --plot FILE``: the dashboard's estimate chart, drawn with matplotlib.

matplotlib is the optional ``plot`` extra; it is imported only when a chart is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click

from alchemiscale_like.models.estimate import TransformationEstimate

#: Image formats ``--plot`` writes (chosen by the file's suffix).
PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def check_plot_path(path: Path) -> Path:
    """``path`` if its suffix names a format :func:`write_estimate_chart` writes.

    Raises:
        click.BadParameter: another suffix.
    """
    if path.suffix.lower() not in PLOT_SUFFIXES:
        raise click.BadParameter(
            f"{path.name!r}: the chart is written as {', '.join(PLOT_SUFFIXES)} (by suffix)",
            param_hint="--plot",
        )
    return path


def write_estimate_chart(estimates: Sequence[TransformationEstimate], path: Path) -> None:
    """Draw one row per transformation: its estimate with a one-sigma error bar.

    Raises:
        click.ClickException: matplotlib is not installed, or there is nothing to draw.
    """
    if not estimates:
        raise click.ClickException("no transformation of this network has an estimate yet")
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only: never a display
        from matplotlib import pyplot
    except ImportError as exc:
        raise click.ClickException(
            "--plot needs matplotlib: pip install 'alchemiscale-like[plot]'"
        ) from exc
    rows = list(reversed(estimates))  # the first transformation at the top, as on the dashboard
    values = [row.estimate.estimate for row in rows]
    errors = [row.estimate.uncertainty or 0.0 for row in rows]
    names = [row.name or row.transformation for row in rows]
    units = {row.estimate.units for row in rows}
    label = "estimate" + (f" ({units.pop()})" if len(units) == 1 and None not in units else "")
    figure, axes = pyplot.subplots(figsize=(8, max(2.0, 0.35 * len(rows) + 1.2)))
    try:
        axes.errorbar(values, range(len(rows)), xerr=errors, fmt="o", capsize=4, color="#1565c0")
        axes.set_yticks(range(len(rows)), names)
        axes.set_xlabel(f"{label} \u00b1 1\u03c3")
        if (
            min(v - e for v, e in zip(values, errors, strict=True))
            < 0
            < max(v + e for v, e in zip(values, errors, strict=True))
        ):
            axes.axvline(0.0, color="#757575", linestyle="--", linewidth=1)
        axes.grid(axis="x", color="#e0e0e0")
        figure.tight_layout()
        figure.savefig(path)
    finally:
        pyplot.close(figure)
