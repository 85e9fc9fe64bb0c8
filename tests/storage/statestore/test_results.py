import pytest

from alchemiscale_like.errors import ClaimLost, NotFound, ValidationError
from alchemiscale_like.models import ScopedKey
from alchemiscale_like.models.task import TaskStatus
from alchemiscale_like.storage.statestore.records import (
    ProtocolUnitResultRef,
    ResultFileRef,
    TaskProgress,
)
from tests.storage.statestore.conftest import SCOPE, World, dag_ref, dag_result_ref


def unit_ref(
    unit: str, attempt: int = 1, ok: bool = True, n_files: int = 0
) -> ProtocolUnitResultRef:
    files = tuple(
        ResultFileRef(
            name=f"f{i}.npy",
            size=10 + i,
            sha256=f"{i:064x}",
            location=f"units/{unit}/{attempt}/files/f{i}.npy",
        )
        for i in range(n_files)
    )
    return ProtocolUnitResultRef(
        unit_key=unit,
        attempt=attempt,
        ok=ok,
        relpath=f"units/{unit}/{attempt}/result.json.zst",
        files=files,
    )


def test_first_dag_wins(statestore):
    world = World(statestore, n_tasks=1)
    task = world.claim_one()
    assert statestore.get_task_dag(task) is None
    assert statestore.set_task_dag(task, world.service, dag_ref(tag="a")) == dag_ref(tag="a")
    # The same service or a later claimant gets the stored DAG back, not a new one.
    assert statestore.set_task_dag(task, world.service, dag_ref(tag="b")) == dag_ref(tag="a")
    statestore.deregister_computeservice(world.service)
    statestore.register_computeservice("svc-2")
    assert statestore.claim_tasks("svc-2", 1) == [task]
    assert statestore.set_task_dag(task, "svc-2", dag_ref(tag="c")) == dag_ref(tag="a")
    assert statestore.get_task_dag(task) == dag_ref(tag="a")


def test_unit_results_files_and_progress(statestore):
    world = World(statestore, n_tasks=1)
    task = world.claim_one()
    statestore.set_task_dag(task, world.service, dag_ref(n_units=3))
    assert statestore.get_task_progress(task) == TaskProgress(done=0, total=3)
    statestore.add_unit_result(task, world.service, unit_ref("U1", n_files=2))
    statestore.add_unit_result(task, world.service, unit_ref("U2", attempt=1, ok=False))
    statestore.add_unit_result(task, world.service, unit_ref("U2", attempt=2, n_files=1))
    # Idempotent: a retried upload of the same attempt changes nothing.
    statestore.add_unit_result(task, world.service, unit_ref("U1", n_files=2))
    results = statestore.get_unit_results(task)
    assert [(r.unit_key, r.attempt, r.ok) for r in results] == [
        ("U1", 1, True),
        ("U2", 1, False),
        ("U2", 2, True),
    ]
    assert results[0] == unit_ref("U1", n_files=2)
    assert [(r.unit_key, r.attempt) for r in statestore.get_unit_results(task, ok_only=True)] == [
        ("U1", 1),
        ("U2", 2),
    ]
    assert statestore.get_task_progress(task) == TaskProgress(done=2, total=3)
    assert len(statestore.get_task_files(task)) == 3


def test_results_need_the_claim(statestore):
    world = World(statestore, n_tasks=2)
    statestore.register_computeservice("intruder")
    task = world.claim_one()
    with pytest.raises(ClaimLost):
        statestore.set_task_dag(task, "intruder", dag_ref())
    statestore.set_task_dag(task, world.service, dag_ref())
    with pytest.raises(ClaimLost):
        statestore.add_unit_result(task, "intruder", unit_ref("U1"))
    with pytest.raises(ClaimLost):
        statestore.finish_task(task, "intruder", dag_result_ref(ok=True))
    assert statestore.get_unit_results(task) == []
    assert statestore.get_task_results(task) == []
    assert statestore.get_task_status([task]) == {task: TaskStatus.RUNNING}


def test_results_after_release_are_refused(statestore):
    world = World(statestore, n_tasks=1)
    task = world.claim_one()
    statestore.set_task_dag(task, world.service, dag_ref())
    statestore.set_task_status([task], TaskStatus.WAITING)
    with pytest.raises(ClaimLost):
        statestore.add_unit_result(task, world.service, unit_ref("U1"))
    with pytest.raises(ClaimLost):
        statestore.finish_task(task, world.service, dag_result_ref(ok=True))
    assert statestore.get_task_status([task]) == {task: TaskStatus.WAITING}
    assert statestore.get_task_results(task) == []


