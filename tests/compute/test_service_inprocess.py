"""`SynchronousComputeService` in this process against both APIs under real uvicorn."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from alchemiscale_like import ComputeClient, UserClient
from alchemiscale_like.compute.service import SynchronousComputeService
from alchemiscale_like.compute.settings import ComputeServiceSettings
from alchemiscale_like.errors import NotFound
from alchemiscale_like.models.task import TaskStatus
from alchemiscale_like.protocols import HarmonicTISettings
from alchemiscale_like.protocols.examples import harmonic_network
from tests.server.conftest import KEYS, SCOPE, Deployment

SETTINGS = HarmonicTISettings(n_lambda=4, n_repeats=1, n_steps=2000, n_walkers=16)


def settings_for(deployment: Deployment, tmp_path: Path, **extra: object) -> ComputeServiceSettings:
    values: dict[str, object] = {
        "api_url": deployment.compute_url,
        "identifier": "worker",
        "key": KEYS["worker"],
        "scratch_dir": tmp_path / "scratch",
        "once": True,
        "idle_sleep": 0.05,
    }
    return ComputeServiceSettings.load(None, **(values | extra))


def test_once_processes_every_task_and_deregisters(
    deployment: Deployment, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    alice = UserClient(deployment.user_url, "alice", KEYS["alice"], backoff=0.01)
    network_sk = alice.create_network(harmonic_network(settings=SETTINGS), SCOPE)
    transformations = alice.get_network_transformations(network_sk)
    for tf in transformations:
        alice.action_tasks(alice.create_tasks(tf, count=2), network_sk)
    client = ComputeClient(
        deployment.compute_url, "worker", KEYS["worker"], service_id="worker~t1", backoff=0.01
    )
    service = SynchronousComputeService(settings_for(deployment, tmp_path), client)
    with caplog.at_level(logging.INFO):
        assert service.run() == 0
    assert service.tasks_done == 4
    assert alice.get_network_status(network_sk) == {"complete": 4}
    for tf in transformations:
        result = alice.get_transformation_results(tf)
        assert result is not None
        assert result.n_protocol_dag_results == 2
        data = result.data
        assert abs(data["estimate"] - data["analytic"]) < 4 * data["uncertainty"]
    assert "event=deregistered" in caplog.text
    with pytest.raises(NotFound):
        deployment.statestore.get_computeservice("worker~t1")


def test_max_tasks_stops_after_that_many_tasks(deployment: Deployment, tmp_path: Path) -> None:
    alice = UserClient(deployment.user_url, "alice", KEYS["alice"], backoff=0.01)
    network_sk = alice.create_network(harmonic_network(settings=SETTINGS), SCOPE)
    tf = alice.get_network_transformations(network_sk)[0]
    tasks = alice.create_tasks(tf, count=2)
    alice.action_tasks(tasks, network_sk)
    client = ComputeClient(
        deployment.compute_url, "worker", KEYS["worker"], service_id="worker~t2", backoff=0.01
    )
    service = SynchronousComputeService(
        settings_for(deployment, tmp_path, once=False, max_tasks=1), client
    )
    assert service.run() == 0
    assert sorted(alice.get_tasks_status(tasks)) == [TaskStatus.COMPLETE, TaskStatus.WAITING]
