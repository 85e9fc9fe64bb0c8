"""Compute services as real subprocesses: SIGTERM and SIGKILL mid-DAG, then resume elsewhere.

What must survive: every unit result uploaded before the signal (no unit that
had uploaded its result runs again), the checkpoint of the sampling unit in
flight (the resumed unit continues from it), and the final answer (identical
to an uninterrupted run of the same DAG).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from alchemiscale_like import ComputeClient, UserClient
from alchemiscale_like.execution.dag_executor import DAGExecutor
from alchemiscale_like.execution.fetcher import FileFetcher
from alchemiscale_like.execution.unit_executor import UnitExecutor
from alchemiscale_like.models import ScopedKey
from alchemiscale_like.models.task import TaskStatus
from alchemiscale_like.protocols import HarmonicTISettings
from alchemiscale_like.protocols.examples import harmonic_network
from tests.server.conftest import KEYS, SCOPE, Deployment

#: Long enough sampling units that a signal lands mid-unit, after some checkpoints.
SLOW = HarmonicTISettings(
    n_lambda=2, n_repeats=1, n_walkers=16, n_steps=60_000, checkpoint_interval=2_000
)
WAIT = 240  # seconds: generous bounds for a busy machine; every wait also polls the process


def write_config(deployment: Deployment, tmp_path: Path, name: str) -> Path:
    config = {
        "api_url": deployment.compute_url,
        "identifier": "worker",
        "key": KEYS["worker"],
        "service_suffix": name,
        "scratch_dir": str(tmp_path / f"scratch-{name}"),
        "once": True,
        "idle_sleep": 0.1,
        "heartbeat_interval": 1.0,
        "checkpoint_interval": 0.3,
        "stop_grace": 0.0,
        "log_level": "INFO",
        "log_file": str(tmp_path / f"{name}.log"),
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start_service(config: Path) -> subprocess.Popen[bytes]:
    with open(config.with_suffix(".stderr"), "wb") as stderr:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "alchemiscale_like",
                "compute",
                "synchronous",
                "-c",
                str(config),
            ],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )


def wait_for(condition, proc: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if condition():
            return
        if proc.poll() is not None:
            raise AssertionError(f"service exited ({proc.returncode}) before {what}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def unit_starts(log: Path) -> list[str]:
    return re.findall(r"event=unit_start unit=(\S+)", log.read_text()) if log.exists() else []


def submit_one_task(deployment: Deployment) -> tuple[UserClient, ScopedKey]:
    alice = UserClient(deployment.user_url, "alice", KEYS["alice"], backoff=0.01)
    network_sk = alice.create_network(harmonic_network(settings=SLOW), SCOPE)
    transformation = alice.get_network_transformations(network_sk)[0]
    (task,) = alice.create_tasks(transformation)
    alice.action_tasks([task], network_sk)
    return alice, task


def uploaded_units(deployment: Deployment, task: ScopedKey) -> set[str]:
    return {r.unit_key for r in deployment.statestore.get_unit_results(task, ok_only=True)}


def has_checkpoint(deployment: Deployment, task: ScopedKey) -> bool:
    listed = deployment.objectstore.list_objects()
    return any("/checkpoint/" in o.location and o.location.endswith("CURRENT") for o in listed)


def reference_outputs(deployment: Deployment, task: ScopedKey, tmp_path: Path) -> dict:
    """The same DAG run uninterrupted here: unit key -> outputs with file hashes."""
    reader = ComputeClient(
        deployment.compute_url, "worker", KEYS["worker"], service_id="worker~ref", backoff=0.01
    )
    dag = reader.get_task_dag(task)
    assert dag is not None
    units = UnitExecutor(tmp_path / "ref", tmp_path / "ref-ck", FileFetcher(tmp_path / "ref-c"))
    result = DAGExecutor(units).execute(dag)
    assert result.ok()
    return {r.source_key: _comparable(r.outputs) for r in result.protocol_unit_results}


def _comparable(outputs: dict) -> dict:
    return {k: (v.sha256 if hasattr(v, "sha256") else v) for k, v in outputs.items()}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_a_service_stopped_mid_dag_is_resumed_by_another(
    deployment: Deployment, tmp_path: Path, signum: int
) -> None:
    alice, task = submit_one_task(deployment)
    first = start_service(write_config(deployment, tmp_path, "first"))
    try:
        # Mid-DAG: the setup unit is uploaded and a sampling unit has checkpointed.
        wait_for(
            lambda: uploaded_units(deployment, task) and has_checkpoint(deployment, task),
            first,
            "a uploaded unit and an uploaded checkpoint",
        )
        os.killpg(first.pid, signum)
        code = first.wait(timeout=WAIT)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
    done_before = uploaded_units(deployment, task)
    started_before = unit_starts(tmp_path / "first.log")
    total = 2 + SLOW.n_lambda * SLOW.n_repeats
    assert 1 <= len(done_before) < total

    if signum == signal.SIGTERM:
        assert code == 0, (tmp_path / "first.stderr").read_text()
        # Released at once: no lease expiry needed.
        assert alice.get_tasks_status([task]) == [TaskStatus.WAITING]
        assert "event=deregistered" in (tmp_path / "first.log").read_text()
    else:
        assert alice.get_tasks_status([task]) == [TaskStatus.RUNNING]
        expired = deployment.statestore.expire_computeservices(dt.datetime.now(dt.UTC))
        assert expired, "the killed service's lease is expired by hand (no waiting)"
        assert alice.get_tasks_status([task]) == [TaskStatus.WAITING]

    second = start_service(write_config(deployment, tmp_path, "second"))
    try:
        assert second.wait(timeout=WAIT) == 0, (tmp_path / "second.stderr").read_text()
    finally:
        if second.poll() is None:
            os.killpg(second.pid, signal.SIGKILL)
            second.wait()
    second_log = (tmp_path / "second.log").read_text()
    started_after = unit_starts(tmp_path / "second.log")
    assert not set(started_after) & done_before, "no uploaded unit ran again"
    assert "event=checkpoint_restored" in second_log
    interrupted = [u for u in started_before if u not in done_before]
    assert interrupted
    assert set(interrupted) <= set(started_after)
    assert alice.get_tasks_status([task]) == [TaskStatus.COMPLETE]

    (ref,) = alice.get_task_results(task)
    final = alice.get_task_result(task, ref.key)
    got = {r.source_key: _comparable(r.outputs) for r in final.protocol_unit_results if r.ok()}
    assert got == reference_outputs(deployment, task, tmp_path)
