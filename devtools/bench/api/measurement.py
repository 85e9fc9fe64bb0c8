"""How a figure is taken and kept: timing, percentiles, RSS sampling and :class:`Measurement`."""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import psutil

T = TypeVar("T")
MIB = 1 << 20


@dataclass
class Measurement:
    """One figure through the API, the same work in-process (``baseline``), and its target.

    ``target`` applies to ``value`` or, with ``target_on="ratio"``, to
    ``value / baseline``; ``conditions`` are further parts of the target (no double
    claim, RSS growth within bounds) that must all hold for it to be met.
    """

    value: float
    unit: str
    baseline: float
    baseline_call: str
    target: float | None = None
    higher_is_better: bool = False
    target_on: Literal["value", "ratio"] = "value"
    conditions: dict[str, bool] = field(default_factory=dict)
    runs: list[float] = field(default_factory=list)
    baseline_runs: list[float] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        """``value / baseline`` (None if the baseline is zero)."""
        return self.value / self.baseline if self.baseline else None

    def met(self) -> bool | None:
        """Whether the target and every condition hold (None if there is neither)."""
        if self.target is None and not self.conditions:
            return None
        ok = all(self.conditions.values())
        if self.target is not None:
            figure = self.value if self.target_on == "value" else self.ratio
            if figure is None:
                return False
            ok = ok and (figure >= self.target if self.higher_is_better else figure <= self.target)
        return ok

    def to_json(self) -> dict[str, Any]:
        """The JSON form."""
        target = None
        if self.target is not None:
            sign = ">=" if self.higher_is_better else "<="
            what = self.unit if self.target_on == "value" else "x baseline"
            target = f"{sign} {self.target} {what}"
        ratio = self.ratio
        out: dict[str, Any] = {
            "value": round(self.value, 4),
            "unit": self.unit,
            "baseline": round(self.baseline, 4),
            "ratio": None if ratio is None else round(ratio, 3),
            "target": target,
            "conditions": self.conditions,
            "met": self.met(),
            "baseline_call": self.baseline_call,
        }
        if self.runs:
            out["runs"] = [round(r, 4) for r in self.runs]
        if self.baseline_runs:
            out["baseline_runs"] = [round(r, 4) for r in self.baseline_runs]
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


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile of ``values`` (nearest rank, inclusive)."""
    ordered = sorted(values)
    return ordered[round(fraction * (len(ordered) - 1))]


def median(values: Sequence[float]) -> float:
    """The median of ``values``."""
    return statistics.median(values)


def run_threads(work: Callable[[int], None], n: int) -> None:
    """Run ``work(i)`` for each ``i`` in ``range(n)`` on its own thread; wait for all."""
    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def tree_rss(process: psutil.Process) -> int:
    """RSS of ``process`` and all its descendants (a server's worker processes), in bytes."""
    total = process.memory_info().rss
    for child in process.children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


class PeakRSS:
    """Samples the RSS of some processes every 5 ms; ``growth`` is each peak minus its start.

    The processes named in ``trees`` are measured with their descendants, so a server
    with several worker processes is measured whole.
    """

    def __init__(self, pids: dict[str, int], trees: frozenset[str] = frozenset()) -> None:
        self._processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self._trees = trees
        self.start = {name: self._rss(name) for name in self._processes}
        self.peak = dict(self.start)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            for name in self._processes:
                self.peak[name] = max(self.peak[name], self._rss(name))

    def _rss(self, name: str) -> int:
        process = self._processes[name]
        return tree_rss(process) if name in self._trees else process.memory_info().rss

    @contextmanager
    def watching(self) -> Iterator[PeakRSS]:
        """Sample while the block runs."""
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()

    def growth_mib(self) -> dict[str, float]:
        """Peak RSS growth of each process, in MiB."""
        return {name: round((self.peak[name] - self.start[name]) / MIB, 1) for name in self.peak}
