"""Neo4j stopped for ~10 s while compute services work, then restarted on the same data.

The test has a Neo4j of its own (stopping the worker's shared one would break the
other tests), both APIs over real HTTP on it, and two compute services as real
subprocesses working on HarmonicTI tasks. Once a unit result has been uploaded,
Neo4j is stopped, kept down about ten seconds and started again on the same data
folder and port. It is stopped two ways: SIGTERM (a clean shutdown, as for
maintenance) and SIGKILL (a crash: the restart recovers from Neo4j's transaction log).

What must hold:

- while Neo4j is down the user API answers a bare request with ``503`` and a JSON
  ``StoreUnavailable`` error within the client's timeout (not 500, not a hang);
- the services ride the outage out (they back off, retry, exit 0 once no work is
  left) and every task completes;
- nothing completed is lost: every unit result recorded before the outage is still
  recorded after it, no unit that had uploaded its result ran again, and every
  complete task has its DAG result and a successful result for each of its units;
- no task was held by two services at once: each task's claims in the service logs
  are its attempts in the store, and each unit has exactly one successful result;
- the answer is right: each gathered estimate is within 4 sigma of the exact one.

An outage that outlasts the client's retries (minutes, or a slow restart) makes the
service give a task back mid-run, and the release itself may fail too. The second
test holds the service to its promise then: the task it could not release stays
its own to release before its next claim (a live service's lease never expires, so
a task it forgot would be stuck ``running``), and the service still finishes it.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
import requests

from alchemiscale_like import ComputeClient, UserClient
from alchemiscale_like.compute.service import SynchronousComputeService
from alchemiscale_like.compute.settings import ComputeServiceSettings
from alchemiscale_like.models import ScopedKey
from alchemiscale_like.models.task import TaskStatus
from alchemiscale_like.protocols import HarmonicTISettings
from alchemiscale_like.protocols.examples import harmonic_network
from alchemiscale_like.protocols.testing import SleepProtocol, SleepSettings
from alchemiscale_like.storage.statestore import StateStore
from tests.compute.service_processes import Service, make_service, running
from tests.compute.test_service_failures import FailsOnce, one_edge_network
from tests.faults.helpers_servers import (
    KEYS,
    SCOPE,
    WAIT,
    neo4j_statestore,
    own_deployment,
    own_neo4j,
    wait_until,
)
from tests.fixtures.s3_server import S3TestServer
from tests.server.conftest import Deployment

#: About a second per sampling unit: the services are mid-DAG when Neo4j goes away.
SETTINGS = HarmonicTISettings(
    n_lambda=3,
    n_repeats=1,
    n_walkers=32,
    n_steps=15_000,
    n_equilibration=200,
    checkpoint_interval=2_000,
)
UNITS_PER_DAG = 2 + SETTINGS.n_lambda * SETTINGS.n_repeats
#: How long Neo4j stays down (a sleep, not an assertion).
OUTAGE = 10.0
#: How long the API's store retries an unreachable Neo4j before answering 503.
STORE_RETRY_SECONDS = 2.0
#: The bound of the bare request made during the outage.
CLIENT_TIMEOUT = 30.0


def ok_results(store: StateStore, tasks: list[ScopedKey]) -> dict[ScopedKey, set[str]]:
    """Per task, the unit keys with a successful result recorded."""
    return {t: {r.unit_key for r in store.get_unit_results(t, ok_only=True)} for t in tasks}


def token_of(user_url: str) -> str:
    """A bearer token of alice (taken while Neo4j is up)."""
    answer = requests.post(
        f"{user_url}/token",
        data={"grant_type": "password", "username": "alice", "password": KEYS["alice"]},
        timeout=CLIENT_TIMEOUT,
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def events_of(services: tuple[Service, ...], event: str) -> list[dict[str, object]]:
    return [e for s in services for e in s.events(event)]


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("crash", [False, True], ids=["SIGTERM", "SIGKILL"])
def test_services_ride_out_a_neo4j_outage(
    crash: bool, s3_server: S3TestServer, tmp_path: Path
) -> None:
    with own_neo4j(tmp_path / "neo4j") as neo4j:
        store = neo4j_statestore(neo4j, retry_seconds=STORE_RETRY_SECONDS)
        objects = s3_server.settings(f"test-{uuid.uuid4().hex}")
        with own_deployment(store, objects) as deployment:
            alice = UserClient(deployment.user_url, "alice", KEYS["alice"], backoff=0.01)
            network = alice.create_network(harmonic_network(settings=SETTINGS), SCOPE)
            transformations = alice.get_network_transformations(network)
            tasks = [t for tf in transformations for t in alice.create_tasks(tf)]
            alice.action_tasks(tasks, network)
            token = token_of(deployment.user_url)

            services = tuple(
                make_service(
                    tmp_path / "services",
                    name,
                    api_url=deployment.compute_url,
                    identifier="worker",
                    key=KEYS["worker"],
                    heartbeat_interval=1.0,
                    idle_sleep_max=1.0,
                )
                for name in ("first", "second")
            )
            with running(*services):
                wait_until(lambda: any(ok_results(store, tasks).values()), "a unit result uploaded")
                if crash:
                    neo4j.kill()
                else:
                    neo4j.stop()
                down_since = time.monotonic()
                before = ok_results_from_logs(services, tasks)

                answer = requests.get(
                    f"{deployment.user_url}/networks/{network}/status",
                    headers={"Authorization": f"Bearer {token}"},
                    timeout=CLIENT_TIMEOUT,
                )
                assert answer.status_code == 503, answer.text
                assert answer.json()["error"] == "StoreUnavailable"
                assert answer.json()["detail"]

                time.sleep(max(0.0, OUTAGE - (time.monotonic() - down_since)))
                assert all(s.process is not None and s.process.poll() is None for s in services)
                neo4j.start()

                for service in services:
                    assert service.wait(WAIT) == 0, service.tail()

            # The services met the outage as 503s and backed off (retried after a pause).
            retries = [e for e in events_of(services, "api_retry") if e["reason"] == "status_503"]
            assert retries, "the services met the outage"

            statuses = alice.get_tasks_status(tasks)
            assert statuses == [TaskStatus.COMPLETE] * len(tasks), [s.tail() for s in services]

            after = ok_results(store, tasks)
            for task in tasks:
                # Nothing uploaded before the outage was lost, and every unit is there.
                assert before[task] <= after[task]
                assert len(after[task]) == UNITS_PER_DAG
                (ref,) = alice.get_task_results(task)
                assert ref.ok
                dag_result = alice.get_task_result(task, ref.key)
                assert {r.source_key for r in dag_result.protocol_unit_results if r.ok()} == (
                    after[task]
                )
                # One successful result per unit: no unit ran under two claims.
                oks = Counter(r.unit_key for r in store.get_unit_results(task, ok_only=True))
                assert set(oks.values()) == {1}
                # Every claim the services logged is an attempt of the store, and back.
                claims = [e for e in events_of(services, "claim") if e["task"] == str(task)]
                assert len(claims) == store.get_task(task).attempts

            assert_no_uploaded_unit_ran_again(services)

            for transformation in transformations:
                gathered = alice.get_transformation_results(transformation)
                assert gathered is not None
                estimate, sigma = gathered.get_estimate(), gathered.get_uncertainty()
                assert estimate is not None
                assert sigma is not None
                assert sigma > 0
                assert abs(estimate - gathered.data["analytic"]) < 4 * sigma


def ok_results_from_logs(
    services: tuple[Service, ...], tasks: list[ScopedKey]
) -> dict[ScopedKey, set[str]]:
    """Per task, the units whose successful upload a service logged (Neo4j is down now)."""
    found: dict[ScopedKey, set[str]] = {t: set() for t in tasks}
    for event in events_of(services, "unit_uploaded"):
        if event["ok"] is True:
            found[ScopedKey.from_str(str(event["task"]))].add(str(event["unit"]))
    return found


def assert_no_uploaded_unit_ran_again(services: tuple[Service, ...]) -> None:
    """No ``unit_start`` of a unit follows a logged successful upload of it (in any log)."""
    uploaded: dict[str, dt.datetime] = {}
    for event in events_of(services, "unit_uploaded"):
        if event["ok"] is True:
            unit, when = str(event["unit"]), dt.datetime.fromisoformat(str(event["ts"]))
            uploaded[unit] = min(uploaded.get(unit, when), when)
    for event in events_of(services, "unit_start"):
        unit, when = str(event["unit"]), dt.datetime.fromisoformat(str(event["ts"]))
        assert unit not in uploaded or when < uploaded[unit], (
            f"unit {unit} started at {when} after its upload at {uploaded[unit]}"
        )


def test_a_task_whose_release_failed_is_released_before_the_next_claim(
    deployment: Deployment, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    alice = UserClient(deployment.user_url, "alice", KEYS["alice"], backoff=0.01)
    network = alice.create_network(
        one_edge_network("release", SleepProtocol(settings=SleepSettings(n_units=2))), SCOPE
    )
    (transformation,) = alice.get_network_transformations(network)
    (task,) = alice.create_tasks(transformation)
    alice.action_tasks([task], network)
    client = ComputeClient(
        deployment.compute_url, "worker", KEYS["worker"], service_id="worker~rel", backoff=0.01
    )
    # The outage outlasts the retries of a unit upload and of the release that follows.
    api = FailsOnce(FailsOnce(client, "upload_unit_result"), "release_task")
    settings = ComputeServiceSettings.load(
        None,
        api_url=deployment.compute_url,
        identifier="worker",
        key=KEYS["worker"],
        scratch_dir=tmp_path / "scratch",
        once=True,
        idle_sleep=0.05,
    )
    caplog.set_level("INFO", logger="alchemiscale_like.compute.service")
    with client:
        assert SynchronousComputeService(settings, api).run() == 0  # type: ignore[arg-type]
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith(f"event=release_failed task={task} ") for m in messages)
    # Released at the next round, claimed again, finished: not left running nor waiting.
    assert f"event=release task={task}" in messages
    assert sum(m == f"event=claim task={task}" for m in messages) == 2
    assert alice.get_tasks_status([task]) == [TaskStatus.COMPLETE]
