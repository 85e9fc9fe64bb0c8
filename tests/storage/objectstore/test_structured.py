"""Structured objects: content-addressed and task-scoped JSON, write-once, round trips."""

from __future__ import annotations

import hashlib
import io
import math

import pytest

from alchemiscale_like.errors import AlreadyExists, NotFound, PayloadTooLarge, ValidationError
from alchemiscale_like.models.canonical import canonical_json
from alchemiscale_like.models.layout import STORE_LAYOUT
from alchemiscale_like.storage.objectstore import ObjectStore
from alchemiscale_like.storage.objectstore.layout import task_prefix
from tests.storage.objectstore.conftest import OTHER_TASK, TASK, UNIT

KEY = f"Transformation-{'1' * 32}"
NETWORK = {
    "name": "benzene → toluene",
    "nodes": [{"smiles": "c1ccccc1", "charge": 0}, {"smiles": "Cc1ccccc1", "charge": 0}],
    "weight": 0.5,
    "nested": {"z": None, "a": [True, False]},
}


def test_content_addressed_round_trip(objectstore: ObjectStore) -> None:
    assert not objectstore.has_object(KEY)
    info = objectstore.put_object(KEY, NETWORK)
    assert objectstore.has_object(KEY)
    assert objectstore.get_object(KEY) == NETWORK
    content = canonical_json(NETWORK)
    assert info.sha256 == hashlib.sha256(content).hexdigest()
    assert info.size == len(content)
    assert info.encoding == "zstd"
    assert info.location == f"objects/{KEY}.json.zst"
    assert objectstore.stat(info.location) == info


def test_put_of_existing_content_addressed_key_is_a_no_op(objectstore: ObjectStore) -> None:
    first = objectstore.put_object(KEY, NETWORK)
    assert objectstore.put_object(KEY, NETWORK) == first
    # The key *is* the content: a second put never replaces what is stored.
    assert objectstore.put_object(KEY, {"something": "else"}) == first
    assert objectstore.get_object(KEY) == NETWORK


def test_missing_and_malformed_keys(objectstore: ObjectStore) -> None:
    with pytest.raises(NotFound):
        objectstore.get_object(KEY)
    with pytest.raises(ValidationError):
        objectstore.put_object("not-a-key", NETWORK)
    with pytest.raises(ValidationError):
        objectstore.get_object("../objects/x")


def test_task_scoped_objects_round_trip(objectstore: ObjectStore) -> None:
    dag = {"units": [UNIT], "edges": []}
    result = {"ok": True, "outputs": {"dG": -1.25}}
    pdr_key = f"ProtocolDAGResult-{'d' * 32}"
    dag_info = objectstore.put_dag(TASK, dag)
    unit_info = objectstore.put_unit_result(TASK, UNIT, 1, result)
    retry_info = objectstore.put_unit_result(TASK, UNIT, 2, {"ok": False})
    pdr_info = objectstore.put_dag_result(TASK, pdr_key, {"units": [result]})
    prefix = "org/campaign/project/tasks/Task-" + "a" * 32
    assert dag_info.location == f"{prefix}/dag.json.zst"
    assert unit_info.location == f"{prefix}/units/{UNIT}/1/result.json.zst"
    assert retry_info.location == f"{prefix}/units/{UNIT}/2/result.json.zst"
    assert pdr_info.location == f"{prefix}/results/{pdr_key}.json.zst"
    assert objectstore.get_dag(TASK) == dag
    assert objectstore.get_unit_result(TASK, UNIT, 1) == result
    assert objectstore.get_unit_result(TASK, UNIT, 2) == {"ok": False}
    assert objectstore.get_dag_result(TASK, pdr_key) == {"units": [result]}
    assert objectstore.get_json(unit_info.location) == result
    with pytest.raises(NotFound):
        objectstore.get_dag(OTHER_TASK)


def test_task_paths_are_the_task_layout_under_the_task_prefix(objectstore: ObjectStore) -> None:
    prefix = task_prefix(TASK)
    pdr_key = f"ProtocolDAGResult-{'e' * 32}"
    dag = objectstore.put_dag(TASK, {"units": []})
    first = objectstore.put_unit_result(TASK, UNIT, 1, {"ok": False})
    claimed = objectstore.put_unit_result(TASK, UNIT, 2, {"ok": True}, claim=5)
    file = objectstore.put_file(TASK, UNIT, 2, "traj/a.bin", io.BytesIO(b"x"), claim=5)
    checkpoint = objectstore.put_checkpoint(TASK, UNIT, "state.chk", io.BytesIO(b"c"))
    final = objectstore.put_dag_result(TASK, pdr_key, {"ok": True})
    assert dag.location == prefix + STORE_LAYOUT.dag
    assert first.location == prefix + STORE_LAYOUT.unit_result(UNIT, 1)
    assert claimed.location == prefix + STORE_LAYOUT.unit_result(UNIT, 2, 5)
    assert claimed.location == f"{prefix}units/{UNIT}/2-5/result.json.zst"
    assert file.location == prefix + STORE_LAYOUT.unit_file(UNIT, 2, "traj/a.bin", 5)
    assert file.location == f"{prefix}units/{UNIT}/2-5/files/traj/a.bin"
    assert checkpoint.location == prefix + STORE_LAYOUT.checkpoint(UNIT, "state.chk")
    assert final.location == prefix + STORE_LAYOUT.dag_result(pdr_key)
    # Each can be read back by its task-relative path alone.
    assert objectstore.get_unit_result(TASK, UNIT, 2, claim=5) == {"ok": True}
    relpath = STORE_LAYOUT.unit_file(UNIT, 2, "traj/a.bin", 5)
    assert objectstore.stat_task_file(TASK, relpath) == file
    assert objectstore.get_task_json(TASK, STORE_LAYOUT.dag_result(pdr_key)) == {"ok": True}
    assert objectstore.list_checkpoints(TASK, UNIT) == {"state.chk": checkpoint}


