"""The API benchmark runs end to end at tiny sizes: JSON on stdout, every measurement there.

Figures are not checked (tests never assert wall-clock times), only that the report is
complete and consistent, that the claim run claimed without double claims or lost
tasks, and that the exit status follows the targets missed.
"""

from __future__ import annotations

import pytest

from tests.devtools.conftest import QuickBench

MEASUREMENTS = {
    "submit_network",
    "claims",
    "unit_result_upload_p50",
    "unit_result_upload_p99",
    "file_upload",
    "file_download",
}


@pytest.mark.slow
def test_quick_run_prints_a_complete_json_report(run_quick_bench: QuickBench) -> None:
    report, returncode = run_quick_bench("devtools.bench.api")
    measurements = report["measurements"]
    assert set(measurements) == MEASUREMENTS
    for name, m in measurements.items():
        assert m["value"] > 0, name
        assert m["baseline"] > 0, name
        assert m["ratio"] == pytest.approx(m["value"] / m["baseline"], rel=1e-2, abs=1e-3), name
        assert m["baseline_call"], name
        if m["target"] is None and not m["conditions"]:
            assert m["met"] is None, name
        else:
            assert isinstance(m["met"], bool), name
    missed = [name for name, m in measurements.items() if m["met"] is False]
    assert report["targets_missed"] == missed
    assert returncode == (1 if missed else 0)

    claims = measurements["claims"]["details"]
    assert claims["api"]["tasks_claimed"] > 0
    assert claims["api"]["errors"] == []
    assert claims["double_claims"] == 0
    assert claims["lost_tasks"] == 0
    assert claims["api"]["running_without_claim"] == 0

    unit = measurements["unit_result_upload_p50"]["details"]
    assert unit["uploads"] == 20
    assert 3000 <= unit["outputs_json_bytes"] <= 6000  # the "4 KB result" of the issue

    for name in ("file_upload", "file_download"):
        rss = measurements[name]["details"]["peak_rss_growth_mib"]
        assert set(rss) == {"client", "server"}
