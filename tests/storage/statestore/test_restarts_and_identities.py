import datetime as dt

import pytest

from alchemiscale_like.errors import AlreadyExists, NotFound, ValidationError
from alchemiscale_like.models import ScopedKey
from alchemiscale_like.models.task import TaskStatus
from alchemiscale_like.storage.statestore.records import IdentityRecord, RestartPattern
from tests.storage.statestore.conftest import SCOPE, World, dag_ref, dag_result_ref

TIMEOUT_TB = "Traceback ...\nTimeoutError: node lost its GPU\n"
OTHER_TB = "Traceback ...\nValueError: bad input\n"


def test_restart_patterns_are_stored_per_hub(statestore):
    world = World(statestore, n_tasks=0)
    statestore.add_task_restart_patterns(world.network, ["TimeoutError", "GPU.*lost"], 2)
    statestore.add_task_restart_patterns(world.network, ["TimeoutError"], 5)
    assert statestore.get_task_restart_patterns(world.network) == [
        RestartPattern(pattern="GPU.*lost", max_retries=2),
        RestartPattern(pattern="TimeoutError", max_retries=5),
    ]
    statestore.remove_task_restart_patterns(world.network, ["GPU.*lost"])
    assert statestore.get_task_restart_patterns(world.network) == [
        RestartPattern(pattern="TimeoutError", max_retries=5)
    ]


@pytest.mark.parametrize(
    ("patterns", "retries"), [(["(unclosed"], 1), ([""], 1), (["ok"], -1), (["ok"], 1.5)]
)
def test_bad_restart_patterns_change_nothing(statestore, patterns, retries):
    world = World(statestore, n_tasks=0)
    with pytest.raises(ValidationError):
        statestore.add_task_restart_patterns(world.network, patterns, retries)
    assert statestore.get_task_restart_patterns(world.network) == []


def test_restart_patterns_on_unknown_network(statestore):
    ghost = ScopedKey.from_key("AlchemicalNetwork-" + "6" * 32, SCOPE)
    with pytest.raises(NotFound):
        statestore.add_task_restart_patterns(ghost, ["x"], 1)


def _fail(statestore, world, task, traceback: str, tag: str) -> TaskStatus:
    assert world.claim_one() == task
    if statestore.get_task_dag(task) is None:
        statestore.set_task_dag(task, world.service, dag_ref())
    return statestore.finish_task(
        task, world.service, dag_result_ref(ok=False, tag=tag), [traceback]
    )


def test_matching_failures_restart_until_retries_run_out(statestore):
    world = World(statestore, n_tasks=1)
    (task,) = world.tasks
    statestore.add_task_restart_patterns(world.network, ["TimeoutError"], 2)
    assert _fail(statestore, world, task, TIMEOUT_TB, "1") == TaskStatus.WAITING
    assert _fail(statestore, world, task, TIMEOUT_TB, "2") == TaskStatus.WAITING
    assert _fail(statestore, world, task, TIMEOUT_TB, "3") == TaskStatus.ERROR
    assert statestore.get_task_status([task]) == {task: TaskStatus.ERROR}
    assert task not in statestore.get_taskhub_tasks(world.network), "cancelled once retries ran out"


def test_non_matching_failure_is_an_error(statestore):
    world = World(statestore, n_tasks=1)
    statestore.add_task_restart_patterns(world.network, ["TimeoutError"], 3)
    assert _fail(statestore, world, world.tasks[0], OTHER_TB, "1") == TaskStatus.ERROR
    assert world.tasks[0] in statestore.get_taskhub_tasks(world.network)


def identity(identifier: str = "alice", kind: str = "user", **kw) -> IdentityRecord:
    return IdentityRecord(kind=kind, identifier=identifier, hashed_key="$argon2id$hash", **kw)


def test_identities_round_trip(statestore):
    expires = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    statestore.add_identity(identity(scopes=("o-c-p", "o-*-*"), expires=expires))
    got = statestore.get_identity("user", "alice")
    assert got == identity(scopes=("o-*-*", "o-c-p"), expires=expires)
    statestore.add_identity(identity("alice", kind="compute"))
    assert [i.identifier for i in statestore.list_identities("compute")] == ["alice"]
    with pytest.raises(AlreadyExists):
        statestore.add_identity(identity())
    updated = statestore.update_identity("user", "alice", scopes=["x-*-*"], disabled=True)
    assert updated.scopes == ("x-*-*",)
    assert updated.disabled
    assert updated.hashed_key == "$argon2id$hash"
    statestore.remove_identity("user", "alice")
    with pytest.raises(NotFound):
        statestore.get_identity("user", "alice")
    assert statestore.get_identity("compute", "alice").kind == "compute"


def test_bad_identity_input(statestore):
    with pytest.raises(ValidationError):
        statestore.add_identity(identity(kind="admin"))
    with pytest.raises(ValidationError):
        statestore.add_identity(IdentityRecord(kind="user", identifier="", hashed_key="h"))
    with pytest.raises(NotFound):
        statestore.remove_identity("user", "nobody")
    with pytest.raises(NotFound):
        statestore.update_identity("user", "nobody", disabled=True)


@pytest.mark.parametrize(
    "bad",
    [
        {"identifier": "alice\n"},
        {"identifier": " alice"},
        {"identifier": "al ice"},
        {"identifier": "a" * 129},
        {"scopes": ("o-c-p\n",)},
        {"scopes": ("*-c-p",)},
    ],
)
def test_identities_with_bad_identifiers_or_scopes_are_refused(statestore, bad):
    with pytest.raises(ValidationError):
        statestore.add_identity(identity(**bad))
    assert statestore.list_identities("user") == []
    statestore.add_identity(identity())
    if "scopes" in bad:
        with pytest.raises(ValidationError):
            statestore.update_identity("user", "alice", scopes=list(bad["scopes"]))
        assert statestore.get_identity("user", "alice").scopes == ()
