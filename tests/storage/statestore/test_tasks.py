import itertools

import pytest

from alchemiscale_like.errors import InvalidTransition, NotFound, ValidationError
from alchemiscale_like.models import ScopedKey
from alchemiscale_like.models.task import TaskStatus
from tests.storage.statestore.conftest import SCOPE, World, build_network, submit


def test_create_tasks_in_bulk(statestore):
    sk = submit(statestore, build_network())
    tf_a, tf_b = statestore.get_network_transformations(sk)
    tasks = statestore.create_tasks([tf_a, tf_a, tf_b], creator="alice")
    assert len(set(tasks)) == 3
    assert all(t.scope == SCOPE and t.qualname == "Task" for t in tasks)
    record = statestore.get_task(tasks[0])
    assert record.status == TaskStatus.WAITING
    assert record.priority == 10
    assert record.creator == "alice"
    assert record.attempts == 0
    assert record.transformation == tf_a
    assert record.extends is None
    assert sorted(statestore.get_transformation_tasks(tf_a), key=str) == sorted(tasks[:2], key=str)
    assert len(statestore.get_network_tasks(sk)) == 3
    assert statestore.get_network_status(sk) == {"waiting": 3}
    assert statestore.get_transformation_status(tf_b) == {"waiting": 1}


def test_extends_must_be_same_transformation(statestore):
    sk = submit(statestore, build_network())
    tf_a, tf_b = statestore.get_network_transformations(sk)
    (base,) = statestore.create_tasks([tf_a])
    (child,) = statestore.create_tasks([tf_a], extends=[base])
    assert statestore.get_task(child).extends == base
    with pytest.raises(ValidationError, match="another transformation"):
        statestore.create_tasks([tf_a, tf_b], extends=[None, base])
    missing = ScopedKey.from_key("Task-" + "0" * 32, SCOPE)
    with pytest.raises(NotFound):
        statestore.create_tasks([tf_a], extends=[missing])
    with pytest.raises(ValidationError, match="one entry per"):
        statestore.create_tasks([tf_a], extends=[])
    # None of the refused calls created anything.
    assert len(statestore.get_network_tasks(sk)) == 2


def test_unknown_transformation_creates_nothing(statestore):
    sk = submit(statestore, build_network())
    tf_a, _ = statestore.get_network_transformations(sk)
    ghost = ScopedKey.from_key("Transformation-" + "1" * 32, SCOPE)
    with pytest.raises(NotFound, match="unknown transformations"):
        statestore.create_tasks([tf_a, ghost])
    assert statestore.get_network_tasks(sk) == []


def test_action_and_cancel_with_weights(statestore):
    world = World(statestore, n_tasks=3)
    assert sorted(statestore.get_taskhub_tasks(world.network), key=str) == sorted(
        world.tasks, key=str
    )
    assert set(statestore.get_task_weights(world.network).values()) == {0.5}
    statestore.action_tasks(world.tasks[:1], world.network, weight=0.9)
    weights = statestore.get_task_weights(world.network)
    assert weights[world.tasks[0]] == 0.9
    assert weights[world.tasks[1]] == 0.5
    # Re-actioning without a weight keeps the weight it has.
    statestore.action_tasks(world.tasks[:1], world.network)
    assert statestore.get_task_weights(world.network)[world.tasks[0]] == 0.9
    cancelled = statestore.cancel_tasks(world.tasks[1:], world.network)
    assert sorted(cancelled, key=str) == sorted(world.tasks[1:], key=str)
    assert statestore.get_taskhub_tasks(world.network) == [world.tasks[0]]
    assert statestore.cancel_tasks(world.tasks[1:], world.network) == []


def test_action_refuses_foreign_tasks_and_changes_nothing(statestore):
    world = World(statestore, n_tasks=1)
    other_net = submit(statestore, build_network("other", k0=50.0))
    (foreign,) = statestore.create_tasks([statestore.get_network_transformations(other_net)[0]])
    (mine,) = statestore.create_tasks([world.transformations[0]])
    with pytest.raises(ValidationError, match="not in network"):
        statestore.action_tasks([mine, foreign], world.network)
    assert mine not in statestore.get_taskhub_tasks(world.network)
    ghost = ScopedKey.from_key("Task-" + "2" * 32, SCOPE)
    with pytest.raises(NotFound):
        statestore.action_tasks([ghost], world.network)
    for weight in (0, -1, 1.5):
        with pytest.raises(ValidationError, match="weight"):
            statestore.action_tasks([mine], world.network, weight=weight)


def test_terminal_tasks_are_not_actioned(statestore):
    world = World(statestore, n_tasks=1)
    done = world.put_in_status(TaskStatus.COMPLETE)
    invalid = world.put_in_status(TaskStatus.INVALID)
    assert statestore.action_tasks([done, invalid], world.network) == []
    assert done not in statestore.get_taskhub_tasks(world.network)


def test_priorities(statestore):
    world = World(statestore, n_tasks=2)
    statestore.set_task_priority(world.tasks[:1], 1)
    assert statestore.get_task(world.tasks[0]).priority == 1
    for bad in (0, -3, 1.5, True):
        with pytest.raises(ValidationError, match="priority"):
            statestore.set_task_priority(world.tasks, bad)
    ghost = ScopedKey.from_key("Task-" + "3" * 32, SCOPE)
    with pytest.raises(NotFound):
        statestore.set_task_priority([world.tasks[1], ghost], 2)
    assert statestore.get_task(world.tasks[1]).priority == 10


