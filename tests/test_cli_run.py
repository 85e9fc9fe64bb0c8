"""The local ``run`` command: results, resume after SIGKILL, bad input."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from alchemiscale_like.protocols import HarmonicTISettings
from alchemiscale_like.protocols.examples import harmonic_network

SLOW_ENOUGH = HarmonicTISettings(
    n_lambda=4,
    n_repeats=2,
    n_walkers=16,
    n_steps=20_000,
    n_equilibration=500,
    checkpoint_interval=2_000,
)


def cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "alchemiscale_like", *args],
        capture_output=True,
        text=True,
        timeout=300,
        **kwargs,
    )


def estimates(stdout: str) -> dict[str, tuple[float, float]]:
    rows = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    return {r["transformation"]: (r["estimate"], r["uncertainty"]) for r in rows}


def result_files(out: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in out.glob("*/units/*/*/result.json")}


@pytest.fixture(scope="module")
def network_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("net") / "network.json"
    path.write_text(harmonic_network(settings=SLOW_ENOUGH).to_json())
    return path


@pytest.fixture(scope="module")
def reference(network_file, tmp_path_factory) -> dict[str, tuple[float, float]]:
    out = tmp_path_factory.mktemp("reference")
    done = cli("run", str(network_file), "--out", str(out), "--seed", "5")
    assert done.returncode == 0, done.stderr
    return estimates(done.stdout)


@pytest.mark.slow  # a reference run, a killed run and a rerun of the whole network
@pytest.mark.parametrize("execution", ["inprocess", "processes"])
def test_sigkill_then_rerun_resumes_without_redoing_units(
    network_file, reference, tmp_path, execution
):
    out = tmp_path / "out"
    args = [
        "run",
        str(network_file),
        "--out",
        str(out),
        "--seed",
        "5",
        "--execution",
        execution,
        "--workers",
        "2",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "alchemiscale_like", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(result_files(out)) < 4:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = result_files(out)
    total_units = 2 * (2 + SLOW_ENOUGH.n_lambda * SLOW_ENOUGH.n_repeats)
    assert 4 <= len(before) < total_units, "killed midway"

    resumed = cli("--log-level", "INFO", *args)
    assert resumed.returncode == 0, resumed.stderr
    # Nothing completed before the kill ran again ...
    started = set(re.findall(r"event=unit_start unit=(\S+)", resumed.stderr))
    completed_before = {p.parts[-3] for p in before}
    assert started
    assert not started & completed_before
    # ... and what it wrote is untouched.
    after = result_files(out)
    assert all(after[p] == data for p, data in before.items())
    assert len(after) == total_units
    assert all(p.parts[-2] == "1" for p in after), "no unit needed a second attempt"
    # Fixed seeds + exact checkpoint resume: the same estimates as an uninterrupted run.
    assert estimates(resumed.stdout) == reference


def test_rerun_of_a_finished_run_executes_nothing(network_file, tmp_path):
    small = tmp_path / "small.json"
    small.write_text(
        harmonic_network(settings=HarmonicTISettings(n_steps=200, n_repeats=1)).to_json()
    )
    first = cli("run", str(small), "--out", str(tmp_path / "o"), "--seed", "1")
    assert first.returncode == 0, first.stderr
    again = cli("--log-level", "INFO", "run", str(small), "--out", str(tmp_path / "o"))
    assert again.returncode == 0, again.stderr
    assert "event=unit_start" not in again.stderr
    assert estimates(again.stdout) == estimates(first.stdout)


def test_run_one_transformation_and_example_command(tmp_path):
    path = tmp_path / "net.json"
    made = cli("example", str(path), "--n-steps", "200", "--n-repeats", "1")
    assert made.returncode == 0, made.stderr
    chain = json.loads(path.read_text())
    keys = [k for k, _ in chain if k.startswith("Transformation-")]
    assert len(keys) == 2
    done = cli("run", str(path), "--out", str(tmp_path / "o"), "--transformation", keys[0])
    assert done.returncode == 0, done.stderr
    assert list(estimates(done.stdout)) == [keys[0]]
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == [keys[0]]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "malformed JSON"),
        (
            '[["X-1", {"__module__": "os", "__qualname__": "system", ":version:": 1}]]',
            "unknown class os.system",
        ),
    ],
)
def test_bad_input_files_fail_clearly(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    done = cli("run", str(path), "--out", str(tmp_path / "o"))
    assert done.returncode != 0
    assert message in done.stderr
    assert not (tmp_path / "o").exists()


def test_failed_units_give_nonzero_exit(tmp_path):
    from alchemiscale_like.models import Transformation
    from alchemiscale_like.protocols.testing import FailingProtocol, FailingSettings
    from tests.execution.conftest import make_system

    t = Transformation(
        stateA=make_system(1.0),
        stateB=make_system(2.0),
        protocol=FailingProtocol(settings=FailingSettings(fail_on={"0": [1]})),
    )
    path = tmp_path / "t.json"
    path.write_text(t.to_json())
    done = cli(
        "run", str(path), "--out", str(tmp_path / "o"), "-m", "alchemiscale_like.protocols.testing"
    )
    assert done.returncode == 1
    assert "deliberate failure" in done.stdout
    # A retry on rerun succeeds: attempt 2.
    again = cli(
        "run", str(path), "--out", str(tmp_path / "o"), "-m", "alchemiscale_like.protocols.testing"
    )
    assert again.returncode == 0, again.stderr


def test_a_corrupted_result_file_stops_the_rerun_instead_of_changing_the_estimate(tmp_path):
    small = tmp_path / "small.json"
    network = harmonic_network(settings=HarmonicTISettings(n_steps=200, n_repeats=1))
    small.write_text(network.to_json())
    key = network.edges[0].key
    out = tmp_path / "o"
    first = cli("run", str(small), "--out", str(out), "--seed", "3", "--transformation", key)
    assert first.returncode == 0, first.stderr
    root = out / key
    results = {
        p: json.loads(p.read_text())[-1][1]["name"] for p in root.glob("units/*/*/result.json")
    }
    analysis = next(p for p, name in results.items() if name == "analysis")
    shutil.rmtree(analysis.parent.parent)
    (root / "result.json").unlink()
    sample = sorted(root.glob("units/*/*/files/*.npy"))[0]
    data = bytearray(sample.read_bytes())
    data[-3] ^= 0x01
    sample.write_bytes(bytes(data))

    again = cli("run", str(small), "--out", str(out), "--transformation", key)
    assert again.returncode != 0
    assert sample.name in again.stderr
    assert "sha256" in again.stderr
    assert estimates(again.stdout) == {}
    assert not (root / "result.json").exists()
