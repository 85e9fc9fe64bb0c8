"""Concurrent writers: content-addressed puts all succeed; write-once has exactly one winner."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import TypeVar

from alchemiscale_like.errors import AlreadyExists
from alchemiscale_like.storage.objectstore import ObjectInfo, ObjectStore
from tests.storage.objectstore.conftest import TASK, UNIT

T = TypeVar("T")
WRITERS = 8


def _race(work: Callable[[int], T]) -> list[T | Exception]:
    """Run ``work(i)`` in WRITERS threads released at the same instant."""
    barrier = threading.Barrier(WRITERS)
    results: list[T | Exception] = [RuntimeError("not run")] * WRITERS

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_concurrent_writers_of_one_content_addressed_key(objectstore: ObjectStore) -> None:
    key = f"AlchemicalNetwork-{'3' * 32}"
    data = {"edges": list(range(2000))}
    results = _race(lambda _: objectstore.put_object(key, data))
    assert all(isinstance(r, ObjectInfo) for r in results), results
    assert len({r for r in results if isinstance(r, ObjectInfo)}) == 1
    assert objectstore.get_object(key) == data
    assert [o.location for o in objectstore.list_objects()] == [f"objects/{key}.json.zst"]


def test_concurrent_writers_of_same_file_content(objectstore: ObjectStore) -> None:
    data = b"identical bytes " * 10_000
    results = _race(lambda _: objectstore.put_file(TASK, UNIT, 1, "same.bin", io.BytesIO(data)))
    assert all(isinstance(r, ObjectInfo) for r in results), results
    info = results[0]
    assert isinstance(info, ObjectInfo)
    assert b"".join(objectstore.open_file(info.location)) == data


def test_concurrent_writers_of_different_dags(objectstore: ObjectStore) -> None:
    results = _race(lambda i: objectstore.put_dag(TASK, {"writer": i}))
    winners = [i for i, r in enumerate(results) if isinstance(r, ObjectInfo)]
    losers = [r for r in results if not isinstance(r, ObjectInfo)]
    assert len(winners) == 1, results
    assert all(isinstance(r, AlreadyExists) for r in losers), losers
    assert objectstore.get_dag(TASK) == {"writer": winners[0]}