def test_taskhub_weight(statestore):
    world = World(statestore, n_tasks=0)
    statestore.set_taskhub_weight(world.network, 0.25)
    assert statestore.get_taskhub_weight(world.network) == 0.25
    for bad in (0, 2):
        with pytest.raises(ValidationError):
            statestore.set_taskhub_weight(world.network, bad)


USER_TARGETS = [TaskStatus.WAITING, TaskStatus.INVALID, TaskStatus.DELETED]
ALLOWED = {
    TaskStatus.WAITING: {TaskStatus.WAITING, TaskStatus.RUNNING, TaskStatus.ERROR},
    TaskStatus.INVALID: set(TaskStatus) - {TaskStatus.DELETED},
    TaskStatus.DELETED: set(TaskStatus) - {TaskStatus.INVALID},
}


@pytest.mark.parametrize(("source", "target"), list(itertools.product(TaskStatus, USER_TARGETS)))
def test_transition_table(statestore, source, target):
    world = World(statestore, n_tasks=0)
    task = world.put_in_status(source)
    assert statestore.get_task_status([task]) == {task: source}
    if source in ALLOWED[target]:
        assert statestore.set_task_status([task], target) == [task]
        assert statestore.get_task_status([task]) == {task: target}
        if source == TaskStatus.RUNNING:
            assert statestore.get_task_claimant(task) is None, "claim dropped"
        if target in (TaskStatus.INVALID, TaskStatus.DELETED):
            assert task not in statestore.get_taskhub_tasks(world.network)
    else:
        with pytest.raises(InvalidTransition, match=str(target)):
            statestore.set_task_status([task], target)
        assert statestore.get_task_status([task]) == {task: source}


@pytest.mark.parametrize("target", [TaskStatus.RUNNING, TaskStatus.COMPLETE, TaskStatus.ERROR])
def test_users_cannot_set_service_statuses(statestore, target):
    world = World(statestore, n_tasks=1)
    with pytest.raises(InvalidTransition):
        statestore.set_task_status(world.tasks, target)
    assert statestore.get_task_status(world.tasks) == {world.tasks[0]: TaskStatus.WAITING}


def test_bulk_transition_is_all_or_nothing(statestore):
    world = World(statestore, n_tasks=2)
    done = world.put_in_status(TaskStatus.COMPLETE)
    with pytest.raises(InvalidTransition, match=str(done)):
        statestore.set_task_status([*world.tasks, done], TaskStatus.WAITING)
    deleted = world.put_in_status(TaskStatus.DELETED)
    with pytest.raises(InvalidTransition):
        statestore.set_task_status([world.tasks[0], deleted], TaskStatus.INVALID)
    assert statestore.get_task_status([world.tasks[0]]) == {world.tasks[0]: TaskStatus.WAITING}
    with pytest.raises(ValidationError, match="bogus"):
        statestore.set_task_status(world.tasks, "bogus")


def test_invalid_and_deleted_cascade_to_extending_tasks(statestore):
    sk = submit(statestore, build_network())
    tf, _ = statestore.get_network_transformations(sk)
    (root,) = statestore.create_tasks([tf])
    (child,) = statestore.create_tasks([tf], extends=[root])
    (grandchild,) = statestore.create_tasks([tf], extends=[child])
    (unrelated,) = statestore.create_tasks([tf])
    changed = statestore.set_task_status([child], TaskStatus.INVALID)
    assert sorted(changed, key=str) == sorted([child, grandchild], key=str)
    status = statestore.get_task_status([root, child, grandchild, unrelated])
    assert status == {
        root: "waiting",
        child: "invalid",
        grandchild: "invalid",
        unrelated: "waiting",
    }
    statestore.set_task_status([root], TaskStatus.DELETED)
    status = statestore.get_task_status([root, child, grandchild])
    # An invalid task cannot become deleted: the cascade leaves it as it is.
    assert status == {root: "deleted", child: "invalid", grandchild: "invalid"}


def test_status_counts(statestore):
    world = World(statestore, n_tasks=4)
    world.put_in_status(TaskStatus.COMPLETE)
    world.put_in_status(TaskStatus.ERROR)
    world.put_in_status(TaskStatus.DELETED)
    counts = statestore.get_network_status(world.network)
    assert counts == {"waiting": 4, "complete": 1, "error": 1, "deleted": 1}
    assert statestore.get_transformation_status(world.transformations[0]) == {"waiting": 4}
    with pytest.raises(NotFound):
        statestore.get_network_status(ScopedKey.from_key("AlchemicalNetwork-" + "9" * 32, SCOPE))


def test_get_status_of_unknown_task(statestore):
    with pytest.raises(NotFound):
        statestore.get_task_status([ScopedKey.from_key("Task-" + "4" * 32, SCOPE)])
    with pytest.raises(NotFound):
        statestore.get_task(ScopedKey.from_key("Task-" + "4" * 32, SCOPE))
