"""The load benchmark runs end to end at ``--quick`` sizes: JSON on stdout, every check held.

Figures are not checked (tests never assert wall-clock times): only that the report is
complete, that every Task was completed, none claimed twice and none lost, and that
the exit status follows the checks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from devtools.bench.load.fleet import claim_latencies
from tests.devtools.conftest import QuickBench

#: ``--quick`` sizes (devtools/bench/load/__main__.py).
QUICK_SERVICES, QUICK_TASKS, QUICK_LONE_CLAIMS = 4, 32, 16


def _event(second: float, event: str, **fields: Any) -> str:
    ts = f"2026-12-01T10:00:{second:06.3f}+00:00"
    return json.dumps({"ts": ts, "level": "INFO", "event": event, **fields}) + "\n"


def test_claim_latencies_are_the_spans_from_a_task_done_to_the_next_claim(
    tmp_path: Path,
) -> None:
    log = tmp_path / "service.log"
    log.write_text(
        _event(0.0, "service_start")
        + _event(1.0, "claim", task="a")  # after empty polling: not a timed span
        + _event(1.5, "task_done", task="a", status="complete")
        + _event(1.625, "claim", task="b")
        + _event(2.0, "task_done", task="b", status="complete")
        + _event(2.25, "claim", task="c")
        + _event(2.25, "claim", task="d")  # the same call (tasks_per_claim 2)
        + _event(3.0, "task_done", task="c", status="complete")
        + _event(3.5, "task_done", task="d", status="complete")
        + _event(4.0, "signal")
    )
    assert claim_latencies(log) == pytest.approx([0.125, 0.25])
    assert claim_latencies(tmp_path / "missing.log") == []


@pytest.mark.slow
def test_quick_run_completes_every_task_once(run_quick_bench: QuickBench) -> None:
    report, returncode = run_quick_bench("devtools.bench.load")
    assert report["benchmark"] == "load"
    assert report["aborted"] is None
    assert report["leftover_processes"] == []
    assert len(report["machine"]["load_average_before"]) == 3
    assert report["sizes"]["services"] == QUICK_SERVICES
    assert report["sizes"]["tasks"] == QUICK_TASKS
    assert report["checks"] == {
        "all_complete": True,
        "double_claims": 0,
        "lost": 0,
        "services_exited_0": True,
        "logs_agree": True,
    }
    measurements = report["measurements"]
    assert set(measurements) == {"throughput", "claim_latency_p50", "claim_latency_p99"}
    for name, m in measurements.items():
        assert m["value"] > 0, name
        assert m["baseline"] > 0, name
        assert m["baseline_call"], name
    throughput = measurements["throughput"]
    assert throughput["met"] is True
    assert all(throughput["conditions"].values())
    details = throughput["details"]
    assert details["fleet"]["ended"] == "complete"
    assert set(details["fleet"]["exit_codes"]) == {f"load{i:02d}" for i in range(QUICK_SERVICES)}
    stored = details["stored"]
    assert stored["statuses"] == {"complete": QUICK_TASKS}
    assert stored["claimed_more_than_once"] == stored["lost"] == stored["claims_still_held"] == 0
    assert stored["unit_results"] == stored["dag_results"] == QUICK_TASKS
    logs = details["logs"]
    assert logs["claimed_tasks"] == logs["done_tasks"] == logs["unit_starts"] == QUICK_TASKS
    assert logs["claimed_twice"] == logs["done_twice"] == logs["units_started_twice"] == 0
    assert sum(logs["tasks_by_service"].values()) == QUICK_TASKS
    assert details["network_status_user_api"] == {"complete": QUICK_TASKS}
    assert details["baseline"]["ok"] is True
    latency = measurements["claim_latency_p99"]["details"]
    # Each service's first claim follows empty polling and is not timed.
    assert QUICK_TASKS - QUICK_SERVICES <= latency["claims_timed"] < QUICK_TASKS
    lone = latency["lone_claims"]["api_one_client"]
    assert lone["tasks_claimed"] == QUICK_LONE_CLAIMS
    assert lone["double_claims_client"] == lone["double_claims_store"] == 0
    assert report["targets_missed"] == []
    assert returncode == 0
