"""What a run prints: progress lines on stderr and the JSON report (built here) on stdout."""

from __future__ import annotations

import os
import platform
import sys
import time
from typing import Any

import neo4j

from devtools.bench.statestore.server import Bench


def log(message: str) -> None:
    """Progress on stderr (stdout is the JSON report)."""
    print(message, file=sys.stderr, flush=True)


def build_report(
    bench: Bench, server: dict[str, Any], started: float, load_before: tuple[float, float, float]
) -> dict[str, Any]:
    """The JSON report of a finished run; ``started`` is its ``time.monotonic()`` start."""
    missed = [name for name, m in bench.results.items() if m.met() is False]
    report: dict[str, Any] = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "neo4j_driver": neo4j.__version__,
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "neo4j": server,
        "measurements": {name: m.to_json() for name, m in bench.results.items()},
        "targets_missed": missed,
        "seconds": round(time.monotonic() - started, 1),
    }
    if bench.profiles:
        report["profiles"] = bench.profiles
    return report
