"""Process faults: compute services and the compute API killed or stalled mid-work.

Every test runs the real parts: Neo4j, S3Proxy, both APIs under uvicorn, and compute
services as subprocesses (``alchemiscale-like compute synchronous``). What must
survive each fault:

* A service SIGKILLed while it uploads (a unit result half sent; a unit result sent
  whose answer never came back; a 200 MiB result file half sent): another service
  resumes the Task and finishes it; no unit whose result was recorded runs again; no
  partial object is visible in the object store (every object under the Task is
  whole: result files hash to the bytes the protocol writes, every unit result
  object is referenced); the state store refers to no missing object; the final
  result is right (the consumer's sha256 of every file is the expected one).
  tests/compute/test_service_faults.py covers the kill mid-unit.
* The compute API SIGKILLed while it answers a unit-result upload, then started again
  on the same port: the service's client retries, the service carries on, and the
  idempotent writes create no duplicate refs (one ref per unit attempt, one DAG
  result).
* A service stalled past its lease (SIGSTOP, then SIGCONT): another service reclaims
  the Task and finishes it; the stalled one's late upload is refused (409,
  ``ClaimLost``) and changes nothing; it then registers again and finishes new work.

The kill is landed inside a request, not near it, by :class:`HoldingProxy`: the
service talks to the API through it, and it holds the chosen request part-sent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import signal
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import neo4j
import pytest

from alchemiscale_like import UserClient
from alchemiscale_like.models import ScopedKey
from alchemiscale_like.models.protocol import Protocol
from alchemiscale_like.models.protocoldag import ProtocolDAG
from alchemiscale_like.models.task import TaskStatus
from alchemiscale_like.protocols.testing import (
    FileProducerUnit,
    FileProtocol,
    FileSettings,
    SleepProtocol,
    SleepSettings,
    file_content_chunks,
)
from alchemiscale_like.storage.objectstore import ObjectStoreSettings
from alchemiscale_like.storage.objectstore.layout import task_location
from devtools.servers.common import free_port
from tests.compute.service_processes import Service, make_service, running
from tests.compute.test_service_failures import one_edge_network
from tests.faults.helpers_processes import (
    APIProcess,
    HoldingProxy,
    TaskRefs,
    compute_api_env,
    task_objects,
    task_refs,
    wait_until,
)
from tests.fixtures.neo4j_server import Neo4jTestServer
from tests.fixtures.s3_server import S3TestServer
from tests.server.conftest import KEYS, SCOPE, SECRET, Deployment

#: Short beats and no grace: the tests wait for events, never for idle time.
FAST = {
    "heartbeat_interval": 1.0,
    "checkpoint_interval": 0.5,
    "stop_grace": 0.0,
    "modules": ["alchemiscale_like.protocols.testing"],
}
MIB = 1 << 20
UNIT_RESULT_PUT = r"^PUT \S+/unit-results "
FILE_PUT = r"^PUT \S+/files/"


def _service(folder: Path, name: str, api_url: str, **settings: object) -> Service:
    values = FAST | settings
    return make_service(
        folder, name, api_url=api_url, identifier="worker", key=KEYS["worker"], env=None, **values
    )


def _submit(
    deployment: Deployment, name: str, protocol: Protocol, count: int = 1
) -> tuple[UserClient, ScopedKey, list[ScopedKey]]:
    """alice submits a one-edge network and actions ``count`` Tasks on it: (alice, the
    network, its Tasks)."""
    alice = UserClient(deployment.user_url, "alice", KEYS["alice"], backoff=0.01)
    network = alice.create_network(one_edge_network(name, protocol), SCOPE)
    (transformation,) = alice.get_network_transformations(network)
    tasks = alice.create_tasks(transformation, count)
    alice.action_tasks(tasks, network)
    return alice, network, tasks


def _port(url: str) -> int:
    port = urlsplit(url).port
    assert port is not None
    return port


def _started(service: Service) -> list[str]:
    return [e["unit"] for e in service.events("unit_start")]


def _expire_every_lease(deployment: Deployment) -> None:
    """Drive the lease rule instead of waiting for it (the killed service stays silent)."""
    assert deployment.statestore.expire_computeservices(dt.datetime.now(dt.UTC))


@pytest.fixture
def proxy(deployment: Deployment) -> Iterator[HoldingProxy]:
    """A :class:`HoldingProxy` in front of the deployment's compute API."""
    found = HoldingProxy(_port(deployment.compute_url))
    try:
        yield found
    finally:
        found.close()
        assert not found.saw_chunked, "a chunked request went by unframed"


