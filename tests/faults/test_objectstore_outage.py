"""S3Proxy stopped while a compute service uploads a large result file, then restarted.

The test has an S3Proxy of its own (the worker's shared one serves the other tests),
both APIs over real HTTP on it and on the worker's Neo4j, and one compute service as
a real subprocess running a :class:`~alchemiscale_like.protocols.testing.FileProtocol`
task: a producer unit writes two files large enough for multipart uploads, a
consumer unit reads them back. As soon as the producer has finished, while its
files are going up, S3Proxy is stopped, kept down about ten seconds and started
again on the same blob folder and port. It is stopped two ways: SIGTERM (a clean
shutdown) and SIGKILL (a crash, which leaves its half-received parts behind).

What must hold:

- the outage landed while the files were going up: the producer had finished but its
  result was not recorded yet, and a file's upload was answered 503 and retried;
- while S3Proxy is down the task is never complete (nothing is marked complete before
  its objects are durable);
- no partial object is ever visible: right after the restart, and at the end, every
  stored result file has its full size, and at the end its recorded sha256 is the
  sha256 of the bytes the unit wrote;
- the uploads are retried: the service meets the outage (503s, then retries), exits
  0, and the task completes with its DAG result and a result for each unit, the
  consumer's digests matching what the producer wrote.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from alchemiscale_like import UserClient
from alchemiscale_like.compute.recorder import seed_for
from alchemiscale_like.models import (
    AlchemicalNetwork,
    ChemicalSystem,
    SmallMoleculeComponent,
    Transformation,
)
from alchemiscale_like.models.task import TaskStatus
from alchemiscale_like.protocols.testing import FileProtocol, FileSettings, file_content_chunks
from alchemiscale_like.storage.objectstore import build_objectstore
from alchemiscale_like.storage.statestore import StateStore
from tests.compute.service_processes import make_service, running
from tests.faults.helpers_servers import (
    KEYS,
    SCOPE,
    WAIT,
    own_deployment,
    own_s3proxy,
    s3_settings,
    wait_until,
)

#: Two files above the multipart threshold (16 MiB): each goes up in several parts.
MIB = 1 << 20
SETTINGS = FileSettings(n_producers=1, n_files=2, file_size=40 * MIB)
#: How long S3Proxy stays down (a sleep, not an assertion).
OUTAGE = 10.0
#: The API's S3 client gives up fast, so the outage reaches the service as 503s.
S3_CLIENT = {"max_attempts": 2, "connect_timeout": 2.0, "read_timeout": 30.0}


def file_network() -> AlchemicalNetwork:
    """One FileProtocol Transformation between two made-up states."""
    systems = [
        ChemicalSystem(
            name=f"files-{i}",
            components={"ligand": SmallMoleculeComponent(name=f"files{i}", smiles="C" * (i + 1))},
        )
        for i in range(2)
    ]
    edge = Transformation(
        stateA=systems[0], stateB=systems[1], protocol=FileProtocol(settings=SETTINGS)
    )
    return AlchemicalNetwork(edges=[edge], nodes=systems, name="big-files")


def expected_sha256(seed: int, index: int) -> str:
    """The sha256 of file ``index`` of producer 0, as :class:`FileProducerUnit` writes it."""
    digest = hashlib.sha256()
    for chunk in file_content_chunks(seed, 0, index, SETTINGS.file_size):
        digest.update(chunk)
    return digest.hexdigest()


@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.parametrize("crash", [False, True], ids=["SIGTERM", "SIGKILL"])
def test_uploads_ride_out_an_s3_outage(
    crash: bool, neo4j_statestore: StateStore, neo4j_clean_driver: object, tmp_path: Path
) -> None:
    with own_s3proxy(tmp_path / "s3proxy") as s3proxy:
        objects = s3_settings(s3proxy, **S3_CLIENT)
        with own_deployment(neo4j_statestore, objects, close_store=False) as deployment:
            alice = UserClient(deployment.user_url, "alice", KEYS["alice"], backoff=0.01)
            network = alice.create_network(file_network(), SCOPE)
            (transformation,) = alice.get_network_transformations(network)
            (task,) = alice.create_tasks(transformation)
            alice.action_tasks([task], network)
            seed = seed_for(task)
            expected = {f"data/p0_f{i}.bin": expected_sha256(seed, i) for i in range(2)}
            # A store of the test's own to look at the bucket (the API's stays untouched).
            bucket = build_objectstore(objects)

            def stored_files() -> dict[str, int]:
                return {
                    o.location: o.stored_size
                    for o in bucket.list_objects()
                    if "/files/" in o.location
                }

            service = make_service(
                tmp_path / "services",
                "uploader",
                api_url=deployment.compute_url,
                identifier="worker",
                key=KEYS["worker"],
                heartbeat_interval=1.0,
                idle_sleep_max=1.0,
                cache_max_bytes=0,
                modules=["alchemiscale_like.protocols.testing"],
            )
            with running(service):
                producer_done = wait_until(
                    lambda: [
                        e
                        for e in service.events("unit_end")
                        if str(e["unit"]).startswith("FileProducerUnit-")
                    ],
                    "the producer unit to finish",
                )
                if crash:
                    s3proxy.kill()
                else:
                    s3proxy.stop()
                down_since = time.monotonic()
                assert not service.events("unit_uploaded"), (
                    f"the outage came after the upload: {producer_done}"
                )
                while time.monotonic() - down_since < OUTAGE:
                    assert alice.get_tasks_status([task]) != [TaskStatus.COMPLETE]
                    time.sleep(0.5)
                assert service.process is not None
                assert service.process.poll() is None, "the service outlived the outage"
                s3proxy.start()
                for location, size in stored_files().items():
                    assert size == SETTINGS.file_size, f"partial object {location} ({size} B)"
                assert service.wait(WAIT) == 0, service.tail()

            # The outage met the file uploads: 503s on a file's PUT, retried after a pause.
            retries = [
                e
                for e in service.events("api_retry")
                if e["reason"] == "status_503" and "/files/" in str(e["path"])
            ]
            assert retries, "the file uploads met the outage"
            assert alice.get_tasks_status([task]) == [TaskStatus.COMPLETE], service.tail()

            (ref,) = alice.get_task_results(task)
            assert ref.ok
            dag_result = alice.get_task_result(task, ref.key)
            units = {r.source_key for r in dag_result.protocol_unit_results if r.ok()}
            assert len(units) == SETTINGS.n_producers + 1
            consumer = next(r for r in dag_result.protocol_unit_results if "digests" in r.outputs)
            assert consumer.outputs["digests"] == expected

            # Every recorded file of the successful attempt is there, whole and right.
            files = [f for f in alice.list_result_files(task) if f.unit_ok]
            assert {f.name: f.sha256 for f in files} == expected
            for found in files:
                got = alice.download_result_file(found, tmp_path / "downloads" / found.name)
                digest = hashlib.sha256()
                with open(got, "rb") as handle:
                    while chunk := handle.read(MIB):
                        digest.update(chunk)
                assert digest.hexdigest() == expected[found.name]
            assert all(size == SETTINGS.file_size for size in stored_files().values())
