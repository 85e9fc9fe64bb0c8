"""The dashboard benchmark runs end to end at tiny sizes: JSON on stdout, every page there.

Figures are not checked (tests never assert wall-clock times), only that the report is
complete and consistent, that every page answered 200 with a Server-Timing figure, and
that the exit status follows the targets missed.
"""

from __future__ import annotations

import pytest

from tests.devtools.conftest import QuickBench

PAGES = {
    "networks",
    "network",
    "network_table",
    "network_estimates",
    "transformation",
    "task",
    "services",
}


@pytest.mark.slow
def test_quick_run_prints_a_complete_json_report(run_quick_bench: QuickBench) -> None:
    report, returncode = run_quick_bench("devtools.bench.dashboard")
    assert report["benchmark"] == "dashboard"
    measurements = report["measurements"]
    assert set(measurements) == PAGES
    repeats = report["sizes"]["repeats"]
    for name, m in measurements.items():
        details = m["details"]
        assert details["statuses"] == [200], name
        assert m["conditions"] == {"answered_200": True}, name
        assert m["unit"] == "ms", name
        assert m["target"] == "<= 300 ms", name
        assert isinstance(m["met"], bool), name
        assert m["value"] > 0, name
        assert m["baseline"] > 0, name
        assert m["ratio"] == pytest.approx(m["value"] / m["baseline"], rel=1e-2, abs=1e-3), name
        assert m["baseline_call"], name
        assert len(m["runs"]) == len(m["baseline_runs"]) == repeats, name
        assert len(details["warmup_server_ms"]) == 3, name
        for figure in ("server_ms", "client_ms", "service_layer_ms"):
            assert 0 < details[figure]["median"] <= details[figure]["p90"], (name, figure)
        assert details["page_bytes"] > 0, name
    missed = [name for name, m in measurements.items() if m["met"] is False]
    assert report["targets_missed"] == missed
    assert returncode == (1 if missed else 0)

    sizes, fill = report["sizes"], report["fill"]
    assert measurements["network"]["details"]["shows"] == {
        "transformations": sizes["transformations"],
        "tasks": sizes["tasks"],
    }
    assert measurements["networks"]["details"]["shows"]["networks"] == 1
    assert fill["claimed"] == sizes["claimed"]
    assert fill["finished"] == sizes["finished"]
    estimates = measurements["network_estimates"]["details"]["shows"]
    assert estimates["results"] == sizes["finished"]
    task = measurements["task"]["details"]["shows"]
    assert task["units"] == fill["real_task"]["units"]
    assert task["unit_attempts"] == fill["real_task"]["ok_units"] + 1
    assert task["failures"] == 1
    services = measurements["services"]["details"]["shows"]
    assert services == {
        "services": sizes["services"],
        "tasks_held": sizes["claimed"] - sizes["finished"],
    }
    assert report["http_floor"]["median_ms"] > 0