# -- what a FileProtocol task must end with --------------------------------------------------


def _expected_digests(deployment: Deployment, task: ScopedKey) -> dict[str, str]:
    """File name -> sha256 of the bytes the Task's producers write (from its stored DAG)."""
    dag = ProtocolDAG.from_keyed_chain(deployment.objectstore.get_dag(task))
    digests = {}
    for unit in dag.protocol_units:
        if isinstance(unit, FileProducerUnit):
            inputs = unit.inputs
            for index in range(inputs["n_files"]):
                digest = hashlib.sha256()
                chunks = file_content_chunks(
                    inputs["seed"], inputs["producer"], index, inputs["file_size"]
                )
                for chunk in chunks:
                    digest.update(chunk)
                digests[f"p{inputs['producer']}_f{index}.bin"] = digest.hexdigest()
    return digests


def _assert_whole_and_referenced(
    deployment: Deployment, driver: neo4j.Driver, task: ScopedKey, expected: dict[str, str]
) -> TaskRefs:
    """No partial object, no ref to a missing object, no duplicate ref: the Task's refs."""
    refs = task_refs(driver, task)
    objects = task_objects(deployment.objectstore, task)
    assert all(n == 1 for n in refs.attempts().values()), refs.attempts()
    for _, _, _, relpath, _ in refs.units:
        assert relpath in objects, f"unit result ref to a missing object {relpath}"
    for name, size, sha256, location in refs.files():
        assert objects.get(location) == (size, sha256), f"file ref {location} vs its object"
        assert sha256 == expected[Path(name).name]
    for _, _, relpath in refs.results:
        assert relpath in objects, f"DAG result ref to a missing object {relpath}"
    referenced = {u[3] for u in refs.units} | {r[2] for r in refs.results}
    for relpath, (size, sha256) in objects.items():
        if "/files/" in relpath:  # whole, referenced or not (a file whose result never came)
            assert sha256 == expected[Path(relpath).name], f"partial object {relpath} ({size} B)"
        elif relpath.endswith("result.json.zst"):
            assert relpath in referenced, f"unreferenced result object {relpath}"
    return refs


def _assert_final_digests(
    alice: UserClient, deployment: Deployment, task: ScopedKey, expected: dict[str, str]
) -> None:
    """One successful DAG result whose consumer hashed every file as expected; the stored
    bytes of every recorded file hash to the expected sha256 too (read back in full)."""
    (ref,) = alice.get_task_results(task)
    assert ref.ok
    result = alice.get_task_result(task, ref.key)
    (consumer,) = [r for r in result.protocol_unit_results if "digests" in r.outputs]
    got = {Path(name).name: digest for name, digest in consumer.outputs["digests"].items()}
    assert got == expected
    for producer in result.protocol_unit_results:
        for file in producer.files:
            digest = hashlib.sha256()
            for chunk in deployment.objectstore.open_file(task_location(task, file.location)):
                digest.update(chunk)
            assert digest.hexdigest() == expected[Path(file.name).name]


# -- 1. a service SIGKILLed mid-upload ---------------------------------------------------------

SMALL_FILES = FileSettings(n_producers=2, n_files=1, file_size=64 * 1024)
#: case -> (protocol settings, request to hold, part of its body sent, matches let through)
UPLOAD_CASES: dict[str, tuple[FileSettings, str, float | None, int]] = {
    "unit result half sent": (SMALL_FILES, UNIT_RESULT_PUT, 0.5, 1),
    "unit result sent, answer lost": (SMALL_FILES, UNIT_RESULT_PUT, None, 1),
    "200 MiB file half sent": (
        FileSettings(n_producers=1, n_files=1, file_size=200 * MIB),
        FILE_PUT,
        0.5,
        0,
    ),
}