def test_task_json_is_write_once(objectstore: ObjectStore) -> None:
    info = objectstore.put_task_json(TASK, "notes/summary.json.zst", {"v": 1})
    # A retried upload of the same content is harmless...
    assert objectstore.put_task_json(TASK, "notes/summary.json.zst", {"v": 1}) == info
    # ...different content is refused, and the original stays.
    with pytest.raises(AlreadyExists):
        objectstore.put_task_json(TASK, "notes/summary.json.zst", {"v": 2})
    assert objectstore.get_task_json(TASK, "notes/summary.json.zst") == {"v": 1}


def test_a_task_has_one_dag(objectstore: ObjectStore) -> None:
    objectstore.put_dag(TASK, {"units": ["a"]})
    with pytest.raises(AlreadyExists):
        objectstore.put_dag(TASK, {"units": ["b"]})
    assert objectstore.get_dag(TASK) == {"units": ["a"]}


@pytest.mark.parametrize("attempt", [-1, 0, True, 1.0, "1"])
def test_bad_attempt(objectstore: ObjectStore, attempt: object) -> None:
    # Attempts count from 1, as everywhere else (TaskLayout, the services).
    with pytest.raises(ValidationError):
        objectstore.put_unit_result(TASK, UNIT, attempt, {})
    with pytest.raises(ValidationError):
        objectstore.put_file(TASK, UNIT, attempt, "a.bin", io.BytesIO(b"x"))
    with pytest.raises(ValidationError):
        objectstore.put_unit_result(TASK, UNIT, 1, {}, claim=attempt)
    assert list(objectstore.list_objects()) == []


def test_bad_unit_key(objectstore: ObjectStore) -> None:
    with pytest.raises(ValidationError):
        objectstore.put_unit_result(TASK, "../../x", 1, {})
    with pytest.raises(ValidationError):
        objectstore.put_checkpoint(TASK, "../../x", "state.chk", io.BytesIO(b"x"))
    with pytest.raises(ValidationError):
        objectstore.list_checkpoints(TASK, "units")
    assert list(objectstore.list_objects()) == []


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_refused_and_nothing_is_stored(
    objectstore: ObjectStore, number: float
) -> None:
    # Canonical JSON has no NaN or Infinity (they are not JSON, and keys must be stable).
    with pytest.raises(ValidationError, match="canonical JSON"):
        objectstore.put_object(KEY, {"dG": number})
    with pytest.raises(ValidationError, match="canonical JSON"):
        objectstore.put_task_json(TASK, "notes/x.json.zst", [1.0, number])
    with pytest.raises(ValidationError, match="canonical JSON"):
        objectstore.put_unit_result(TASK, UNIT, 1, {"outputs": {"dG": number}})
    assert list(objectstore.list_objects()) == []


@pytest.mark.parametrize("value", [{1, 2}, b"bytes", object(), {("a", "b"): 1}])
def test_values_that_are_not_json_are_a_validation_error(
    objectstore: ObjectStore, value: object
) -> None:
    with pytest.raises(ValidationError, match="canonical JSON"):
        objectstore.put_object(KEY, {"v": value})
    assert list(objectstore.list_objects()) == []


def test_json_that_nests_too_deeply_is_a_validation_error(objectstore: ObjectStore) -> None:
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ValidationError, match="nests too deeply"):
        objectstore.put_object(KEY, deep)
    assert list(objectstore.list_objects()) == []


def test_json_size_limit(objectstore: ObjectStore) -> None:
    objectstore.put_dag(TASK, {"blob": "x" * 1000})
    objectstore.max_json_size = 100
    with pytest.raises(PayloadTooLarge):
        objectstore.put_object(KEY, {"blob": "x" * 1000})
    with pytest.raises(PayloadTooLarge):
        objectstore.get_dag(TASK)


def test_scalar_and_unicode_json(objectstore: ObjectStore) -> None:
    values: list[object] = [None, 0, -1.5e300, "ünïcødé ✓", [], {"": ""}]
    for n, value in enumerate(values):
        key = f"Thing-{n:032x}"
        objectstore.put_object(key, value)
        assert objectstore.get_object(key) == value
