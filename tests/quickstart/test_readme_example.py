"""The README's Python example, run against a ``quickstart --keep-running`` server."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import psutil
import pytest

from alchemiscale_like.cli.quickstart.report import PYTHON_EXAMPLE
from tests.quickstart.helpers import (
    assert_estimates_match_exact,
    quickstart_env,
    read_summary,
    readme_python_example,
    run_command,
    run_quickstart,
    survivors,
)

_RESULT_LINE = re.compile(r"^(\S+): (\S+) ± (\S+) kT \(exact (\S+)\)$", re.MULTILINE)


def test_the_readme_example_is_the_one_quickstart_prints():
    assert readme_python_example() == PYTHON_EXAMPLE


@pytest.mark.slow
def test_keep_running_serves_the_readme_example_until_stop(data_dir, marker, tmp_path):
    done = run_quickstart(
        data_dir, "--keep-running", "--repeats", "1", "--n-steps", "4000", marker=marker
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = read_summary(data_dir)
    assert_estimates_match_exact(summary, done.stdout, tasks=1)
    assert PYTHON_EXAMPLE in done.stdout
    stop_line = f"alchemiscale-like quickstart --stop --data-dir {data_dir}"
    assert stop_line in done.stdout
    recorded = json.loads((data_dir / "processes.json").read_text())["processes"]
    assert sorted(p["name"] for p in recorded) == [
        "compute-api",
        "service-1",
        "service-2",
        "user-api",
    ]
    assert all(psutil.pid_exists(p["pid"]) for p in recorded)

    workdir = tmp_path / "example"
    workdir.mkdir()
    script = workdir / "example.py"
    script.write_text(readme_python_example())
    env = quickstart_env(marker) | {"ALCHEMISCALE_LIKE_CONFIG": str(data_dir / "client.yaml")}
    ran = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=workdir,
    )
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0] == "{'complete': 2}"
    printed = {
        name: (float(estimate), float(error), float(exact))
        for name, estimate, error, exact in _RESULT_LINE.findall(ran.stdout)
    }
    expected = {row["name"]: row for row in summary["transformations"]}
    assert printed.keys() == expected.keys()
    for name, (estimate, uncertainty, exact) in printed.items():
        row = expected[name]
        assert (estimate, uncertainty, exact) == tuple(
            round(row[k], 3) for k in ("estimate", "uncertainty", "exact")
        )
    downloaded = workdir / lines[-1]  # "." was the destination: the path is relative
    assert downloaded.parent == workdir
    assert np.load(downloaded).ndim == 2  # dU/dlambda samples: (samples, walkers)

    stopped = run_command("quickstart", "--stop", "--data-dir", str(data_dir), marker=marker)
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.strip() == "stopped: service-1, service-2, user-api, compute-api"
    assert survivors(marker, data_dir) == []
    assert not (data_dir / "processes.json").exists()
