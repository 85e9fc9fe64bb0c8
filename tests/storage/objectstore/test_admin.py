"""Listing (paginated, by prefix), deleting a task's objects, and check()."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import pytest

from alchemiscale_like.errors import NotFound, UnsafeFileName
from alchemiscale_like.storage.objectstore import ObjectStore
from tests.storage.objectstore.conftest import OTHER_TASK, TASK, UNIT


def test_listing_is_paginated_and_ordered(objectstore: ObjectStore) -> None:
    # "f1-x" < "f1.bin/x" < "f1/x": a folder sorts as if its name ended with "/".
    names = [f"f{i:02d}.bin" for i in range(23)] + ["f1.bin/x", "f1/x", "f1-x"]
    locations = [
        objectstore.put_file(TASK, UNIT, 1, name, io.BytesIO(b"12345")).location for name in names
    ]
    listed = list(objectstore.list_objects(page_size=4))
    assert [o.location for o in listed] == sorted(locations)
    assert all(o.stored_size == 5 for o in listed)


def test_listing_by_string_prefix(objectstore: ObjectStore) -> None:
    for name in ["ab", "abx/c", "abc", "b", "a"]:
        objectstore.put_file(TASK, UNIT, 1, name, io.BytesIO(b"x"))
    folder = objectstore.put_file(TASK, UNIT, 1, "z", io.BytesIO(b"x")).location[:-1]
    assert [o.location[len(folder) :] for o in objectstore.list_objects(folder + "ab")] == [
        "ab",
        "abc",
        "abx/c",
    ]
    assert [o.location[len(folder) :] for o in objectstore.list_objects(folder + "abx/")] == [
        "abx/c"
    ]
    assert list(objectstore.list_objects("nothing/here/")) == []


def test_delete_task(objectstore: ObjectStore) -> None:
    network = objectstore.put_object(f"AlchemicalNetwork-{'4' * 32}", {"n": 1})
    objectstore.put_dag(TASK, {"units": []})
    objectstore.put_unit_result(TASK, UNIT, 1, {"ok": True})
    objectstore.put_file(TASK, UNIT, 1, "a/b.bin", io.BytesIO(b"data"))
    objectstore.put_checkpoint(TASK, UNIT, "state.chk", io.BytesIO(b"chk"))
    kept = objectstore.put_dag(OTHER_TASK, {"units": []})
    assert objectstore.delete_task(TASK) == 4
    assert sorted(o.location for o in objectstore.list_objects()) == sorted(
        [network.location, kept.location]
    )
    assert objectstore.delete_task(TASK) == 0
    # The task's folder is free again (a deleted task leaves nothing write-once behind).
    objectstore.put_dag(TASK, {"units": ["new"]})
    assert objectstore.get_dag(TASK) == {"units": ["new"]}


def test_delete_task_object_removes_exactly_one_object(objectstore: ObjectStore) -> None:
    objectstore.put_task_json(TASK, "units/u/1/result.json", {"ok": True})
    kept = [
        objectstore.put_task_json(TASK, relpath, {"kept": relpath}).location
        for relpath in ("units/u/1/result.json.x", "units/u/1/result.jso", "units/u/2/result.json")
    ]
    kept.append(objectstore.put_task_json(OTHER_TASK, "units/u/1/result.json", {"o": 1}).location)
    objectstore.delete_task_object(TASK, "units/u/1/result.json")
    assert sorted(o.location for o in objectstore.list_objects()) == sorted(kept)
    with pytest.raises(NotFound):
        objectstore.get_task_json(TASK, "units/u/1/result.json")
    objectstore.delete_task_object(TASK, "units/u/1/result.json")  # gone already: a no-op
    # Write-once again: the location is free for different content.
    objectstore.put_task_json(TASK, "units/u/1/result.json", {"ok": False})
    assert objectstore.get_task_json(TASK, "units/u/1/result.json") == {"ok": False}
    with pytest.raises(UnsafeFileName):
        objectstore.delete_task_object(TASK, "../escape.json")


def test_delete_many(objectstore: ObjectStore) -> None:
    # More than one S3 DeleteObjects batch (1000 keys).
    with ThreadPoolExecutor(8) as pool:
        list(
            pool.map(lambda i: objectstore.put_unit_result(TASK, UNIT, i, {"i": i}), range(1, 1006))
        )
    assert objectstore.delete_task(TASK) == 1005
    assert list(objectstore.list_objects()) == []


def test_check(objectstore: ObjectStore) -> None:
    objectstore.check()
    assert list(objectstore.list_objects()) == []


def test_bad_page_size(objectstore: ObjectStore) -> None:
    with pytest.raises(ValueError, match="page_size"):
        objectstore.list_objects(page_size=0)
