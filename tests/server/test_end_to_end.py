"""The whole path through both APIs, driven only by the clients, on each pair of stores.

Every test runs on the production stores (real Neo4j and S3Proxy) and on the
embedded default (SQLite and the local object store) that ``quickstart`` uses.

A user submits a network and actions tasks; a compute client claims each task,
sets its DAG, runs it with the same executor `alchemiscale-like run` uses,
uploads every unit's files and result as it completes, and finishes; the user
reads it all back, downloads a file and gathers an estimate that matches the
exact answer.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from alchemiscale_like import ComputeClient, UserClient
from alchemiscale_like.errors import ClaimLost, NotFound
from alchemiscale_like.execution.dag_executor import DAGExecutor
from alchemiscale_like.execution.fetcher import FileFetcher
from alchemiscale_like.execution.unit_executor import UnitExecutor
from alchemiscale_like.models import ProtocolUnitResult, ResultFile, ScopedKey
from alchemiscale_like.models.task import TaskStatus
from alchemiscale_like.protocols import HarmonicTISettings
from alchemiscale_like.protocols.examples import harmonic_network
from tests.server.conftest import KEYS, SCOPE, Deployment

SETTINGS = HarmonicTISettings(n_lambda=4, n_repeats=1, n_steps=3000, n_walkers=16)


@pytest.fixture(params=["neo4j+s3", "sqlite+local"])
def deployment(request: pytest.FixtureRequest) -> Deployment:
    """The conftest's deployment (Neo4j + S3) or the embedded one (SQLite + local)."""
    if request.param == "neo4j+s3":
        return request.getfixturevalue("neo4j_s3_deployment")
    return request.getfixturevalue("embedded_deployment")


def user(deployment: Deployment, name: str = "alice") -> UserClient:
    return UserClient(deployment.user_url, name, KEYS[name], backoff=0.01)


def compute(deployment: Deployment, name: str = "worker", suffix: str = "a") -> ComputeClient:
    return ComputeClient(
        deployment.compute_url, name, KEYS[name], service_id=f"{name}~{suffix}", backoff=0.01
    )


def run_claimed_task(client: ComputeClient, task: ScopedKey, workdir: Path) -> TaskStatus:
    """What a compute service does with one claimed task, through the client only."""
    record = client.get_task(task)
    transformation = client.get_task_transformation(task)
    _, dag = client.set_task_dag(task, transformation.create(seed=11))
    done = client.get_unit_results(task)

    def download(ref: ResultFile, dest: Path) -> None:
        client.download_result_file(task, ref, dest)

    fetcher = FileFetcher(workdir / "cache", download=download)
    units = UnitExecutor(workdir / "work", workdir / "checkpoints", fetcher, record.attempts)

    def upload(result: ProtocolUnitResult, files: dict[str, Path]) -> None:
        for ref in result.files:
            stored = client.upload_result_file(
                task, result.source_key, result.attempt, ref.name, files[ref.location], ref.sha256
            )
            assert stored == ref
        client.upload_unit_result(task, result)

    dag_result = DAGExecutor(units).execute(dag, done, on_unit_result=upload)
    _, status = client.finish_task(task, dag_result)
    return status


def test_submit_claim_run_upload_and_read_back(deployment: Deployment, tmp_path: Path) -> None:
    alice = user(deployment)
    network = harmonic_network(settings=SETTINGS)
    network_sk = alice.create_network(network, SCOPE)
    assert alice.create_network(network, SCOPE) == network_sk  # idempotent
    assert alice.query_networks() == [network_sk]
    assert alice.get_network(network_sk) == network
    transformations = alice.get_network_transformations(network_sk)
    assert len(transformations) == 2
    tasks = {tf: alice.create_tasks(tf, count=2) for tf in transformations}
    all_tasks = [t for ts in tasks.values() for t in ts]
    assert sorted(alice.action_tasks(all_tasks, network_sk)) == sorted(all_tasks)
    assert alice.get_network_status(network_sk) == {"waiting": 4}

    worker = compute(deployment)
    worker.register()
    finished = []
    while claimed := worker.claim_tasks(count=1):
        (task,) = claimed
        assert alice.get_tasks_status([task]) == [TaskStatus.RUNNING]
        finished.append(run_claimed_task(worker, task, tmp_path / task.gufe_key))
    assert finished == [TaskStatus.COMPLETE] * 4
    assert worker.deregister() == []

    assert alice.get_network_status(network_sk) == {"complete": 4}
    for transformation in transformations:
        task = tasks[transformation][0]
        progress = alice.get_task_progress(task)
        assert progress.done == progress.total == 2 + SETTINGS.n_lambda * SETTINGS.n_repeats
        (ref,) = alice.get_task_results(task)
        assert ref.ok
        raw = alice.get_task_result_json(task, ref.key)
        assert raw[-1][0] == ref.key  # readable without the protocol's classes

        files = alice.list_result_files(task)
        assert files
        assert all(f.unit_ok for f in files)
        target = alice.download_result_file(files[0], tmp_path / "download.npy")
        assert hashlib.sha256(target.read_bytes()).hexdigest() == files[0].sha256

        gathered = alice.get_transformation_results(transformation)
        assert gathered is not None
        assert gathered.n_protocol_dag_results == 2
        data = gathered.data
        assert abs(data["estimate"] - data["analytic"]) < 5 * data["uncertainty"]