def test_unit_result_before_dag_is_refused(statestore):
    world = World(statestore, n_tasks=1)
    task = world.claim_one()
    with pytest.raises(NotFound, match="no ProtocolDAG"):
        statestore.add_unit_result(task, world.service, unit_ref("U1"))
    with pytest.raises(NotFound, match="no ProtocolDAG"):
        statestore.finish_task(task, world.service, dag_result_ref(ok=True))
    with pytest.raises(ValidationError):
        statestore.set_task_dag(task, world.service, dag_ref(n_units=0))
    with pytest.raises(ValidationError):
        statestore.add_unit_result(task, world.service, unit_ref("U1", attempt=0))


def test_a_unit_result_for_an_earlier_claim_is_refused(statestore):
    world = World(statestore, n_tasks=1)
    task = world.claim_one()
    statestore.set_task_dag(task, world.service, dag_ref())
    statestore.add_unit_result(task, world.service, unit_ref("U1"), claim=1)
    # The same service gives the task back and claims it again: claim 2 is current.
    statestore.set_task_status([task], TaskStatus.WAITING)
    assert statestore.claim_tasks(world.service, 1) == [task]
    assert statestore.get_task(task).attempts == 2
    with pytest.raises(ClaimLost, match="claim 1"):
        statestore.add_unit_result(task, world.service, unit_ref("U2"), claim=1)
    statestore.add_unit_result(task, world.service, unit_ref("U3"), claim=2)
    assert [r.unit_key for r in statestore.get_unit_results(task)] == ["U1", "U3"]


def test_finish_success_completes_and_leaves_the_hub(statestore):
    world = World(statestore, n_tasks=1)
    task = world.claim_one()
    statestore.set_task_dag(task, world.service, dag_ref())
    assert (
        statestore.finish_task(task, world.service, dag_result_ref(ok=True)) == TaskStatus.COMPLETE
    )
    assert statestore.get_task_status([task]) == {task: TaskStatus.COMPLETE}
    assert statestore.get_task_claimant(task) is None
    assert task not in statestore.get_taskhub_tasks(world.network)
    (ref,) = statestore.get_task_results(task)
    assert ref.ok
    assert ref.task == task
    assert statestore.get_transformation_results(world.transformations[0]) == [ref]


def test_failures_accumulate_and_one_success_at_most(statestore):
    world = World(statestore, n_tasks=1)
    task = world.claim_one()
    statestore.set_task_dag(task, world.service, dag_ref())
    assert (
        statestore.finish_task(task, world.service, dag_result_ref(ok=False, tag="1"))
        == TaskStatus.ERROR
    )
    assert task in statestore.get_taskhub_tasks(world.network), "error keeps the task actioned"
    statestore.set_task_status([task], TaskStatus.WAITING)
    assert world.claim_one() == task
    statestore.finish_task(task, world.service, dag_result_ref(ok=False, tag="2"))
    statestore.set_task_status([task], TaskStatus.WAITING)
    world.claim_one()
    statestore.finish_task(task, world.service, dag_result_ref(ok=True, tag="3"))
    results = statestore.get_task_results(task)
    assert [r.ok for r in results] == [False, False, True]
    assert statestore.get_transformation_results(world.transformations[0]) == [results[-1]]
    assert statestore.get_task(task).attempts == 3


def test_second_success_for_a_dag_is_refused(statestore):
    world = World(statestore, n_tasks=1)
    task = world.claim_one()
    statestore.set_task_dag(task, world.service, dag_ref())
    statestore.finish_task(task, world.service, dag_result_ref(ok=True, tag="1"))
    # A complete task cannot be claimed again, so a second result is refused.
    with pytest.raises(ClaimLost):
        statestore.finish_task(task, world.service, dag_result_ref(ok=True, tag="2"))
    assert len(statestore.get_task_results(task)) == 1


def test_unknown_task_lookups(statestore):
    ghost = ScopedKey.from_key("Task-" + "5" * 32, SCOPE)
    for call in (
        statestore.get_task_dag,
        statestore.get_unit_results,
        statestore.get_task_progress,
        statestore.get_task_results,
    ):
        with pytest.raises(NotFound):
            call(ghost)
