"""One table from every benchmark's JSON report: a normalizer per report shape, and Markdown.

Each benchmark names and nests its figures its own way; :func:`normalize` turns a
report into :class:`Row` s (figure, value, unit, same-run baseline, ratio, target,
met) without inventing anything: a figure without a baseline has no ratio, a figure
without a target has ``met`` None, and targets are the benchmark's own wording.
Used by :mod:`devtools.bench.run_all`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

Report = dict[str, Any]


@dataclass(frozen=True)
class Row:
    """One figure of one benchmark, or one benchmark that gave no figure (``status``)."""

    benchmark: str
    figure: str
    value: float | None = None
    unit: str = ""
    baseline: float | None = None
    #: ``value / baseline`` (None without a baseline, or with a zero one).
    ratio: float | None = None
    #: "higher" or "lower": which way ``value`` (and so ``ratio``) is better.
    better: str = ""
    target: str | None = None
    #: True / False against ``target``; None if there is no target.
    met: bool | None = None
    #: "ok", or why there is no figure: "failed: ...", "not available: ...".
    status: str = "ok"

    def to_json(self) -> dict[str, Any]:
        """The JSON form (all fields)."""
        return asdict(self)


def ratio_of(value: float | None, baseline: float | None) -> float | None:
    """``value / baseline``, or None if either is missing or the baseline is zero."""
    if value is None or baseline is None or baseline == 0:
        return None
    return round(value / baseline, 3)


def better_way(target: str | None, unit: str) -> str:
    """Which way a figure is better: the target's sign if it has one, else its unit
    (a rate, ``.../s``, is better higher; a time or a size, lower)."""
    if target:
        if target.startswith(">="):
            return "higher"
        if target.startswith("<="):
            return "lower"
    return "higher" if unit.endswith("/s") else "lower"


def _with_conditions(target: str | None, conditions: dict[str, bool]) -> str | None:
    """The target and the names of the conditions that are part of it."""
    parts = ([target] if target else []) + sorted(conditions)
    return " and ".join(parts) if parts else None


def measurement_rows(benchmark: str, measurements: dict[str, Any], prefix: str = "") -> list[Row]:
    """Rows of a ``measurements`` mapping (name -> value, unit, baseline, target, met and,
    in the API-style reports, ratio and conditions)."""
    rows = []
    for name, m in measurements.items():
        unit = m.get("unit", "")
        target = _with_conditions(m.get("target"), m.get("conditions") or {})
        baseline = m.get("baseline")
        # The API-style reports give their own ratio (None for a zero baseline).
        ratio = m["ratio"] if "ratio" in m else ratio_of(m.get("value"), baseline)
        rows.append(
            Row(
                benchmark=benchmark,
                figure=prefix + name,
                value=m.get("value"),
                unit=unit,
                baseline=baseline,
                ratio=ratio,
                better=better_way(m.get("target"), unit),
                target=target,
                met=m.get("met"),
            )
        )
    return rows


def statestore_rows(report: Report) -> list[Row]:
    """State store: each backend's measurements, as ``backend/measurement``."""
    rows = []
    for backend, part in report["backends"].items():
        rows += measurement_rows("statestore", part["measurements"], prefix=f"{backend}/")
    return rows


def api_rows(report: Report) -> list[Row]:
    """API and compute benchmarks: one ``measurements`` mapping with ratios and conditions."""
    return measurement_rows(report.get("benchmark", "api"), report["measurements"])


