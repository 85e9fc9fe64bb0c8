"""``devtools.bench.run_all``: each benchmark's report normalized into rows, the Markdown
table, the exit status, and one real run of the cheapest benchmark at tiny sizes.

The reports here follow each benchmark's report builder (the state store one is a
trimmed ``--quick`` run, ``data/bench_statestore_quick.json``); figures are never
checked against wall-clock expectations.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from devtools.bench.report_table import Row, markdown_table, normalize
from devtools.bench.run_all import exit_status, main, parse_outcome, rows_of
from devtools.servers.common import REPO_ROOT

DATA = Path(__file__).parent / "data"


def _api_measurement(value: float, unit: str, baseline: float, **extra: Any) -> dict[str, Any]:
    """A measurement as ``devtools.bench.api.measurement.Measurement.to_json`` writes it."""
    ratio = round(value / baseline, 3) if baseline else None
    return (
        {"value": value, "unit": unit, "baseline": baseline, "ratio": ratio}
        | {
            "target": None,
            "conditions": {},
            "met": None,
            "baseline_call": "the same call in-process",
        }
        | extra
    )


API_REPORT: dict[str, Any] = {
    "benchmark": "api",
    "machine": {"cpu_count": 2},
    "measurements": {
        "submit_network": _api_measurement(2.5, "s", 1.25, target="<= 3.0 s", met=True),
        "claims": _api_measurement(
            120.0,
            "claims/s",
            400.0,
            target=">= 150.0 claims/s",
            conditions={"no_double_claim": True, "no_lost_task": True},
            met=False,
        ),
        "unit_result_upload_p99": _api_measurement(30.0, "ms", 0.0),
    },
    "targets_missed": ["claims"],
}

COMPUTE_REPORT: dict[str, Any] = {
    "benchmark": "compute",
    "measurements": {
        "checkpoint_overhead": _api_measurement(
            11.0, "s", 10.0, target="<= 1.15 x baseline", conditions={"same_dag": True}, met=True
        ),
    },
    "targets_missed": [],
}

OBJECTSTORE_REPORT: dict[str, Any] = {
    "benchmark": "objectstore",
    "large_file": {
        "size_mib": 1024,
        "median_mib_per_s": {
            "raw_boto3_default": {"upload": 100.0, "download": 200.0},
            "raw_boto3_store_config": {"upload": 120.0, "download": 180.0},
            "store": {"upload": 90.0, "download": 120.0},
            "store_known_sha256": {"upload": 110.0, "download": 121.0},
        },
        "store_vs_best_raw": {
            "store": {"upload": 0.75, "download": 0.6},
            "store_known_sha256": {"upload": 0.917, "download": 0.605},
        },
        "store_peak_rss_growth_mib": {"upload": 20.5, "download": 70.0},
        "targets_met": {"throughput_ge_70pct": False, "rss_growth_le_64mib": False},
    },
    "small_unit_results": {
        "count": 10000,
        "objects_per_s": {
            "store_write": 300.0,
            "raw_boto3_write": 400.0,
            "store_read": 500.0,
            "raw_boto3_read": 600.0,
        },
        "store_vs_raw": {"write": 0.75, "read": 0.833},
    },
    "load_average_1min": {"before": 0.1, "after": 0.2},
}


def _by_figure(rows: list[Row]) -> dict[str, Row]:
    return {row.figure: row for row in rows}


def test_statestore_rows_name_each_backend_and_keep_missing_baselines_missing() -> None:
    report = json.loads((DATA / "bench_statestore_quick.json").read_text())
    rows = _by_figure(normalize("statestore", report))
    measurements = report["backends"]["sqlite"]["measurements"]
    assert set(rows) == {f"sqlite/{name}" for name in measurements}
    claims = rows["sqlite/claims_count1_shared_store"]
    assert claims.target == ">= 300.0 claims/s"
    assert claims.better == "higher"
    assert claims.baseline == measurements["claims_count1_shared_store"]["baseline"]
    assert claims.ratio == round(claims.value / claims.baseline, 3)  # type: ignore[operator]
    no_baseline = rows["sqlite/client_network_record_from_chain"]
    assert (no_baseline.baseline, no_baseline.ratio, no_baseline.met) == (None, None, None)
    zero_baseline = rows["sqlite/read_network"]  # 0.0 after the report's rounding
    assert zero_baseline.baseline == 0.0
    assert zero_baseline.ratio is None
    untargeted = rows["sqlite/claims_count10_shared_store"]
    assert (untargeted.target, untargeted.met, untargeted.better) == (None, None, "higher")


def test_api_style_rows_keep_the_benchmarks_ratio_target_and_conditions() -> None:
    rows = _by_figure(normalize("api", API_REPORT))
    assert rows["submit_network"].ratio == 2.0
    assert rows["submit_network"].better == "lower"
    claims = rows["claims"]
    assert claims.target == ">= 150.0 claims/s and no_double_claim and no_lost_task"
    assert claims.met is False
    assert rows["unit_result_upload_p99"].ratio is None  # zero baseline: no ratio
    assert rows["unit_result_upload_p99"].met is None
    [overhead] = normalize("compute", COMPUTE_REPORT)
    assert overhead.benchmark == "compute"
    assert overhead.target == "<= 1.15 x baseline and same_dag"
    assert overhead.ratio == 1.1


def test_objectstore_rows_compare_with_the_faster_raw_variant() -> None:
    rows = _by_figure(normalize("objectstore", OBJECTSTORE_REPORT))
    upload = rows["large_file_upload_store (1024 MiB, vs faster raw boto3)"]
    assert (upload.value, upload.baseline, upload.ratio, upload.met) == (90.0, 120.0, 0.75, True)
    download = rows["large_file_download_store (1024 MiB, vs faster raw boto3)"]
    assert (download.baseline, download.met) == (200.0, False)
    known = rows["large_file_upload_store_known_sha256 (1024 MiB, vs faster raw boto3)"]
    assert (known.target, known.met) == (None, None)
    assert rows["large_file_download_store_peak_rss_growth"].met is False
    assert rows["large_file_download_store_peak_rss_growth"].baseline is None
    small = rows["small_unit_results_read (10000, vs raw boto3 loop)"]
    assert (small.baseline, small.ratio, small.met) == (600.0, 0.833, None)


def test_load_rows_show_the_conditions_and_processes_left_running() -> None:
    conditions = {"all_complete": True, "no_double_claim": True, "none_lost": False}
    report = {
        "benchmark": "load",
        "measurements": {
            "throughput": _api_measurement(40.0, "tasks/s", 80.0, conditions=conditions, met=False),
            "claim_latency_p50": _api_measurement(12.0, "ms", 6.0),
        },
        "checks": {"all_complete": True, "double_claims": 0, "lost": 3},
        "targets_missed": ["throughput"],
        "aborted": None,
        "leftover_processes": ["4242"],
    }
    rows = normalize("load", report)
    throughput = _by_figure(rows)["throughput"]
    assert throughput.target == "all_complete and no_double_claim and none_lost"
    assert (throughput.ratio, throughput.better, throughput.met) == (0.5, "higher", False)
    assert _by_figure(rows)["claim_latency_p50"].better == "lower"
    assert rows[-1].figure == "processes left running: 4242"
    assert rows[-1].met is False


def test_generic_rows_take_measurements_and_checks() -> None:
    report = {
        "measurements": {"tasks_per_s": {"value": 40.0, "unit": "tasks/s", "target": None}},
        "checks": {"every_task_complete": {"ok": True}, "no_double_claim": False},
        "targets_missed": ["no_double_claim"],
    }
    rows = _by_figure(normalize("future", report))
    assert rows["tasks_per_s"].baseline is None
    assert rows["tasks_per_s"].ratio is None
    assert rows["check: every_task_complete"].met is True
    assert rows["check: no_double_claim"].met is False


def test_markdown_shows_dashes_for_what_is_missing_and_one_row_per_figure() -> None:
    rows = normalize("api", API_REPORT) + rows_of(
        "load", {"error": "not available", "report": None}
    )
    table = markdown_table(rows)
    lines = table.splitlines()
    assert lines[0].startswith("| benchmark | figure | value | unit | same-run baseline |")
    assert len(lines) == 2 + len(rows)
    submit = "| api | `submit_network` | 2.50 | s | 1.25 | 2 (lower is better) | <= 3.0 s | yes |"
    assert submit in lines
    assert "| api | `unit_result_upload_p99` | 30.00 | ms | 0 | - | - | - |" in lines
    assert "**no**" in lines[3]
    assert lines[-1].endswith("| not available |")


def test_exit_status_failed_beats_missed_beats_met() -> None:
    ok = {"returncode": 0, "error": None, "report": COMPUTE_REPORT}
    missed = {"returncode": 1, "error": None, "report": API_REPORT}
    failed = {"returncode": 2, "error": "exit status 2", "report": None}
    absent = {"error": "not available", "report": None}

    def status(results: dict[str, dict[str, Any]]) -> int:
        rows = [row for name, result in results.items() for row in rows_of(name, result)]
        return exit_status(results, rows)

    assert status({"compute": ok, "load": absent}) == 0
    assert status({"compute": ok, "api": missed}) == 1
    assert status({"api": missed, "statestore": failed}) == 2
    [failed_row] = rows_of("statestore", failed)
    assert failed_row.status == "**failed**"
    assert "exit status 2" in failed_row.figure


def test_outcome_names_why_a_benchmark_did_not_run_to_the_end() -> None:
    report = json.dumps(COMPUTE_REPORT)
    assert parse_outcome(0, report, None) == {"report": COMPUTE_REPORT, "error": None}
    assert parse_outcome(1, report, None)["error"] is None  # a missed target, not a failure
    assert parse_outcome(2, "", None)["error"] == "exit status 2"
    assert parse_outcome(0, "", None)["error"] == "no JSON report on stdout"
    assert parse_outcome(0, "{", None)["error"] == "stdout is not one JSON report"
    assert parse_outcome(-2, "", "timed out after 5 s")["error"] == "timed out after 5 s"
    aborted = json.dumps({"measurements": {}, "aborted": "ran past --time-limit"})
    assert parse_outcome(1, aborted, None)["error"] == "aborted: ran past --time-limit"


def test_exit_status_1_without_a_missed_row_is_shown_as_a_miss() -> None:
    result = {"returncode": 1, "error": None, "report": COMPUTE_REPORT}
    rows = rows_of("compute", result)
    assert rows[-1].met is False
    assert exit_status({"compute": result}, rows) == 1


MACHINE: dict[str, Any] = {
    "cpu_count": 2,
    "platform": "Linux",
    "python": "3.11.7",
    "git_commit": "abc123",
    "started_utc": "2026-12-01T21:00:00+00:00",
    "finished_utc": "2026-12-01T21:30:00+00:00",
    "load_average_before": [0.5, 0.4, 0.3],
    "load_average_after": [1.5, 1.4, 1.3],
}


def test_from_json_re_renders_earlier_runs_merged(tmp_path: Path) -> None:
    api_run = {
        "machine": MACHINE,
        "quick": False,
        "benchmarks": {"api": {"returncode": 1, "error": None, "report": API_REPORT}},
    }
    compute_run = {
        "machine": MACHINE | {"load_average_before": [3.0, 2.0, 1.0]},
        "quick": True,
        "benchmarks": {"compute": {"returncode": 0, "error": None, "report": COMPUTE_REPORT}},
    }
    (tmp_path / "api.json").write_text(json.dumps(api_run))
    (tmp_path / "compute.json").write_text(json.dumps(compute_run))
    out = tmp_path / "out"
    files = [str(tmp_path / "api.json"), str(tmp_path / "compute.json")]
    assert main(["--from-json", *files, "--out", str(out)]) == 1
    written = json.loads((out / "bench-results.json").read_text())
    figures = [*API_REPORT["measurements"], *COMPUTE_REPORT["measurements"]]
    assert [row["figure"] for row in written["rows"]] == figures
    assert [run["benchmarks"] for run in written["runs"]] == [["api"], ["compute"]]
    caption, table = (out / "bench-results.md").read_text().split("\n\n")
    assert caption.splitlines()[0].startswith("- api: full sizes, 2026-12-01T21:00:00+00:00")
    assert "load average (1/5/15 min) 0.5/0.4/0.3 before, 1.5/1.4/1.3 after" in caption
    assert caption.splitlines()[1].startswith("- compute: quick sizes (`--quick`)")
    assert "`claims`" in table


def test_quick_run_of_the_sqlite_state_store_benchmark(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "devtools.bench.run_all",
            "--only",
            "statestore",
            "--quick",
            "--extra",
            f"statestore=--backends sqlite --sqlite-dir {tmp_path}",
            "--out",
            str(tmp_path),
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr[-4000:]
    written = json.loads((tmp_path / "bench-results.json").read_text())
    machine = written["machine"]
    assert machine["cpu_count"] >= 1
    assert len(machine["load_average_before"]) == len(machine["load_average_after"]) == 3
    assert machine["git_commit"]
    run = written["benchmarks"]["statestore"]
    assert run["command"][:3] == ["python", "-m", "devtools.bench.statestore"]
    assert "--quick" in run["command"]
    assert set(run["report"]["backends"]) == {"sqlite"}
    figures = {row["figure"] for row in written["rows"]}
    assert "sqlite/submit_network" in figures
    caption, table = (tmp_path / "bench-results.md").read_text().split("\n\n")
    assert caption.startswith("- statestore: quick sizes")
    assert table.count("\n") == 2 + len(written["rows"])
    missed = any(row["met"] is False for row in written["rows"])
    assert result.returncode == (1 if missed else 0)


def test_from_json_names_under_each_run_only_the_figures_it_gave(tmp_path: Path) -> None:
    first = {
        "machine": MACHINE,
        "quick": False,
        "benchmarks": {
            "api": {"returncode": 1, "error": None, "report": API_REPORT},
            "compute": {"returncode": 0, "error": None, "report": COMPUTE_REPORT},
        },
    }
    again = {
        "machine": MACHINE | {"started_utc": "2026-12-01T23:00:00+00:00"},
        "quick": False,
        "benchmarks": {"api": {"returncode": 0, "error": None, "report": API_REPORT}},
    }
    paths = []
    for name, run in (("first", first), ("again", again), ("third", again)):
        (tmp_path / f"{name}.json").write_text(json.dumps(run))
        paths.append(str(tmp_path / f"{name}.json"))
    out = tmp_path / "out"
    main(["--from-json", *paths, "--out", str(out)])
    written = json.loads((out / "bench-results.json").read_text())
    # The second run's api was run again by the third: only the third is named for it.
    assert [run["benchmarks"] for run in written["runs"]] == [["compute"], ["api"]]
    caption = (out / "bench-results.md").read_text().split("\n\n")[0].splitlines()
    assert caption[0].startswith("- compute: full sizes, 2026-12-01T21:00:00+00:00")
    assert caption[1].startswith("- api: full sizes, 2026-12-01T23:00:00+00:00")
