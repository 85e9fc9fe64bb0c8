"""Structured objects: content-addressed and task-scoped JSON, write-once, round trips."""

from __future__ import annotations

import hashlib

import pytest

from alchemiscale_like.errors import AlreadyExists, NotFound, PayloadTooLarge, ValidationError
from alchemiscale_like.storage.objectstore import ObjectStore
from alchemiscale_like.storage.objectstore.codec import canonical_json
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
    unit_info = objectstore.put_unit_result(TASK, UNIT, 0, result)
    retry_info = objectstore.put_unit_result(TASK, UNIT, 1, {"ok": False})
    pdr_info = objectstore.put_dag_result(TASK, pdr_key, {"units": [result]})
    prefix = "org/campaign/project/tasks/Task-" + "a" * 32
    assert dag_info.location == f"{prefix}/dag.json.zst"
    assert unit_info.location == f"{prefix}/units/{UNIT}/0/result.json.zst"
    assert retry_info.location == f"{prefix}/units/{UNIT}/1/result.json.zst"
    assert pdr_info.location == f"{prefix}/results/{pdr_key}.json.zst"
    assert objectstore.get_dag(TASK) == dag
    assert objectstore.get_unit_result(TASK, UNIT, 0) == result
    assert objectstore.get_unit_result(TASK, UNIT, 1) == {"ok": False}
    assert objectstore.get_dag_result(TASK, pdr_key) == {"units": [result]}
    assert objectstore.get_json(unit_info.location) == result
    with pytest.raises(NotFound):
        objectstore.get_dag(OTHER_TASK)


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


def test_bad_attempt_and_unit_key(objectstore: ObjectStore) -> None:
    with pytest.raises(ValidationError):
        objectstore.put_unit_result(TASK, UNIT, -1, {})
    with pytest.raises(ValidationError):
        objectstore.put_unit_result(TASK, "../../x", 0, {})


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
