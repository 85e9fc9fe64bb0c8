"""A :class:`GrowingFile` is stored while it arrives, and never unless it arrived whole.

The first tests drive the file alone; the conformance tests feed one to each
backend's ``put_file`` from a writer thread, as the compute API does with a
request body: once small (S3: one PUT) and once above the multipart threshold.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

import pytest

from alchemiscale_like.errors import IntegrityError
from alchemiscale_like.storage.objectstore.growing import GrowingFile
from tests.storage.objectstore.conftest import TASK, UNIT, Backend

T = TypeVar("T")
MIB = 1 << 20
CHUNK = 256 * 1024
#: How long a test waits for a reader thread to reach a state (a bound, not a timing).
PATIENCE = 60.0


def _data(size: int) -> tuple[bytes, str]:
    data = os.urandom(size)
    return data, hashlib.sha256(data).hexdigest()


def _until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting: {what}")
        time.sleep(0.005)


def _append_all(growing: GrowingFile, data: bytes) -> None:
    for start in range(0, len(data), CHUNK):
        growing.append(data[start : start + CHUNK])


@contextmanager
def _in_thread(growing: GrowingFile, work: Callable[[], T]) -> Iterator[Future[T]]:
    """``work()`` in a thread; if the test fails meanwhile, ``growing`` fails too so
    the thread stops waiting and the pool can be shut down."""
    with ThreadPoolExecutor(1) as pool:
        try:
            yield pool.submit(work)
        except BaseException:
            growing.fail(IntegrityError("the test failed"))
            raise


# -- the file alone -----------------------------------------------------------------------------


def test_reads_get_what_arrived_and_the_last_bytes_only_once_sealed() -> None:
    data, sha = _data(3 * CHUNK + 17)
    with GrowingFile(len(data), sha) as growing:
        growing.append(data[: 2 * CHUNK])
        assert growing.read(CHUNK) == data[:CHUNK]  # there already: no wait
        with _in_thread(growing, growing.read) as rest:
            _until(lambda: growing.awaited == len(data), "the reader waits for the end")
            growing.append(data[2 * CHUNK :])
            # Every byte is in, but not sealed: the reader must still be waiting.
            _until(lambda: growing.awaited == len(data), "the reader waits for the seal")
            assert not rest.done()
            growing.seal()
            assert rest.result(PATIENCE) == data[CHUNK:]
        assert growing.read() == b""
        growing.seek(5)
        assert (growing.tell(), growing.read(4)) == (5, data[5:9])


def test_a_failed_file_makes_waiting_and_later_reads_raise() -> None:
    data, sha = _data(2 * CHUNK)
    with GrowingFile(len(data), sha) as growing:
        _append_all(growing, data)
        with _in_thread(growing, growing.read) as waiting:
            _until(lambda: growing.awaited == len(data), "the reader waits for the seal")
            growing.fail(IntegrityError("the body did not match its sha256"))
            with pytest.raises(IntegrityError, match="did not complete: the body did not match"):
                waiting.result(PATIENCE)
        growing.seek(0)
        with pytest.raises(IntegrityError):
            growing.read(1)  # even bytes that arrived: the content is void
        with pytest.raises(IntegrityError, match="failed already"):
            growing.seal()
        assert not growing.sealed


def test_the_writer_cannot_overfill_or_seal_short() -> None:
    data, sha = _data(100)
    with GrowingFile(len(data), sha) as growing:
        growing.append(data[:60])
        with pytest.raises(IntegrityError, match="60 bytes arrived, 100 declared"):
            growing.seal()
        with pytest.raises(IntegrityError, match="more than the declared 100 bytes"):
            growing.append(data[60:] + b"x")
        assert growing.written == 60


def test_closing_wakes_readers_and_later_writes_are_dropped() -> None:
    data, sha = _data(CHUNK)
    growing = GrowingFile(len(data), sha)
    with _in_thread(growing, growing.read) as waiting:
        _until(lambda: growing.awaited == len(data), "the reader waits")
        growing.close()
        with pytest.raises(IntegrityError, match="closed before it completed"):
            waiting.result(PATIENCE)
    growing.append(data)  # the receiver may still be draining its body: no error
    growing.seal()
    assert (growing.written, growing.sealed) == (0, False)


# -- conformance: each backend stores a growing file ----------------------------------------------

SIZES = {"small": 3 * CHUNK + 5, "multipart": 20 * MIB + 3}


def _put_growing(backend: Backend, growing: GrowingFile, name: str) -> Any:
    """``put_file`` of ``growing`` in a thread (see :func:`_in_thread`)."""
    return _in_thread(
        growing, functools.partial(backend.store.put_file, TASK, UNIT, 1, name, growing)
    )


@pytest.mark.parametrize("size", list(SIZES.values()), ids=list(SIZES))
def test_a_growing_file_is_stored_as_it_arrives(backend: Backend, size: int) -> None:
    data, sha = _data(size)
    growing = GrowingFile(size, sha)
    with growing, _put_growing(backend, growing, "grown.bin") as stored:
        # The store reads before the bytes come in (it waits for them, then the seal).
        _until(lambda: growing.awaited is not None, "the store waits for bytes")
        _append_all(growing, data)
        _until(lambda: growing.awaited == size, "the store waits for the seal")
        assert list(backend.store.list_objects()) == []  # nothing published yet
        growing.seal()
        info = stored.result(PATIENCE)
    assert (info.sha256, info.size) == (sha, size)
    assert b"".join(backend.store.open_file(info.location)) == data
    assert backend.leftovers() == []


@pytest.mark.parametrize("size", list(SIZES.values()), ids=list(SIZES))
def test_a_growing_file_that_fails_stores_nothing(backend: Backend, size: int) -> None:
    data, sha = _data(size)
    growing = GrowingFile(size, sha)
    with growing, _put_growing(backend, growing, "void.bin") as stored:
        _append_all(growing, data)
        _until(lambda: growing.awaited == size, "the store waits for the seal")
        growing.fail(IntegrityError("uploaded bytes hash to something else"))
        with pytest.raises(IntegrityError, match="hash to something else"):
            stored.result(PATIENCE)
    assert list(backend.store.list_objects()) == []
    assert backend.leftovers() == []


def test_a_growing_file_must_match_a_given_sha256(backend: Backend) -> None:
    data, sha = _data(100)
    with GrowingFile(len(data), sha) as growing, pytest.raises(IntegrityError, match="declares"):
        backend.store.put_file(TASK, UNIT, 1, "other.bin", growing, sha256="0" * 64)
    assert backend.leftovers() == []


def test_reading_threads_see_one_consistent_file() -> None:
    # Many readers at once (S3 parts are sent by several threads): each gets its bytes.
    data, sha = _data(8 * CHUNK)
    with GrowingFile(len(data), sha) as growing:
        results: dict[int, bytes] = {}

        def read_part(index: int) -> None:
            growing.wait_for((index + 1) * CHUNK)
            results[index] = os.pread(growing.fileno(), CHUNK, index * CHUNK)

        threads = [threading.Thread(target=read_part, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        _append_all(growing, data)
        growing.seal()
        for thread in threads:
            thread.join(PATIENCE)
        assert b"".join(results[i] for i in range(8)) == data


def test_a_compressible_growing_file_is_compressed_as_it_arrives(backend: Backend) -> None:
    data = b'{"energy": -1.5}\n' * 40_000
    sha = hashlib.sha256(data).hexdigest()
    growing = GrowingFile(len(data), sha)
    with growing, _put_growing(backend, growing, "energies.json") as stored:
        _until(lambda: growing.awaited is not None, "the store waits for bytes")
        _append_all(growing, data)
        growing.seal()
        info = stored.result(PATIENCE)
    assert (info.sha256, info.size, info.encoding) == (sha, len(data), "zstd")
    assert b"".join(backend.store.open_file(info.location)) == data
