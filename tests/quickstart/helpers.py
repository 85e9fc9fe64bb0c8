"""Run ``alchemiscale-like quickstart`` as a subprocess and look at what it left behind."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[2]
#: Marks every process a test's quickstart starts (its children inherit the environment).
MARKER_VARIABLE = "QUICKSTART_TEST_MARKER"
#: Bounds one small quickstart run on a busy two-core machine.
RUN_TIMEOUT = 300


def quickstart_env(marker: str) -> dict[str, str]:
    """The environment of a test's quickstart: marked, and a wide plain-text console."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALCHEMISCALE_LIKE_")}
    env.update({MARKER_VARIABLE: marker, "COLUMNS": "160", "PYTHONPATH": str(ROOT)})
    return env


def run_command(
    *args: str, marker: str, timeout: float = RUN_TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """``python -m alchemiscale_like ARGS``, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "alchemiscale_like", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=quickstart_env(marker),
        cwd=ROOT,
    )


def run_quickstart(data_dir: Path, *args: str, marker: str) -> subprocess.CompletedProcess[str]:
    """A quickstart in ``data_dir`` with ``args`` (bounded by its own ``--timeout`` too)."""
    return run_command(
        "quickstart", "--data-dir", str(data_dir), "--timeout", "240", *args, marker=marker
    )


def survivors(marker: str, data_dir: Path) -> list[psutil.Process]:
    """Live processes a quickstart started: marked, or naming the data folder."""
    found = []
    for process in psutil.process_iter():
        if process.pid == os.getpid():
            continue
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                continue  # exited; only its parent has yet to reap it
            environ = process.environ()
            cmdline = " ".join(process.cmdline())
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        if environ.get(MARKER_VARIABLE) == marker or str(data_dir) in cmdline:
            found.append(process)
    return found


def kill_survivors(marker: str, data_dir: Path) -> None:
    """Clean up after a failed test: SIGKILL whatever a quickstart left."""
    for process in survivors(marker, data_dir):
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()


def read_summary(data_dir: Path) -> dict[str, Any]:
    """The quickstart's ``summary.json``."""
    summary: dict[str, Any] = json.loads((data_dir / "summary.json").read_text())
    return summary


def assert_estimates_match_exact(summary: dict[str, Any], stdout: str, tasks: int) -> None:
    """Both transformations are in the table, each within 4 sigma of its exact value."""
    rows = summary["transformations"]
    assert sorted(row["name"] for row in rows) == ["ligand0->ligand1", "ligand0->ligand2"]
    for row in rows:
        assert row["tasks"] == tasks
        assert row["uncertainty"] > 0
        assert abs(row["estimate"] - row["exact"]) < 4 * row["uncertainty"], row
        # The printed table shows the same numbers.
        line = next(line for line in stdout.splitlines() if row["name"] in line and "±" in line)
        assert f"{row['estimate']:.4f} ± {row['uncertainty']:.4f}" in line
        assert f"{row['exact']:.4f}" in line


def service_events(log: Path) -> list[dict[str, Any]]:
    """The JSON events of a compute service's log."""
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


def readme_python_example() -> str:
    """The code block of the README's "## Python example" section."""
    section = (ROOT / "README.md").read_text().split("\n## Python example\n", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "README's Python example has no python code block"
    return match.group(1)
