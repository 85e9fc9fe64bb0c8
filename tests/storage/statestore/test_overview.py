"""Conformance: the dashboard aggregates, unit-result provenance, estimates and claim counts."""

import datetime as dt

import pytest

from alchemiscale_like.errors import NotFound
from alchemiscale_like.models import ScopedKey
from alchemiscale_like.models.estimate import ResultEstimate
from alchemiscale_like.models.task import TaskStatus
from alchemiscale_like.storage.statestore.records import (
    ProtocolDAGResultRef,
    ProtocolUnitResultRef,
)
from tests.storage.statestore.conftest import World, build_network, dag_ref, submit
from tests.storage.statestore.test_results import unit_ref

T0 = dt.datetime(2026, 12, 1, 10, 0, 0, tzinfo=dt.UTC)


def timed_unit_ref(unit: str, service: str, ok: bool = True) -> ProtocolUnitResultRef:
    base = unit_ref(unit, ok=ok)
    return ProtocolUnitResultRef(
        **{
            **base.model_dump(),
            "files": base.files,
            "service": service,
            "started": T0,
            "finished": T0 + dt.timedelta(seconds=2.5),
        }
    )


def finished_ref(tag: str, ok: bool, estimate: ResultEstimate | None) -> ProtocolDAGResultRef:
    return ProtocolDAGResultRef(
        key=f"ProtocolDAGResult-{tag * 32}",
        ok=ok,
        relpath=f"results/{tag}.json.zst",
        created=dt.datetime.now(dt.UTC),
        estimate=estimate,
    )


def test_unit_results_keep_their_service_and_times(statestore):
    world = World(statestore, n_tasks=1)
    task = world.claim_one()
    statestore.set_task_dag(task, world.service, dag_ref(n_units=2))
    statestore.add_unit_result(task, world.service, timed_unit_ref("U1", world.service))
    statestore.add_unit_result(task, world.service, unit_ref("U2"))
    first, second = statestore.get_unit_results(task)
    assert first == timed_unit_ref("U1", world.service)
    assert first.finished - first.started == dt.timedelta(seconds=2.5)
    assert (second.service, second.started, second.finished) == (None, None, None)


def test_network_summaries_count_statuses_and_units(statestore):
    world = World(statestore, n_tasks=3)
    first, second = world.transformations
    running = world.claim_one()
    statestore.set_task_dag(running, world.service, dag_ref(n_units=3))
    statestore.add_unit_result(running, world.service, unit_ref("U1"))
    statestore.add_unit_result(running, world.service, unit_ref("U2", ok=False))
    statestore.add_unit_result(running, world.service, unit_ref("U2", attempt=2))
    statestore.add_unit_result(running, world.service, unit_ref("U3", ok=False))
    # Neither a repeated upload nor a second success of one unit counts twice.
    statestore.add_unit_result(running, world.service, unit_ref("U1"))
    statestore.add_unit_result(running, world.service, unit_ref("U2", attempt=3))
    world.put_in_status(TaskStatus.ERROR)  # on the second transformation
    summaries = statestore.get_network_summaries(world.network)
    names = {s.scoped_key: s.name for s in summaries}
    assert [s.name for s in summaries] == sorted(names.values())
    by_key = {s.scoped_key: s for s in summaries}
    assert set(by_key) == {first, second}
    assert by_key[first].status == {"running": 1, "waiting": 2}
    assert (by_key[first].units_done, by_key[first].units_total) == (2, 3)
    assert by_key[second].status == {"error": 1}
    assert (by_key[second].units_done, by_key[second].units_total) == (0, 3)
    assert sum(sum(s.status.values()) for s in summaries) == sum(
        statestore.get_network_status(world.network).values()
    )


def test_network_summaries_of_a_network_without_tasks(statestore):
    network = submit(statestore, build_network("empty", n_edges=2))
    summaries = statestore.get_network_summaries(network)
    assert len(summaries) == 2
    assert all(s.status == {} and (s.units_done, s.units_total) == (0, 0) for s in summaries)
    assert {s.protocol for s in summaries} == {"HarmonicTIProtocol"}


