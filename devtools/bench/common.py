"""Helpers shared by the benchmarks (and the memory-bound tests): progress, sizes, peak RSS."""

from __future__ import annotations

import argparse
import os
import platform
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import psutil


def log(message: str) -> None:
    """Progress on stderr (stdout is the JSON report)."""
    print(message, file=sys.stderr, flush=True)


def machine(load_before: tuple[float, float, float], **extra: Any) -> dict[str, Any]:
    """A report's ``machine`` part: cores, platform, Python, ``extra`` and the load around
    the run (on two cores shared with other work, check it before reading any figure)."""
    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        **extra,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def fill_size_defaults(
    args: argparse.Namespace, full: Mapping[str, Any], quick: Mapping[str, Any]
) -> None:
    """Give every size option left unset its default: ``quick``'s under ``--quick``, else
    ``full``'s (the issue's sizes)."""
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)


class PeakRSS:
    """This process's peak resident memory while :meth:`watching`, sampled every 5 ms.

    ``growth`` is the peak minus the value at construction. One instance watches once.
    """

    def __init__(self) -> None:
        self._process = psutil.Process()
        self.start: int = self._process.memory_info().rss
        self.peak: int = self.start
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._process.memory_info().rss)

    @contextmanager
    def watching(self) -> Iterator[PeakRSS]:
        """Sample in a helper thread for the duration of the block."""
        thread = threading.Thread(target=self._sample, name="peak-rss", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()
            self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def growth(self) -> int:
        """Peak minus starting RSS, in bytes."""
        return self.peak - self.start
