"""What a run prints: progress lines on stderr and the JSON report (built here) on stdout."""

from __future__ import annotations

import sys
import time
from typing import Any

from devtools.bench.api.measurement import Measurement
from devtools.bench.common import machine


def log(message: str) -> None:
    """Progress on stderr (stdout is the JSON report)."""
    print(message, file=sys.stderr, flush=True)


def build_report(
    results: dict[str, Measurement],
    sizes: dict[str, Any],
    servers: dict[str, Any],
    started: float,
    load_before: tuple[float, float, float],
) -> dict[str, Any]:
    """The JSON report of a finished run; ``started`` is its ``time.monotonic()`` start."""
    return {
        "benchmark": "api",
        "machine": machine(load_before),
        "sizes": sizes,
        "servers": servers,
        "measurements": {name: m.to_json() for name, m in results.items()},
        "targets_missed": [name for name, m in results.items() if m.met() is False],
        "seconds": round(time.monotonic() - started, 1),
    }
