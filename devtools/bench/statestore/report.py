"""The JSON report (built here) on stdout: each backend's figures, and side by side."""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import neo4j

from devtools.bench.common import machine
from devtools.bench.statestore.bench import Bench, Sizes


def backend_report(bench: Bench, database: dict[str, Any], seconds: float) -> dict[str, Any]:
    """One backend's part of the report: its database, measurements and misses."""
    out: dict[str, Any] = {
        "database": database,
        "measurements": {name: m.to_json() for name, m in bench.results.items()},
        "targets_missed": [name for name, m in bench.results.items() if m.met() is False],
        "seconds": round(seconds, 1),
    }
    if bench.backend.profiles:
        out["profiles"] = bench.backend.profiles
    return out


def side_by_side(backends: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Measurement -> unit, target, each backend's value and baseline, and ``met`` per
    backend (a backend without the measurement is left out of it)."""
    table: dict[str, dict[str, Any]] = {}
    for name, part in backends.items():
        for measurement, m in part["measurements"].items():
            row = table.setdefault(
                measurement,
                {"unit": m["unit"], "target": m["target"], "baseline": {}, "met": {}},
            )
            row[name] = m["value"]
            row["baseline"][name] = m["baseline"]
            row["met"][name] = m["met"]
    return table


def build_report(
    backends: dict[str, dict[str, Any]],
    sizes: Sizes,
    started: float,
    load_before: tuple[float, float, float],
) -> dict[str, Any]:
    """The JSON report of a finished run; ``started`` is its ``time.monotonic()`` start."""
    return {
        "machine": machine(
            load_before, neo4j_driver=neo4j.__version__, sqlite=sqlite3.sqlite_version
        ),
        "sizes": sizes.to_json(),
        "side_by_side": side_by_side(backends),
        "targets_missed": [
            f"{name}/{measurement}"
            for name, part in backends.items()
            for measurement in part["targets_missed"]
        ],
        "backends": backends,
        "seconds": round(time.monotonic() - started, 1),
    }