def test_transformation_task_summaries(statestore):
    world = World(statestore, n_tasks=2)
    running = world.claim_one()
    statestore.set_task_dag(running, world.service, dag_ref(n_units=4))
    statestore.add_unit_result(running, world.service, unit_ref("U1"))
    summaries = statestore.get_transformation_task_summaries(world.transformations[0])
    assert {s.record.scoped_key for s in summaries} == set(world.tasks)
    created = [s.record.created for s in summaries]
    assert created == sorted(created, reverse=True)
    by_key = {s.record.scoped_key: s for s in summaries}
    assert (by_key[running].done, by_key[running].total) == (1, 4)
    assert by_key[running].claimant == world.service
    assert statestore.get_task_progress(running).done == by_key[running].done
    assert by_key[running].record == statestore.get_task(running)
    (other,) = set(world.tasks) - {running}
    assert (by_key[other].done, by_key[other].total, by_key[other].claimant) == (0, 0, None)
    assert statestore.get_transformation_task_summaries(world.transformations[1]) == []


def test_network_estimates_are_those_of_successful_results(statestore):
    world = World(statestore, n_tasks=3)
    estimate = ResultEstimate(estimate=-1.25, uncertainty=0.5, units="kT")
    outcomes = [(True, estimate), (True, None), (False, None)]
    tasks = []
    for tag, (ok, summary) in zip("cde", outcomes, strict=True):
        task = world.claim_one()
        statestore.set_task_dag(task, world.service, dag_ref())
        statestore.finish_task(task, world.service, finished_ref(tag, ok, summary))
        tasks.append(task)
    (record,) = statestore.get_network_estimates(world.network)
    names = {s.scoped_key: s.name for s in statestore.get_network_summaries(world.network)}
    assert (record.transformation, record.name, record.task, record.estimate) == (
        world.transformations[0],
        names[world.transformations[0]],
        tasks[0],
        estimate,
    )
    (stored,) = statestore.get_task_results(tasks[0])
    assert stored.estimate == estimate
    (plain,) = statestore.get_transformation_results(world.transformations[0])[1:]
    assert plain.estimate is None


def test_estimates_without_uncertainty_or_units_round_trip(statestore):
    world = World(statestore, n_tasks=1)
    task = world.claim_one()
    statestore.set_task_dag(task, world.service, dag_ref())
    bare = ResultEstimate(estimate=3.0)
    statestore.finish_task(task, world.service, finished_ref("f", True, bare))
    assert [r.estimate for r in statestore.get_network_estimates(world.network)] == [bare]


def test_unknown_keys_are_not_found(statestore):
    World(statestore, n_tasks=1)
    network = ScopedKey.from_str(f"AlchemicalNetwork-{'0' * 32}-org-campaign-project")
    transformation = ScopedKey.from_str(f"Transformation-{'0' * 32}-org-campaign-project")
    with pytest.raises(NotFound):
        statestore.get_network_summaries(network)
    with pytest.raises(NotFound):
        statestore.get_network_estimates(network)
    with pytest.raises(NotFound):
        statestore.get_transformation_task_summaries(transformation)


def test_services_are_listed_with_their_claims(statestore):
    world = World(statestore, n_tasks=3)
    statestore.register_computeservice("svc-0", protocols=["HarmonicTIProtocol"])
    held = statestore.claim_tasks(world.service, 2)
    statestore.claim_tasks(world.service, 1)
    services = statestore.list_computeservices()
    assert [s.identifier for s in services] == ["svc-0", world.service]
    idle, busy = services
    assert (idle.claimed, idle.claims_total, idle.claims_last_minute) == ((), 0, 0.0)
    assert idle.protocols == ("HarmonicTIProtocol",)
    assert set(busy.claimed) == set(world.tasks)
    assert set(held) <= set(busy.claimed)
    assert busy.claims_total == 3
    # All three claims fell within the last minute (at most two minute buckets).
    assert 0 < busy.claims_last_minute <= 3
    assert statestore.get_computeservice(world.service).claims_total == 3
    # A claim that finds nothing counts nothing.
    assert statestore.claim_tasks(world.service, 1) == []
    assert statestore.get_computeservice(world.service).claims_total == 3
    statestore.deregister_computeservice(world.service)
    assert [s.identifier for s in statestore.list_computeservices()] == ["svc-0"]
