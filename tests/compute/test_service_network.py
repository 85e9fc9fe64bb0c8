"""A network of HarmonicTI transformations processed by three concurrent subprocess services.

Each service may do at most two of the six tasks (``max_tasks``), so all three take part
whatever the timing, and each exits when the queue is empty (``--once``). The answer is
checked against the closed form, the claims against each other.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from alchemiscale_like.errors import NotFound
from alchemiscale_like.models.task import TaskStatus
from alchemiscale_like.protocols import HarmonicTISettings, analytic_free_energy
from alchemiscale_like.protocols.examples import harmonic_network
from tests.compute.conftest import Tenant
from tests.compute.service_processes import Service, make_service, running

SETTINGS = HarmonicTISettings(n_lambda=4, n_repeats=1, n_steps=2000, n_walkers=16)
SPRINGS = (1.0, 2.0, 4.0, 0.5)  # a star from the first: three transformations
TASKS_PER_TRANSFORMATION = 2
N_SERVICES = 3
MAX_TASKS = 2  # N_SERVICES * MAX_TASKS == every task: no service can do another's share


def unit_starts(service: Service) -> list[tuple[str, str]]:
    """(task, unit) of every unit start in the service's log.

    Unit keys are unique within a DAG only (the setup unit of two tasks of one
    transformation is the same unit), and a service runs one task at a time, so a
    start belongs to the task claimed last before it.
    """
    task, found = None, []
    for event in service.events():
        if event.get("event") == "claim":
            task = event["task"]
        elif event.get("event") == "unit_start":
            assert task is not None, "a unit started before any claim"
            found.append((task, event["unit"]))
    return found


def test_three_services_process_a_network_to_the_exact_answers(
    tenant: Tenant, tmp_path: Path
) -> None:
    user = tenant.user_client()
    network_sk = user.create_network(harmonic_network(SPRINGS, settings=SETTINGS), tenant.scope)
    transformations = user.get_network_transformations(network_sk)
    assert len(transformations) == len(SPRINGS) - 1
    tasks = []
    for transformation in transformations:
        tasks += user.create_tasks(transformation, count=TASKS_PER_TRANSFORMATION)
    user.action_tasks(tasks, network_sk)
    assert len(tasks) == N_SERVICES * MAX_TASKS

    services = [
        make_service(
            tmp_path,
            f"s{i}",
            api_url=tenant.deployment.compute_url,
            identifier=tenant.compute,
            key=tenant.compute_key,
            max_tasks=MAX_TASKS,
        )
        for i in range(N_SERVICES)
    ]
    with running(*services):
        codes = {s.name: s.wait() for s in services}
    report = "\n".join(s.tail() for s in services)
    assert codes == dict.fromkeys(codes, 0), report

    # Every task complete, each claimed once: no task was ever held by two services.
    assert user.get_tasks_status(tasks) == [TaskStatus.COMPLETE] * len(tasks)
    claims = Counter(e["task"] for s in services for e in s.events("claim"))
    assert claims == Counter({str(t): 1 for t in tasks}), report
    assert [user.get_task(t).attempts for t in tasks] == [1] * len(tasks)
    per_service = {s.name: len(s.events("task_done")) for s in services}
    assert per_service == dict.fromkeys(per_service, MAX_TASKS), report
    # ... and no unit ran twice (a second holder would have started it again).
    starts = Counter(start for s in services for start in unit_starts(s))
    assert set(starts.values()) == {1}, report
    assert len(starts) == len(tasks) * (2 + SETTINGS.n_lambda * SETTINGS.n_repeats)

    # Every service left: deregistered, no registration left behind.
    for service in services:
        assert len(service.events("deregistered")) == 1, service.tail()
        with pytest.raises(NotFound):
            tenant.deployment.statestore.get_computeservice(service.service_id)

    # The gathered estimates agree with the closed form within 4 sigma.
    springs = {f"ligand{i}": k for i, k in enumerate(SPRINGS)}
    for transformation in transformations:
        model = user.get_transformation(transformation)
        exact = analytic_free_energy(
            springs[model.stateA.name], springs[model.stateB.name], SETTINGS.dimensions
        )
        result = user.get_transformation_results(transformation)
        assert result is not None
        assert result.n_protocol_dag_results == TASKS_PER_TRANSFORMATION
        estimate, sigma = result.data["estimate"], result.data["uncertainty"]
        assert 0 < sigma < 0.1, result.data  # an honest, informative error bar
        assert abs(estimate - exact) < 4 * sigma, (model.name, estimate, sigma, exact)
