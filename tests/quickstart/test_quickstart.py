"""``alchemiscale-like quickstart`` end to end, as a subprocess, with a small demo.

Each run deploys everything (both APIs, two compute services) on the embedded
stores, so the checks are combined into few runs: ``--demo-kill`` to its normal
end (results, resume, output, permissions, cleanup) in one; Ctrl-C in one. The
plain run without a kill, with the README's Python example against it, is the
``--keep-running`` quickstart of ``test_readme_example``.
"""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from alchemiscale_like.cli.quickstart.deployment import MARKER
from tests.quickstart.helpers import (
    ROOT,
    assert_estimates_match_exact,
    quickstart_env,
    read_summary,
    run_command,
    run_quickstart,
    service_events,
    survivors,
)

UNITS_PER_TASK = 7  # setup, five lambda windows, analysis


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _assert_output_points_the_way(stdout: str, data_dir: Path, summary: dict) -> None:
    """Where things are, and the commands to go on with."""
    network, task = summary["network"], summary["tasks"][0]
    for expected in (
        f"export ALCHEMISCALE_LIKE_CONFIG={data_dir}/client.yaml",
        f"alchemiscale-like status {network}",
        f"alchemiscale-like results {network}",
        f"alchemiscale-like files list {task}",
        f"{data_dir}/logs/",
        str(data_dir / "summary.json"),
        "UserClient(",
    ):
        assert expected in stdout


def _assert_secrets_stay_private(done: subprocess.CompletedProcess[str], data_dir: Path) -> None:
    """User-only files, never in the output or any log."""
    assert _mode(data_dir) == 0o700
    private = [
        data_dir / "client.yaml",
        data_dir / "compute.key",
        data_dir / "server.env",
        data_dir / "state.sqlite3",
        *(data_dir / "services").glob("*.yaml"),
    ]
    assert all(_mode(path) == 0o600 for path in private)
    secrets = [
        yaml.safe_load((data_dir / "client.yaml").read_text())["key"],
        (data_dir / "compute.key").read_text().strip(),
        *(
            line.split("=", 1)[1]
            for line in (data_dir / "server.env").read_text().splitlines()
            if "KEY=" in line
        ),
    ]
    assert len(secrets) == 4
    assert all(len(secret) >= 32 for secret in secrets)
    texts = [done.stdout, done.stderr, *(p.read_text() for p in (data_dir / "logs").glob("*"))]
    for secret in secrets:
        assert not any(secret in text for text in texts)


@pytest.mark.slow
def test_demo_kill_shows_the_units_the_other_service_reused(data_dir, marker):
    done = run_quickstart(
        data_dir, "--demo-kill", "--repeats", "1", "--n-steps", "12000", marker=marker
    )
    assert done.returncode == 0, done.stdout + done.stderr
    summary = read_summary(data_dir)
    assert_estimates_match_exact(summary, done.stdout, tasks=1)
    assert len(summary["tasks"]) == 2
    # Nothing it started is left after the normal end, and it says so.
    assert survivors(marker, data_dir) == []
    assert not (data_dir / "processes.json").exists()
    assert "all quickstart processes stopped" in done.stdout
    _assert_output_points_the_way(done.stdout, data_dir, summary)
    _assert_secrets_stay_private(done, data_dir)

    kill = summary["demo_kill"]
    assert (kill["killed"], kill["survivor"]) == ("service-1", "service-2")
    assert kill["task"] in summary["tasks"]
    reused = {u["key"]: u["name"] for u in kill["reused"]}
    ran = {u["key"]: u["name"] for u in kill["ran"]}
    # Killed mid-DAG: some units were done (setup first), some were not (analysis last).
    assert "setup" in reused.values()
    assert "analysis" in ran.values()
    assert not reused.keys() & ran.keys()
    assert len(reused) + len(ran) == UNITS_PER_TASK
    assert set(reused) <= set(kill["uploaded_before_kill"])
    # The survivor's own log agrees: it started none of the reused units, all of the rest.
    started = {
        e["unit"]
        for e in service_events(data_dir / "logs" / "service-2.log")
        if e["event"] == "unit_start"
    }
    assert not started & reused.keys()
    assert set(ran) <= started
    # The victim died (no clean stop), and its lease expired at the compute API.
    victim = [e["event"] for e in service_events(data_dir / "logs" / "service-1.log")]
    assert "service_stop" not in victim
    # The survivor stopped cleanly at the end (deregistered), not by SIGKILL.
    survivor = [e["event"] for e in service_events(data_dir / "logs" / "service-2.log")]
    assert survivor[-2:] == ["deregistered", "service_stop"]
    compute_log = (data_dir / "logs" / "compute-api.log").read_text()
    assert "event=lease_expired service=quickstart-compute~service-1" in compute_log
    # The output names the reused units.
    line = next(line for line in done.stdout.splitlines() if line.startswith("reused ("))
    assert all(name in line for name in reused.values())
    assert "SIGKILLed" in done.stdout


@pytest.mark.slow
def test_ctrl_c_stops_every_process_promptly(data_dir, marker, tmp_path):
    # An earlier quickstart's folder is replaced.
    data_dir.mkdir()
    (data_dir / MARKER).write_text("")
    (data_dir / "old.txt").write_text("from an earlier run")
    out = tmp_path / "out.txt"
    with out.open("w") as handle:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "alchemiscale_like",
                "quickstart",
                "--data-dir",
                str(data_dir),
                "--n-steps",
                "400000",
            ],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=quickstart_env(marker),
            cwd=ROOT,
            start_new_session=True,
        )
    try:
        # Mid-run: both services are working on their first task.
        deadline = time.monotonic() + 180
        logs = [data_dir / "logs" / f"service-{i}.log" for i in (1, 2)]
        while not all(log.exists() and "unit_uploaded" in log.read_text() for log in logs):
            assert proc.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.2)
        assert not (data_dir / "old.txt").exists()
        recorded = json.loads((data_dir / "processes.json").read_text())["processes"]
        assert len(recorded) == 4
        proc.send_signal(signal.SIGINT)
        returncode = proc.wait(timeout=90)  # bounds a hang; no timing is asserted
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = out.read_text()
    assert returncode == 130, text
    assert "interrupted" in text
    assert "replaced the earlier quickstart" in text
    assert survivors(marker, data_dir) == []
    assert not (data_dir / "processes.json").exists()
    # The services were stopped cleanly: they released their tasks and deregistered.
    for log in logs:
        events = [e["event"] for e in service_events(log)]
        assert "release" in events
        assert events[-2:] == ["deregistered", "service_stop"]


def test_refuses_a_folder_that_is_not_a_quickstarts(tmp_path, marker):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "thesis.tex").write_text("precious")
    done = run_command("quickstart", "--data-dir", str(folder), marker=marker, timeout=60)
    assert done.returncode == 1
    assert "is not a quickstart data folder" in done.stdout
    assert [p.name for p in folder.iterdir()] == ["thesis.tex"]


def test_stop_without_a_running_quickstart(tmp_path, marker):
    done = run_command(
        "quickstart", "--stop", "--data-dir", str(tmp_path / "none"), marker=marker, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "nothing was running" in done.stdout
