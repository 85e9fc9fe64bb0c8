"""How a figure is taken and kept: timing helpers and :class:`Measurement`."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass
class Measurement:
    """One measured figure with its target, baseline and alchemiscale's published figure."""

    value: float
    unit: str
    target: float | None = None
    higher_is_better: bool = False
    alchemiscale: str | None = None
    baseline: float | None = None
    baseline_query: str | None = None
    runs: list[float] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def met(self) -> bool | None:
        """Whether the target is met (None without a target)."""
        if self.target is None:
            return None
        return self.value >= self.target if self.higher_is_better else self.value <= self.target

    def to_json(self) -> dict[str, Any]:
        """The JSON form."""
        target = None
        if self.target is not None:
            target = f"{'>=' if self.higher_is_better else '<='} {self.target} {self.unit}"
        out: dict[str, Any] = {
            "value": round(self.value, 4),
            "unit": self.unit,
            "target": target,
            "met": self.met(),
            "alchemiscale": self.alchemiscale,
            "baseline": None if self.baseline is None else round(self.baseline, 4),
            "baseline_query": self.baseline_query,
        }
        if self.runs:
            out["runs"] = [round(r, 4) for r in self.runs]
        if self.details:
            out["details"] = self.details
        return out


def timed(work: Callable[[], T]) -> tuple[float, T]:
    """Seconds taken by ``work()``, and its result."""
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def load() -> float:
    """The 1-minute load average (other processes skew every figure)."""
    return round(os.getloadavg()[0], 2)


def interleaved(
    store: Callable[[], object], bare: Callable[[], object], repeats: int
) -> tuple[list[float], list[float]]:
    """Seconds of ``repeats`` alternating calls of ``store`` and ``bare``."""
    store_runs: list[float] = []
    bare_runs: list[float] = []
    for _ in range(repeats):
        store_runs.append(timed(store)[0])
        bare_runs.append(timed(bare)[0])
    return store_runs, bare_runs


def run_threads(work: Callable[[int], None], n: int) -> None:
    """Run ``work(i)`` for each ``i`` in ``range(n)`` on its own thread; wait for all."""
    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
