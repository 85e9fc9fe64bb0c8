"""The README's Python example, run against a ``quickstart --keep-running`` server."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import psutil
import pytest
import requests
import yaml

from alchemiscale_like.cli.quickstart.demo import DEMO_NETWORK_NAME
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


_DASHBOARD = re.compile(
    r"^Dashboard\n  (http://127\.0\.0\.1:\d+/ui/)\n  log in as 'admin' with the key on the "
    r"'key:' line of (\S+)$",
    re.MULTILINE,
)


def assert_dashboard_login_works(stdout: str, data_dir: Path) -> None:
    """The printed dashboard URL and login lead to the demo network's page."""
    match = _DASHBOARD.search(stdout)
    assert match is not None, stdout
    url, config = match.groups()
    assert Path(config) == data_dir / "client.yaml"
    key = yaml.safe_load(Path(config).read_text())["key"]
    session = requests.Session()
    form = session.get(f"{url}login", timeout=30)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert csrf is not None
    answer = session.post(
        f"{url}login",
        data={"identifier": "admin", "key": key, "csrf_token": csrf.group(1)},
        timeout=30,
    )
    assert answer.status_code == 200
    assert answer.url == f"{url}networks"
    assert DEMO_NETWORK_NAME in answer.text  # the demo network is listed


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
    assert_dashboard_login_works(done.stdout, data_dir)

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
