"""Failures under a compute service: a failing unit, restart patterns, a failed claim.

The subprocess service imports the test protocols through its ``modules`` setting, as
a user's service imports theirs. One ``--once`` service works through three networks
whose restart patterns differ, until nothing is left to claim.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from alchemiscale_like import ComputeClient, UserClient
from alchemiscale_like.compute.service import SynchronousComputeService
from alchemiscale_like.compute.settings import ComputeServiceSettings
from alchemiscale_like.errors import APIUnavailable
from alchemiscale_like.models import (
    AlchemicalNetwork,
    ChemicalSystem,
    ScopedKey,
    SmallMoleculeComponent,
    Transformation,
)
from alchemiscale_like.models.protocol import Protocol
from alchemiscale_like.models.task import TaskStatus
from alchemiscale_like.protocols.testing import (
    FailingProtocol,
    FailingSettings,
    SleepProtocol,
    SleepSettings,
)
from tests.compute.conftest import Tenant
from tests.compute.service_processes import Service, make_service, running

#: Unit 1 of the chain fails on every attempt a test can reach (attempts start at 1).
ALWAYS = list(range(1, 50))
MAX_RETRIES = 2
PATTERN = r"DeliberateFailure: always fails: unit 1 attempt \d+"


def one_edge_network(name: str, protocol: Protocol) -> AlchemicalNetwork:
    """One Transformation of ``protocol`` between two made-up states."""
    systems = [
        ChemicalSystem(
            name=f"{name}-{i}",
            components={"ligand": SmallMoleculeComponent(name=f"{name}{i}", smiles="C" * (i + 1))},
        )
        for i in range(2)
    ]
    edge = Transformation(stateA=systems[0], stateB=systems[1], protocol=protocol, name=name)
    return AlchemicalNetwork(edges=[edge], nodes=systems, name=name)


def failing_network(name: str, fail_on: dict[str, list[int]], message: str) -> AlchemicalNetwork:
    """A chain of two units, unit 1 failing on the attempts given."""
    settings = FailingSettings(n_units=2, fail_on=fail_on, message=message)
    return one_edge_network(name, FailingProtocol(settings=settings))


def submit(
    user: UserClient, tenant: Tenant, network: AlchemicalNetwork, patterns: list[str]
) -> ScopedKey:
    """Create the network with its restart patterns, then one actioned task."""
    network_sk = user.create_network(network, tenant.scope)
    if patterns:
        user.add_task_restart_patterns(network_sk, patterns, MAX_RETRIES)
    (transformation,) = user.get_network_transformations(network_sk)
    (task,) = user.create_tasks(transformation)
    user.action_tasks([task], network_sk)
    return task


def starts_by_task(service: Service) -> dict[str, Counter[str]]:
    """Unit starts per task (a service runs one task at a time, after claiming it)."""
    found: dict[str, Counter[str]] = {}
    task = None
    for event in service.events():
        if event.get("event") == "claim":
            task = event["task"]
        elif event.get("event") == "unit_start":
            assert task is not None
            found.setdefault(task, Counter())[event["name"]] += 1
    return found


def test_a_failing_unit_errors_and_restart_patterns_decide_what_follows(
    tenant: Tenant, tmp_path: Path
) -> None:
    user = tenant.user_client()
    # Matching pattern, always failing: re-queued MAX_RETRIES times, then error for good.
    exhausted = submit(
        user, tenant, failing_network("exhausted", {"1": ALWAYS}, "always fails"), [PATTERN]
    )
    # Pattern that does not match the traceback: error after the first attempt.
    unmatched = submit(
        user,
        tenant,
        failing_network("unmatched", {"1": ALWAYS}, "always fails"),
        [r"MemoryError|CUDA out of memory"],
    )
    # Matching pattern, failing once only: the restart resumes the task, which completes.
    transient = submit(
        user,
        tenant,
        failing_network("transient", {"1": [1]}, "always fails"),
        [PATTERN],
    )

    service = make_service(
        tmp_path,
        "failures",
        api_url=tenant.deployment.compute_url,
        identifier=tenant.compute,
        key=tenant.compute_key,
        modules=["alchemiscale_like.protocols.testing"],
    )
    with running(service):
        assert service.wait() == 0, service.tail()

    statuses = user.get_tasks_status([exhausted, unmatched, transient])
    assert statuses == [TaskStatus.ERROR, TaskStatus.ERROR, TaskStatus.COMPLETE], service.tail()
    claims = Counter(e["task"] for e in service.events("claim"))
    expected_attempts = {exhausted: MAX_RETRIES + 1, unmatched: 1, transient: 2}
    assert claims == Counter({str(t): n for t, n in expected_attempts.items()}), service.tail()
    for task, attempts in expected_attempts.items():
        assert user.get_task(task).attempts == attempts

    # The traceback of every failed attempt is visible to the user.
    for task, attempts in expected_attempts.items():
        failures = user.get_task_failures(task)
        failed_attempts = attempts - 1 if task == transient else attempts
        assert sorted(f.attempt for f in failures) == list(range(1, failed_attempts + 1))
        for failure in failures:
            assert failure.exception[0] == "DeliberateFailure"
            assert f"unit 1 attempt {failure.attempt}" in failure.exception[1]
            assert "Traceback (most recent call last)" in failure.traceback
            assert "raise DeliberateFailure" in failure.traceback
            assert f"DeliberateFailure: always fails: unit 1 attempt {failure.attempt}" in (
                failure.traceback
            )
        results = user.get_task_results(task)
        assert sorted(r.ok for r in results) == [False] * failed_attempts + [True] * (
            task == transient
        )

    # A restarted task resumes: unit 0 succeeded once and never ran again.
    starts = starts_by_task(service)
    assert starts[str(exhausted)] == Counter({"failing 0": 1, "failing 1": MAX_RETRIES + 1})
    assert starts[str(unmatched)] == Counter({"failing 0": 1, "failing 1": 1})
    assert starts[str(transient)] == Counter({"failing 0": 1, "failing 1": 2})


class FailsOnce:
    """A real ComputeClient whose first call of ``method`` fails as an outage outlasting
    the client's retries does (the API and the stores stay real)."""

    def __init__(self, client: ComputeClient, method: str) -> None:
        self.real = client
        self.method = method
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        if name != self.method:
            return getattr(self.real, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls == 1:
                raise APIUnavailable("injected: the compute API did not answer within the retries")
            return getattr(self.real, name)(*args, **kwargs)

        return call


def run_once_service(tenant: Tenant, tmp_path: Path, name: str, failing: str) -> FailsOnce:
    """Run an in-process ``--once`` service whose first ``failing`` call fails; it must exit 0."""
    client = ComputeClient(
        tenant.deployment.compute_url,
        tenant.compute,
        tenant.compute_key,
        service_id=f"{tenant.compute}~{name}",
        backoff=0.01,
    )
    api = FailsOnce(client, failing)
    settings = ComputeServiceSettings.load(
        None,
        api_url=tenant.deployment.compute_url,
        identifier=tenant.compute,
        key=tenant.compute_key,
        scratch_dir=tmp_path / "scratch",
        once=True,
        idle_sleep=0.05,
    )
    with client:
        assert SynchronousComputeService(settings, api).run() == 0  # type: ignore[arg-type]
    return api


def test_a_failed_claim_is_not_an_empty_queue_for_a_once_service(
    tenant: Tenant, tmp_path: Path
) -> None:
    user = tenant.user_client()
    network = one_edge_network("outage", SleepProtocol(settings=SleepSettings(n_units=1)))
    task = submit(user, tenant, network, [])
    api = run_once_service(tenant, tmp_path, "outage", "claim_tasks")
    # The queue was never empty: the service claimed again and did the task.
    assert api.calls >= 2
    assert user.get_tasks_status([task]) == [TaskStatus.COMPLETE]


def test_an_outage_during_a_task_gives_it_back_and_the_service_goes_on(
    tenant: Tenant, tmp_path: Path, caplog: Any
) -> None:
    user = tenant.user_client()
    network = one_edge_network("midtask", SleepProtocol(settings=SleepSettings(n_units=2)))
    task = submit(user, tenant, network, [])
    caplog.set_level("INFO", logger="alchemiscale_like.compute.service")
    run_once_service(tenant, tmp_path, "midtask", "upload_unit_result")
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith(f"event=task_abandoned task={task} ") for m in messages)
    assert f"event=release task={task}" in messages
    # Released, claimed again by the same service, finished: the daemon lived on.
    assert sum(m == f"event=claim task={task}" for m in messages) == 2
    assert user.get_tasks_status([task]) == [TaskStatus.COMPLETE]