def test_second_dag_is_refused_and_the_first_one_is_returned(
    deployment: Deployment,
) -> None:
    alice = user(deployment)
    network = harmonic_network(settings=SETTINGS)
    network_sk = alice.create_network(network, SCOPE)
    transformation = alice.get_network_transformations(network_sk)[0]
    (task,) = alice.create_tasks(transformation)
    alice.action_tasks([task], network_sk)
    worker = compute(deployment)
    worker.register()
    assert worker.claim_tasks() == [task]
    model = worker.get_task_transformation(task)
    first_ref, first = worker.set_task_dag(task, model.create(seed=1))
    second_ref, second = worker.set_task_dag(task, model.create(seed=2))
    assert second == first
    assert second_ref == first_ref
    assert worker.get_task_dag(task) == first


def test_a_service_that_lost_its_claim_changes_nothing(deployment: Deployment) -> None:
    alice = user(deployment)
    network_sk = alice.create_network(harmonic_network(settings=SETTINGS), SCOPE)
    transformation = alice.get_network_transformations(network_sk)[0]
    (task,) = alice.create_tasks(transformation)
    alice.action_tasks([task], network_sk)
    late, other = compute(deployment, suffix="late"), compute(deployment, suffix="next")
    late.register()
    other.register()
    assert late.claim_tasks() == [task]
    dag_model = late.get_task_transformation(task).create(seed=3)
    late.set_task_dag(task, dag_model)
    # The user hands the task back; another service takes it.
    alice.set_tasks_status([task], TaskStatus.WAITING)
    assert other.claim_tasks() == [task]
    with pytest.raises(ClaimLost):
        late.set_task_dag(task, dag_model)
    with pytest.raises(ClaimLost):
        late.release_task(task)
    assert other.get_task(task).status == TaskStatus.RUNNING
    assert deployment.statestore.get_task_claimant(task) == other.service_id


def test_other_scopes_are_invisible(deployment: Deployment) -> None:
    alice, bob = user(deployment), user(deployment, "bob")
    network_sk = alice.create_network(harmonic_network(settings=SETTINGS), SCOPE)
    assert bob.query_networks() == []
    with pytest.raises(NotFound):
        bob.get_network(network_sk)
    rival = compute(deployment, "rival-worker")
    rival.register()
    transformation = alice.get_network_transformations(network_sk)[0]
    (task,) = alice.create_tasks(transformation)
    alice.action_tasks([task], network_sk)
    assert rival.claim_tasks() == []
    with pytest.raises(NotFound):
        rival.get_task(task)


def test_a_retried_finish_returns_the_recorded_outcome(deployment: Deployment, tmp_path) -> None:
    alice = user(deployment)
    network_sk = alice.create_network(harmonic_network(settings=SETTINGS), SCOPE)
    transformation = alice.get_network_transformations(network_sk)[0]
    (task,) = alice.create_tasks(transformation)
    alice.action_tasks([task], network_sk)
    worker = compute(deployment)
    worker.register()
    assert worker.claim_tasks() == [task]
    assert run_claimed_task(worker, task, tmp_path) == TaskStatus.COMPLETE
    (ref,) = alice.get_task_results(task)
    result = alice.get_task_result(task, ref.key)
    # The first answer was lost; the service sends the same result again.
    assert worker.finish_task(task, result) == (ref, TaskStatus.COMPLETE)
    assert alice.get_task_results(task) == [ref]
