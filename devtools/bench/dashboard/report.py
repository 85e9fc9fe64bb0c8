"""The JSON report of a run (printed on stdout by ``__main__``)."""

from __future__ import annotations

import time
from typing import Any

from devtools.bench.api.measurement import Measurement
from devtools.bench.common import machine


def build_report(
    results: dict[str, Measurement],
    sizes: dict[str, Any],
    fill: dict[str, Any],
    http_floor: dict[str, Any],
    servers: dict[str, Any],
    started: float,
    load_before: tuple[float, float, float],
) -> dict[str, Any]:
    """The report of a finished run; ``started`` is its ``time.monotonic()`` start."""
    return {
        "benchmark": "dashboard",
        "machine": machine(load_before),
        "sizes": sizes,
        "servers": servers,
        "fill": fill,
        "http_floor": {"call": "GET /ping of the user API, client ms"} | http_floor,
        "measurements": {name: m.to_json() for name, m in results.items()},
        "targets_missed": [name for name, m in results.items() if m.met() is False],
        "seconds": round(time.monotonic() - started, 1),
    }