def objectstore_rows(report: Report) -> list[Row]:
    """Object store: the large file through the store vs the faster raw boto3 variant
    (its target: >= 70 %), peak RSS growth (<= 64 MiB), and the small unit results vs a
    raw boto3 loop (no target)."""
    large = report["large_file"]
    mib_s = large["median_mib_per_s"]
    raw = [name for name in mib_s if name.startswith("raw_")]
    size = f"{large['size_mib']} MiB"
    rows = []
    for op in ("upload", "download"):
        best_raw = max(mib_s[name][op] for name in raw)
        for variant, target in (("store", ">= 0.7 x baseline"), ("store_known_sha256", None)):
            ratio = large["store_vs_best_raw"][variant][op]
            rows.append(
                Row(
                    benchmark="objectstore",
                    figure=f"large_file_{op}_{variant} ({size}, vs faster raw boto3)",
                    value=mib_s[variant][op],
                    unit="MiB/s",
                    baseline=best_raw,
                    ratio=ratio,
                    better="higher",
                    target=target,
                    met=None if target is None else ratio >= 0.7,
                )
            )
    for op, growth in large["store_peak_rss_growth_mib"].items():
        rows.append(
            Row(
                benchmark="objectstore",
                figure=f"large_file_{op}_store_peak_rss_growth",
                value=growth,
                unit="MiB",
                better="lower",
                target="<= 64 MiB",
                met=growth <= 64,
            )
        )
    small = report["small_unit_results"]
    per_s = small["objects_per_s"]
    for op in ("write", "read"):
        rows.append(
            Row(
                benchmark="objectstore",
                figure=f"small_unit_results_{op} ({small['count']}, vs raw boto3 loop)",
                value=per_s[f"store_{op}"],
                unit="objects/s",
                baseline=per_s[f"raw_boto3_{op}"],
                ratio=small["store_vs_raw"][op],
                better="higher",
            )
        )
    return rows


def load_rows(report: Report) -> list[Row]:
    """Load benchmark: API-style measurements (its checks are the throughput's conditions),
    and a missed row if it left processes running."""
    rows = api_rows(report)
    if report.get("leftover_processes"):
        left = ", ".join(report["leftover_processes"])
        rows.append(Row("load", f"processes left running: {left}", target="none", met=False))
    return rows


def generic_rows(report: Report) -> list[Row]:
    """Any other report: its ``measurements`` if it has them, and each of its ``checks``
    as a row whose target is to pass."""
    benchmark = report.get("benchmark", "?")
    rows = measurement_rows(benchmark, report.get("measurements") or {})
    checks = report.get("checks") or {}
    for name, check in checks.items() if isinstance(checks, dict) else []:
        passed = check.get("ok", check.get("met")) if isinstance(check, dict) else check
        rows.append(
            Row(
                benchmark=benchmark,
                figure=f"check: {name}",
                target="passes",
                met=passed if isinstance(passed, bool) else None,
            )
        )
    return rows


NORMALIZERS: dict[str, Callable[[Report], list[Row]]] = {
    "statestore": statestore_rows,
    "objectstore": objectstore_rows,
    "api": api_rows,
    "compute": api_rows,
    "load": load_rows,
}


def normalize(benchmark: str, report: Report) -> list[Row]:
    """The rows of one benchmark's report (unknown benchmarks: :func:`generic_rows`)."""
    return NORMALIZERS.get(benchmark, generic_rows)({"benchmark": benchmark} | report)


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3g}"


def _met(row: Row) -> str:
    if row.status != "ok":
        return row.status
    return {True: "yes", False: "**no**", None: "-"}[row.met]


HEADER = (
    "| benchmark | figure | value | unit | same-run baseline | ratio value/baseline "
    "| target | met |\n|---|---|---|---|---|---|---|---|"
)


def markdown_table(rows: Iterable[Row]) -> str:
    """One Markdown table of ``rows``; ``-`` where a row has no baseline, ratio or target."""
    lines = [HEADER]
    for row in rows:
        ratio = "-" if row.ratio is None else f"{row.ratio:.3g} ({row.better} is better)"
        cells = [
            row.benchmark,
            f"`{row.figure}`" if row.status == "ok" else row.figure,
            _number(row.value),
            row.unit or "-",
            _number(row.baseline),
            ratio,
            row.target or "-",
            _met(row),
        ]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


def caption(content: dict[str, Any]) -> str:
    """When, where and under which load the figures were taken: one line per run of a
    ``bench-results.json`` content (its ``runs`` if merged), as a Markdown list."""
    lines = []
    for run in content.get("runs") or [content]:
        m = run["machine"]
        names = ", ".join(run["benchmarks"])
        size = "quick sizes (`--quick`)" if run.get("quick") else "full sizes"
        finished = m.get("finished_utc", "(unfinished)")
        lines.append(
            f"- {names}: {size}, {m['started_utc']} to {finished} UTC, "
            f"{m['cpu_count']} CPUs ({m['platform']}), Python {m['python']}, "
            f"commit {m['git_commit']}, load average (1/5/15 min) "
            f"{'/'.join(map(str, m['load_average_before']))} before, "
            f"{'/'.join(map(str, m.get('load_average_after', ['?'])))} after."
        )
    return "\n".join(lines) + "\n"
