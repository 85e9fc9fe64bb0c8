"""The Slurm template, run by bash as Slurm would run it, against real test servers.

``#SBATCH`` lines are comments to bash; the job gets the ``SLURM_*`` variables a real
one-node, two-task job has, including ``SLURM_JOB_END_TIME`` (its walltime). The two
services it starts are real ``alchemiscale-like compute synchronous`` processes talking
to both APIs under uvicorn on Neo4j and S3Proxy. Every wait is bounded, and every process
of the job is killed when a test ends, however it ends.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import neo4j
import pytest
import yaml

from alchemiscale_like import UserClient
from alchemiscale_like.models import (
    AlchemicalNetwork,
    ChemicalSystem,
    ScopedKey,
    SmallMoleculeComponent,
    Transformation,
)
from alchemiscale_like.models.task import TaskStatus
from alchemiscale_like.protocols import HarmonicTISettings
from alchemiscale_like.protocols.examples import harmonic_network
from alchemiscale_like.protocols.testing import SleepProtocol, SleepSettings
from tests.deploy.kit import KIT, Job, clean_env, running_job, session_processes, wait_until
from tests.server.conftest import KEYS, SCOPE, Deployment

SLURM = KIT / "slurm.sbatch"
#: Bound of each wait for a job (start services, claim, finish a small task): generous,
#: as the machine may be shared and slow; a healthy run takes a fraction of it.
JOB_TIMEOUT = 150
#: Long tasks: 40 units of 1.5 s, longer than any of these jobs lives.
LONG = SleepSettings(n_units=40, seconds=1.5)


def write_config(tmp_path: Path, deployment: Deployment, **extra: object) -> None:
    """service.yaml in the submission folder, for the compute identity "worker"."""
    key_file = tmp_path / "worker.key"
    key_file.write_text(KEYS["worker"] + "\n")
    key_file.chmod(0o600)
    values: dict[str, object] = {
        "api_url": deployment.compute_url,
        "identifier": "worker",
        "key_file": str(key_file),
        "idle_sleep": 0.2,
        "idle_sleep_max": 1.0,
        "heartbeat_interval": 2.0,
        "stop_grace": 5.0,
        "modules": ["alchemiscale_like.protocols.testing"],
        "log_format": "json",
    }
    (tmp_path / "service.yaml").write_text(yaml.safe_dump(values | extra))


def slurm_env(tmp_path: Path, end_time: int, **extra: str) -> dict[str, str]:
    """What Slurm gives the batch script of ``--nodes=1 --ntasks=2`` (plus ``extra``)."""
    return clean_env(
        SLURM_JOB_ID="4242",
        SLURM_JOB_NAME="alchemiscale-like",
        SLURM_JOB_NUM_NODES="1",
        SLURM_NNODES="1",
        SLURM_NTASKS="2",
        SLURM_NTASKS_PER_NODE="2",
        SLURM_CPUS_PER_TASK="1",
        SLURM_SUBMIT_DIR=str(tmp_path),
        SLURM_JOB_START_TIME=str(int(time.time())),
        SLURM_JOB_END_TIME=str(end_time),
        TMPDIR=str(tmp_path),
        ALCHEMISCALE_LIKE_LOG_DIR=str(tmp_path / "logs"),
        **extra,
    )


def sleep_network(settings: SleepSettings) -> AlchemicalNetwork:
    """Two Transformations whose Tasks only sleep, unit after unit."""
    protocol = SleepProtocol(settings=settings)
    systems = [
        ChemicalSystem(
            name=f"sleeper{i}",
            components={"ligand": SmallMoleculeComponent(name=f"s{i}", smiles="C" * (i + 1))},
        )
        for i in range(3)
    ]
    edges = [
        Transformation(stateA=systems[0], stateB=s, protocol=protocol, name=f"sleep-{s.name}")
        for s in systems[1:]
    ]
    return AlchemicalNetwork(edges=edges, nodes=systems, name="sleepers")


def submit(alice: UserClient, network: AlchemicalNetwork) -> tuple[ScopedKey, list[ScopedKey]]:
    """Create ``network``, one actioned Task per Transformation; the network and the tasks."""
    network_sk = alice.create_network(network, SCOPE)
    tasks = []
    for transformation in alice.get_network_transformations(network_sk):
        tasks += alice.create_tasks(transformation, count=1)
    alice.action_tasks(tasks, network_sk)
    return network_sk, tasks


def registrations(driver: neo4j.Driver) -> list[str]:
    """Identifiers of every compute service registered in the state store."""
    with driver.session() as session:
        return [
            r["id"]
            for r in session.run("MATCH (c:ComputeServiceRegistration) RETURN c.identifier AS id")
        ]


def assert_clean_exit(job: Job, status: int | None, driver: neo4j.Driver) -> None:
    """The job exited 0 after both services exited 0 and deregistered."""
    assert status == 0, f"job exit status {status}\n{job.tail()}"
    exits = job.script_events("service_exit")
    assert [e["status"] for e in exits] == ["0", "0"], job.tail()
    assert registrations(driver) == []
    logs = job.service_events()
    assert len(logs) == 2, job.tail()
    for events in logs.values():
        names = [e.get("event") for e in events]
        assert "service_start" in names
        assert "deregistered" in names, job.tail()


def assert_released(alice: UserClient, tasks: list[ScopedKey], job: Job) -> None:
    """Each task was claimed by a service, released unfinished, and is waiting again."""
    assert alice.get_tasks_status(tasks) == [TaskStatus.WAITING] * len(tasks), job.tail()
    for task in tasks:
        progress = alice.get_task_progress(task)
        assert progress.done < LONG.n_units, (task, progress)
    released = sorted(
        e["task"]
        for events in job.service_events().values()
        for e in events
        if e.get("event") == "release"
    )
    assert released == sorted(str(t) for t in tasks), job.tail()


def test_services_finish_the_tasks_and_the_job_exits_0(
    deployment: Deployment, neo4j_driver: neo4j.Driver, tmp_path: Path
) -> None:
    alice = UserClient(deployment.user_url, "alice", KEYS["alice"], backoff=0.01)
    network = harmonic_network(settings=HarmonicTISettings(n_steps=200, n_repeats=1))
    network_sk, tasks = submit(alice, network)
    write_config(tmp_path, deployment, once=True)
    env = slurm_env(tmp_path, int(time.time()) + 3600)

    with running_job(SLURM, env=env, cwd=tmp_path) as job:
        status = job.wait(JOB_TIMEOUT)

    assert_clean_exit(job, status, neo4j_driver)
    assert alice.get_network_status(network_sk) == {"complete": len(tasks)}
    for transformation in alice.get_network_transformations(network_sk):
        assert alice.get_transformation_results(transformation) is not None
    (walltime,) = job.script_events("walltime")
    assert walltime["source"] == "SLURM_JOB_END_TIME"
    started = job.script_events("service_started")
    assert len({s["suffix"] for s in started}) == 2
    assert len({s["scratch"] for s in started}) == 2
    assert all(Path(s["scratch"]).parent == tmp_path / "alchemiscale-like" for s in started)


@pytest.mark.slow  # the services run for their whole max_time (35 s)
def test_services_leave_before_the_walltime_and_release_their_tasks(
    deployment: Deployment, neo4j_driver: neo4j.Driver, tmp_path: Path
) -> None:
    alice = UserClient(deployment.user_url, "alice", KEYS["alice"], backoff=0.01)
    _, tasks = submit(alice, sleep_network(LONG))
    # 80 s of walltime, 5 s kept back, services stop 40 s before their max_time: they claim
    # a task each and run it for at most 35 s (startup included), then release it.
    write_config(tmp_path, deployment, stop_margin=40)
    end_time = int(time.time()) + 80
    env = slurm_env(tmp_path, end_time, ALCHEMISCALE_LIKE_WALLTIME_RESERVE="5")

    with running_job(SLURM, env=env, cwd=tmp_path) as job:
        status = job.wait(end_time - time.time())
        assert status is not None, f"the job was still running at its walltime\n{job.tail()}"

    assert_clean_exit(job, status, neo4j_driver)
    assert_released(alice, tasks, job)
    (walltime,) = job.script_events("walltime")
    assert int(walltime["max_time"]) <= 75
    (done,) = job.script_events("job_done")
    assert done["signals"] == "0"  # max_time stopped them, not a signal


@pytest.mark.parametrize(
    ("signum", "everyone"),
    [
        pytest.param(signal.SIGTERM, False, id="SIGTERM-to-the-script"),
        # A scheduler's warning signal sent to every process of the job: the services
        # ignore it, the script turns it into one clean SIGTERM each.
        pytest.param(signal.SIGUSR1, True, id="SIGUSR1-to-every-process"),
    ],
)
def test_a_signal_stops_the_job_cleanly(
    deployment: Deployment,
    neo4j_driver: neo4j.Driver,
    tmp_path: Path,
    signum: signal.Signals,
    everyone: bool,
) -> None:
    alice = UserClient(deployment.user_url, "alice", KEYS["alice"], backoff=0.01)
    _, tasks = submit(alice, sleep_network(LONG))
    write_config(tmp_path, deployment)
    env = slurm_env(tmp_path, int(time.time()) + 3600)

    with running_job(SLURM, env=env, cwd=tmp_path) as job:
        wait_until(
            lambda: all(alice.get_task_progress(t).done >= 1 for t in tasks),
            JOB_TIMEOUT,
            "unit done in both tasks",
            job,
        )
        targets = session_processes(job.process.pid) if everyone else [job.process.pid]
        for pid in targets:
            os.kill(pid, signum)
        status = job.wait(JOB_TIMEOUT)

    assert_clean_exit(job, status, neo4j_driver)
    assert_released(alice, tasks, job)
    assert all(alice.get_task_progress(t).done >= 1 for t in tasks)  # kept for the next claim
    (received,) = job.script_events("signal")
    assert received["signal"] == signum.name.removeprefix("SIG")
    for events in job.service_events().values():
        signals = [e for e in events if e.get("event") == "signal"]
        assert [e["signal"] for e in signals] == [signal.SIGTERM.value], events
