"""A compute service whose lease expired is refused (409 ClaimLost) and changes nothing.

The service claims a task, stores its DAG and runs it on this machine, but uploads
nothing before its lease runs out. Time is driven, not waited for: the server's own
lease rule (``services.claims.expire_leases``) runs with a ``now`` past the lease, so
the service is deregistered and the task is back to waiting, exactly as a claim by any
service would do later. Then every upload it still has (a result file, a unit result, a
DAG, a checkpoint, the final result, a release) gets 409 ClaimLost, and both stores
(the whole graph, every object with its sha256) are identical before and after each.
The same holds when another service has claimed the task in the meantime.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import neo4j
import pytest
import requests

from alchemiscale_like.models.task import TaskStatus
from tests.server.conftest import Deployment
from tests.server.helpers import (
    TIMEOUT,
    LocalRun,
    assert_error,
    assert_healthy,
    bearer,
    claimed_with_dag,
    compute,
    expire_lease,
    run_locally,
    snapshot,
    token,
    upload_run,
)


def _upload(data: bytes) -> dict[str, Any]:
    return {
        "data": data,
        "headers": {
            "Content-Type": "application/octet-stream",
            "X-Content-SHA256": hashlib.sha256(data).hexdigest(),
        },
    }


def _late_calls(run: LocalRun, other_dag: Any) -> dict[str, tuple[str, str, dict[str, Any]]]:
    """Every write the late service still wants to make: name -> (method, tail, kwargs)."""
    producer = run.results[0]
    (ref,) = producer.files
    unit = producer.source_key
    return {
        "result file": (
            "PUT",
            f"/units/{unit}/{producer.attempt}/files/{ref.name}",
            _upload(run.files[ref.location].read_bytes()),
        ),
        "unit result": ("PUT", "/unit-results", {"json": json.loads(producer.to_json())}),
        "same DAG": ("PUT", "/dag", {"json": json.loads(run.dag.to_json())}),
        "another DAG": ("PUT", "/dag", {"json": other_dag}),
        "checkpoint": ("PUT", f"/units/{unit}/checkpoints/state.json", _upload(b'{"step": 9}')),
        "finish": ("POST", "/finish", {"json": json.loads(run.dag_result.to_json())}),
        "release": ("POST", "/release", {}),
    }


@pytest.mark.parametrize("meanwhile", ["task waiting", "task claimed by another service"])
def test_late_uploads_get_409_and_change_nothing(
    meanwhile: str, deployment: Deployment, neo4j_clean_driver: neo4j.Driver, tmp_path: Path
) -> None:
    d = deployment
    task, late, model, dag = claimed_with_dag(d, "files", "late")
    run = run_locally(dag, late.get_task(task).attempts, tmp_path)
    other_dag = json.loads(model.create(seed=8).to_json())

    expire_lease(d, late)
    assert d.statestore.get_task_status([task]) == {task: TaskStatus.WAITING}
    if meanwhile == "task claimed by another service":
        successor = compute(d, suffix="next")
        successor.register()
        assert successor.claim_tasks() == [task]

    jwt = token(d.compute_url, "worker")
    base = f"{d.compute_url}/computeservice/{late.service_id}/tasks/{task}"
    before = snapshot(neo4j_clean_driver, d.objectstore)
    for name, (method, tail, kwargs) in _late_calls(run, other_dag).items():
        headers = {**bearer(jwt), **kwargs.pop("headers", {})}
        answer = requests.request(method, base + tail, headers=headers, timeout=TIMEOUT, **kwargs)
        assert answer.status_code == 409, (name, answer.text)
        assert_error(answer, 409, "ClaimLost")
        assert snapshot(neo4j_clean_driver, d.objectstore) == before, name

    # A heartbeat does not bring the registration back either.
    answer = requests.post(
        f"{d.compute_url}/computeservice/{late.service_id}/heartbeat",
        headers=bearer(jwt),
        timeout=TIMEOUT,
    )
    assert_error(answer, 404, "NotFound")
    assert snapshot(neo4j_clean_driver, d.objectstore) == before
    assert_healthy(d)


def test_a_remembered_claim_that_is_over_changes_nothing(
    deployment: Deployment, neo4j_clean_driver: neo4j.Driver, tmp_path: Path
) -> None:
    # The API remembers the claim from the DAG upload, so the late unit result is
    # stored before its recording write finds the claim over: that stored result must
    # be taken back before the 409.
    d = deployment
    task, late, _, dag = claimed_with_dag(d, "remembered", "remembered")
    run = run_locally(dag, late.get_task(task).attempts, tmp_path)
    producer, consumer = run.results[0], run.results[-1]

    expire_lease(d, late)
    before = snapshot(neo4j_clean_driver, d.objectstore)
    jwt = token(d.compute_url, "worker")
    for result in (consumer, producer):
        answer = requests.put(
            f"{d.compute_url}/computeservice/{late.service_id}/tasks/{task}/unit-results",
            json=json.loads(result.to_json()),
            headers=bearer(jwt),
            timeout=TIMEOUT,
        )
        assert_error(answer, 409, "ClaimLost")
        assert snapshot(neo4j_clean_driver, d.objectstore) == before, result.name


def test_a_service_that_claims_a_task_again_records_under_its_new_claim(
    deployment: Deployment, neo4j_clean_driver: neo4j.Driver, tmp_path: Path
) -> None:
    # Claim 1 is remembered by the API; the service loses it and claims the task
    # again (claim 2). Its uploads must land in claim 2's folders, none in claim 1's.
    d = deployment
    task, service, _, dag = claimed_with_dag(d, "again", "again")
    assert service.get_task(task).attempts == 1

    expire_lease(d, service)
    service.register()
    assert service.claim_tasks() == [task]
    assert service.get_task(task).attempts == 2

    run = run_locally(dag, 2, tmp_path)
    upload_run(service, task, run, len(run.results))
    refs = d.statestore.get_unit_results(task)
    assert len(refs) == len(run.results)
    assert all("-2/" in ref.relpath for ref in refs), [r.relpath for r in refs]
    stored = [o.location for o in d.objectstore.list_objects() if str(task.gufe_key) in o.location]
    assert stored, "the uploads are stored"
    assert not [loc for loc in stored if "/1-1/" in loc], stored
