"""The compute benchmark runs end to end at tiny sizes: JSON on stdout, both measurements.

Figures are not checked (tests never assert wall-clock times), only that the report is
complete and consistent, that every Task was processed to completion exactly once (by
the service subprocesses and by the baseline), and that the exit status follows the
targets missed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from alchemiscale_like.models import ScopedKey
from devtools.bench.compute.fleet import FleetLog
from devtools.bench.compute.throughput import log_check, logs_ok
from tests.devtools.conftest import QuickBench

#: ``--quick`` sizes (devtools/bench/compute/__main__.py).
QUICK_TASKS, QUICK_SERVICES, QUICK_PROBE_TASKS, QUICK_WARMUP_TASKS = 12, 2, 3, 2

TASKS = [ScopedKey.from_str(f"Task-{i:032x}-benchapi-throughput-run") for i in range(3)]


def _write_log(path: Path, events: list[dict[str, Any]]) -> Path:
    stamped = [
        {"ts": f"2026-12-01T10:00:0{i}+00:00", "level": "INFO"} | e for i, e in enumerate(events)
    ]
    path.write_text("".join(json.dumps(e) + "\n" for e in stamped))
    return path


def _processing(task: ScopedKey, unit: str) -> list[dict[str, Any]]:
    return [
        {"event": "claim", "task": str(task)},
        {"event": "unit_start", "unit": unit, "attempt": 1},
        {"event": "task_done", "task": str(task), "status": "complete", "seconds": 0.1},
    ]


def test_the_log_check_passes_when_each_task_is_processed_once(tmp_path: Path) -> None:
    logs = {
        "a": _write_log(
            tmp_path / "a.log", _processing(TASKS[0], "u0") + _processing(TASKS[1], "u1")
        ),
        "b": _write_log(tmp_path / "b.log", _processing(TASKS[2], "u2")),
    }
    fleet = FleetLog.read(logs)
    check = log_check(fleet, TASKS)
    assert check["tasks_by_service"] == {"a": 2, "b": 1}
    assert fleet.seconds == 5.0  # first claim (a, 0 s) to last done (a, 5 s)
    assert logs_ok(check, len(TASKS))


def test_the_log_check_fails_when_a_task_is_processed_twice(tmp_path: Path) -> None:
    # Service b also claims and runs task 1 (the same DAG, so the same unit key).
    logs = {
        "a": _write_log(
            tmp_path / "a.log", _processing(TASKS[0], "u0") + _processing(TASKS[1], "u1")
        ),
        "b": _write_log(
            tmp_path / "b.log", _processing(TASKS[2], "u2") + _processing(TASKS[1], "u1")
        ),
    }
    check = log_check(FleetLog.read(logs), TASKS)
    assert check["claimed_twice"] == check["done_twice"] == check["units_started_twice"] == 1
    assert not logs_ok(check, len(TASKS))


def test_the_log_check_fails_when_a_task_is_never_done(tmp_path: Path) -> None:
    events = _processing(TASKS[0], "u0") + _processing(TASKS[1], "u1")
    logs = {"a": _write_log(tmp_path / "a.log", events[:-1] + _processing(TASKS[2], "u2"))}
    check = log_check(FleetLog.read(logs), TASKS)
    assert check["done_tasks"] == 2
    assert not logs_ok(check, len(TASKS))


@pytest.mark.slow
def test_quick_run_prints_a_complete_json_report(run_quick_bench: QuickBench) -> None:
    report, returncode = run_quick_bench("devtools.bench.compute")
    check_quick_report(report, returncode)


def check_quick_report(report: dict[str, Any], returncode: int) -> None:
    """Everything a ``--quick`` report must show (apart from its figures)."""
    assert report["benchmark"] == "compute"
    assert report["warmup"]["tasks"] == QUICK_WARMUP_TASKS
    assert len(report["machine"]["load_average_before"]) == 3
    measurements = report["measurements"]
    assert set(measurements) == {"checkpoint_overhead", "throughput"}
    for name, m in measurements.items():
        assert m["value"] > 0, name
        assert m["baseline"] > 0, name
        assert m["ratio"] == pytest.approx(m["value"] / m["baseline"], rel=1e-2, abs=1e-3), name
        assert m["baseline_call"], name
        assert isinstance(m["met"], bool), name
    missed = [name for name, m in measurements.items() if m["met"] is False]
    assert report["targets_missed"] == missed
    assert returncode == (1 if missed else 0)

    checkpoint = measurements["checkpoint_overhead"]
    assert checkpoint["target"] == "<= 1.15 x baseline"
    assert checkpoint["conditions"] == {"task_complete": True, "same_dag": True}
    calls = checkpoint["details"]["api_calls_last_run_per_unit"]["by_method"]
    assert calls["upload_unit_result"]["calls_per"] == 1.0  # one upload per unit, no more
    # A first claim finds no checkpoints, unit results or DAG (only a claimant stores
    # them), so the service does not ask for them.
    assert {"list_checkpoints", "get_unit_results", "get_task_dag"}.isdisjoint(calls)

    throughput = measurements["throughput"]
    assert throughput["conditions"] == {
        "all_complete": True,
        "none_processed_twice": True,
        "services_exited_0": True,
        "baseline_all_complete": True,
    }
    details = throughput["details"]
    assert details["tasks"] == QUICK_TASKS
    for stored in (details["stored"], details["baseline_stored"]):
        assert stored == {
            "tasks": QUICK_TASKS,
            "found": QUICK_TASKS,
            "statuses": {"complete": QUICK_TASKS},
            "claimed_more_than_once": 0,
            "not_exactly_one_dag": 0,
            "not_exactly_one_unit_result": 0,
            "not_exactly_one_dag_result": 0,
        }
    logs = details["logs"]
    assert logs["claimed_tasks"] == logs["done_tasks"] == logs["unit_starts"] == QUICK_TASKS
    assert logs["claimed_twice"] == logs["done_twice"] == logs["units_started_twice"] == 0
    assert logs["unknown_tasks"] == 0
    assert logs["statuses"] == {"complete": QUICK_TASKS}
    assert set(logs["exit_codes"]) == {f"fleet{i}" for i in range(QUICK_SERVICES)}
    assert sum(logs["tasks_by_service"].values()) == QUICK_TASKS
    assert details["baseline_errors"] == []
    probe = details["one_service_in_process"]
    assert probe["tasks"] == QUICK_PROBE_TASKS
    per_task = probe["api_per_task"]["by_method"]
    for method in ("get_task", "set_task_dag", "upload_unit_result", "finish_task"):
        assert per_task[method]["calls_per"] == 1.0, method
    # Nothing extended, first claims: those reads are skipped; the Tasks share one
    # Transformation, fetched once by the service.
    skipped = {"get_task_extends", "get_task_dag", "get_unit_results", "list_checkpoints"}
    assert skipped.isdisjoint(per_task)
    assert per_task["get_task_transformation"]["calls_per"] == round(1 / QUICK_PROBE_TASKS, 2)