@pytest.mark.slow
@pytest.mark.timeout(420)
@pytest.mark.parametrize("case", list(UPLOAD_CASES))
def test_a_service_killed_mid_upload_is_resumed_elsewhere_with_nothing_partial(
    case: str,
    deployment: Deployment,
    neo4j_clean_driver: neo4j.Driver,
    proxy: HoldingProxy,
    s3_server: S3TestServer,
    s3_settings: ObjectStoreSettings,
    tmp_path: Path,
) -> None:
    settings, request_line, body_fraction, skip = UPLOAD_CASES[case]
    alice, _, (task,) = _submit(deployment, "upload", FileProtocol(settings=settings))
    proxy.hold(request_line, body_fraction=body_fraction, skip=skip)
    first = _service(tmp_path, "first", proxy.url)
    with running(first):
        wait_until(proxy.held.is_set, f"the {case} upload held", alive=[first])
        if body_fraction is None:  # sent whole: the API records it, the answer is held
            wait_until(
                lambda: len(task_refs(neo4j_clean_driver, task).ok_units()) == skip + 1,
                "the held unit result recorded",
                alive=[first],
            )
        recorded = task_refs(neo4j_clean_driver, task).ok_units()
        first.kill()
        proxy.cut()  # the killed service's connection closes, as its kernel would close it
    assert first.process is not None
    assert first.process.returncode == -signal.SIGKILL
    assert alice.get_tasks_status([task]) == [TaskStatus.RUNNING]
    assert len(recorded) == (skip + 1 if body_fraction is None else skip)
    expected = _expected_digests(deployment, task)
    held_file = re.search(r"/tasks/[^/]+/(units/\S+/files/\S+) ", proxy.held_request)
    assert (held_file is not None) == (request_line == FILE_PUT), proxy.held_request
    _assert_whole_and_referenced(deployment, neo4j_clean_driver, task, expected)

    _expire_every_lease(deployment)
    second = _service(tmp_path, "second", deployment.compute_url)
    with running(second):
        assert second.wait() == 0, second.tail()

    assert alice.get_tasks_status([task]) == [TaskStatus.COMPLETE]
    dag = ProtocolDAG.from_keyed_chain(deployment.objectstore.get_dag(task))
    unrecorded = {u.key for u in dag.protocol_units} - recorded
    assert sorted(_started(second)) == sorted(unrecorded), "only what was not recorded ran"
    refs = _assert_whole_and_referenced(deployment, neo4j_clean_driver, task, expected)
    assert [ok for _, ok, _ in refs.results] == [True]
    assert len(refs.units) == len(set(refs.ok_units())) == settings.n_producers + 1
    if held_file is not None:  # the half-sent file never became an object, nor a pending one
        assert held_file.group(1) not in task_objects(deployment.objectstore, task)
        pending = s3_server.client().list_multipart_uploads(
            Bucket=s3_settings.bucket, Prefix=s3_settings.prefix
        )
        assert not pending.get("Uploads"), pending["Uploads"]
    _assert_final_digests(alice, deployment, task, expected)


# -- 2. the compute API SIGKILLed mid-request and started again ----------------------------------


@pytest.fixture
def compute_api(
    deployment: Deployment,
    neo4j_server: Neo4jTestServer,
    s3_settings: ObjectStoreSettings,
    tmp_path: Path,
) -> Iterator[APIProcess]:
    """The compute API as its own process on the deployment's stores (killed at the end)."""
    objectstore = s3_settings.model_dump(
        include={"backend", "endpoint_url", "bucket", "prefix", "region", "access_key_id"}
    )
    assert s3_settings.secret_access_key is not None
    objectstore["secret_access_key"] = s3_settings.secret_access_key.get_secret_value()
    env = compute_api_env(
        (neo4j_server.url, neo4j_server.user, neo4j_server.password), objectstore, SECRET
    )
    api = APIProcess(free_port(), env, tmp_path / "compute-api.log")
    try:
        yield api.start()
    finally:
        api.kill()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_compute_api_killed_mid_request_and_restarted_leaves_no_duplicate_refs(
    deployment: Deployment,
    neo4j_clean_driver: neo4j.Driver,
    compute_api: APIProcess,
    tmp_path: Path,
) -> None:
    n_units = 4
    protocol = SleepProtocol(settings=SleepSettings(n_units=n_units, seconds=0.2))
    alice, _, (task,) = _submit(deployment, "api-kill", protocol)
    proxy = HoldingProxy(compute_api.port)
    proxy.hold(UNIT_RESULT_PUT, skip=1)  # the second unit result: sent whole, answer held
    service = _service(tmp_path, "service", proxy.url)
    try:
        with running(service):
            wait_until(proxy.held.is_set, "the second unit result upload", alive=[service])
            wait_until(
                lambda: len(task_refs(neo4j_clean_driver, task).ok_units()) == 2,
                "the held unit result recorded",
                alive=[service],
            )
            compute_api.kill()  # mid-request: recorded, not yet answered
            compute_api.start()  # same port, same stores
            proxy.cut()  # the dead server's connection drops; the client sends again
            assert service.wait() == 0, service.tail()
    finally:
        proxy.close()
    assert not proxy.saw_chunked

    assert alice.get_tasks_status([task]) == [TaskStatus.COMPLETE]
    retried = [e for e in service.events("api_retry") if "/unit-results" in e["path"]]
    assert retried, "the client sent the unit result again"
    refs = task_refs(neo4j_clean_driver, task)
    assert all(n == 1 for n in refs.attempts().values()), refs.attempts()
    assert len(refs.units) == len(refs.ok_units()) == n_units
    assert [ok for _, ok, _ in refs.results] == [True]
    assert sorted(_started(service)) == sorted(refs.ok_units()), "every unit ran once"
    objects = task_objects(deployment.objectstore, task)
    assert {u[3] for u in refs.units} | {r[2] for r in refs.results} <= set(objects)


