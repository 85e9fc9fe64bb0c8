"""The state store benchmark runs end to end on SQLite at tiny sizes: JSON on stdout.

Figures are not checked (tests never assert wall-clock times), only that the report is
complete and consistent (each backend's measurements, the side-by-side table, the
misses named by backend), that no claim run claimed a task twice, and that the exit
status follows the targets missed. Neo4j is left out: it needs a server of its own.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devtools.servers.common import REPO_ROOT

MEASUREMENTS = {
    "client_network_record_from_chain",
    "submit_network",
    "read_network",
    "create_tasks_1000",
    "action_tasks_1000",
    "claims_count1_shared_store",
    "claims_count1_store_per_thread",
    "claims_count10_shared_store",
    "claims_count10_store_per_thread",
    "network_status_100k",
    *(
        f"cold_claims_after_{when}_{variant}"
        for when in ("fill", "reset")
        for variant in ("shared_store", "store_per_thread")
    ),
}


def _run(tmp_path: Path) -> tuple[dict[str, Any], int]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "devtools.bench.statestore",
            "--backends",
            "sqlite",
            "--quick",
            "--sqlite-dir",
            str(tmp_path),
            "--profile",
            "--time-limit",
            "120",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=180,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr.decode(errors="replace")[-4000:]
    return json.loads(result.stdout), result.returncode


def test_quick_sqlite_run_prints_a_complete_json_report(tmp_path: Path) -> None:
    report, returncode = _run(tmp_path)
    assert report["sizes"]["hub_tasks"] < 1000  # --quick
    assert set(report["backends"]) == {"sqlite"}
    sqlite = report["backends"]["sqlite"]
    assert sqlite["database"]["journal_mode"] == "wal"
    measurements = sqlite["measurements"]
    assert set(measurements) == MEASUREMENTS
    for name, m in measurements.items():
        assert m["value"] >= 0, name
        if name != "client_network_record_from_chain":
            assert m["baseline"] is not None, name
            assert m["baseline_query"], name
        if m["target"] is None:
            assert m["met"] is None, name
        else:
            assert isinstance(m["met"], bool), name

    missed = [name for name, m in measurements.items() if m["met"] is False]
    assert sqlite["targets_missed"] == missed
    assert report["targets_missed"] == [f"sqlite/{name}" for name in missed]
    assert returncode == (1 if missed else 0)

    table = report["side_by_side"]
    assert set(table) == MEASUREMENTS
    for name, row in table.items():
        assert row["sqlite"] == measurements[name]["value"], name
        assert row["baseline"] == {"sqlite": measurements[name]["baseline"]}, name
        assert row["met"] == {"sqlite": measurements[name]["met"]}, name
        assert row["target"] == measurements[name]["target"], name

    for name in MEASUREMENTS:
        if "claims" not in name:
            continue
        details = measurements[name]["details"]
        assert details["tasks_claimed"] > 0, name
        assert details["errors"] == [], name
        assert details["double_claims_client"] == 0, name
        assert details["double_claims_store"] == 0, name
        assert details["store_view_agrees"] is True, name

    assert "claim_tasks: CANDIDATES" in sqlite["profiles"]
    assert list(tmp_path.iterdir()) == []  # the database's folder is gone


@pytest.mark.parametrize(
    "options", [["--backends", "mysql"], ["--quick", "--hub-tasks", "100"]], ids=str
)
def test_bad_options_are_refused(options: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "devtools.bench.statestore", *options],
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == b""