# -- 3. a service stalled past its lease -------------------------------------------------------

LEASE = 4.0
#: Long enough that the SIGSTOP lands inside the unit, not after it.
UNIT_SECONDS = 2.0


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("deployment", [{"lease_seconds": LEASE}], indirect=True)
def test_a_service_stalled_past_its_lease_is_refused_then_carries_on(
    deployment: Deployment, neo4j_clean_driver: neo4j.Driver, tmp_path: Path
) -> None:
    protocol = SleepProtocol(settings=SleepSettings(n_units=2, seconds=UNIT_SECONDS))
    alice, network, (task,) = _submit(deployment, "stall", protocol)
    stalled = _service(tmp_path, "stalled", deployment.compute_url, idle_sleep_max=1.0)
    other = _service(
        tmp_path, "other", deployment.compute_url, once=False, max_tasks=1, idle_sleep_max=1.0
    )
    with running(stalled):
        assert stalled.process is not None
        # Mid-task: the first unit is recorded (it logs the second's start only after).
        wait_until(
            lambda: len(stalled.events("unit_start")) == 2,
            "the second unit started",
            alive=[stalled],
        )
        os.killpg(stalled.process.pid, signal.SIGSTOP)
        try:
            stopped_at = task_refs(neo4j_clean_driver, task)
            assert len(stopped_at.units) == 1, "stopped inside the second unit"
            with running(other):
                assert other.wait() == 0, other.tail()
            assert [e["task"] for e in other.events("claim")] == [str(task)]
            assert not set(_started(other)) & stopped_at.ok_units(), "a recorded unit ran again"
            assert alice.get_tasks_status([task]) == [TaskStatus.COMPLETE]
            finished = task_refs(neo4j_clean_driver, task)
            before = (finished, task_objects(deployment.objectstore, task))
            (transformation,) = alice.get_network_transformations(network)
            (new_task,) = alice.create_tasks(transformation)
            alice.action_tasks([new_task], network)
        finally:
            os.killpg(stalled.process.pid, signal.SIGCONT)
        assert stalled.wait() == 0, stalled.tail()

    lost = stalled.events("claim_lost")
    assert [e["task"] for e in lost] == [str(task)], stalled.tail()
    assert "HTTP 409" in lost[0]["detail"]
    assert (task_refs(neo4j_clean_driver, task), task_objects(deployment.objectstore, task)) == (
        before
    ), "the late upload changed the task"
    assert [ok for _, ok, _ in finished.results] == [True]
    assert all(n == 1 for n in finished.attempts().values())
    # Carried on: registered again (the lease rule had removed it), claimed the new task
    # and finished it.
    assert stalled.events("reregistered"), stalled.tail()
    assert [e["task"] for e in stalled.events("claim")] == [str(task), str(new_task)]
    assert alice.get_tasks_status([new_task]) == [TaskStatus.COMPLETE]
    done = [e["task"] for e in stalled.events("task_done")]
    assert done == [str(new_task)], stalled.tail()
