"""Concurrent ranged downloads of large objects, verified and landed atomically.

A large object is fetched as byte ranges of ``part_size``, ``max_concurrency``
at a time, each written in place (``pwrite``) into a temporary file next to
the destination, while the calling thread hashes the file's completed prefix,
reading it back from the page cache. One stream per range spreads the work
over several server threads and connections, as raw boto3 ``download_file``
does; on a busy machine a single stream (network, then sha256, then disk, in
turn) falls far behind. Memory stays at one chunk per thread.

A range cut short is resumed where it stopped. The caller's ``fetch`` pins the
object version (S3: ``If-Match`` on the ETag), so every range comes from the
same object; :class:`SourceChanged` says it was replaced meanwhile. The file
is renamed onto the destination only once its sha256 and size match the
object's metadata, after one fsync.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from alchemiscale_like.atomicfiles import landing
from alchemiscale_like.errors import IntegrityError, StoreUnavailable
from alchemiscale_like.storage.objectstore.codec import CHUNK_SIZE

logger = logging.getLogger(__name__)

#: Pauses before fetching the rest of a range that failed (after the client's own retries).
RANGE_PAUSES = (0.5, 2.0)


class SourceChanged(Exception):
    """The object was replaced while its ranges were being fetched."""


class RangeStream(Protocol):
    """The bytes of one range: ``read`` raises :class:`StoreUnavailable` on network errors."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


#: ``fetch(start, end)`` streams bytes ``start`` to ``end - 1`` of the pinned object.
Fetch = Callable[[int, int], RangeStream]


class _Progress:
    """How many bytes of each range are on disk; where the contiguous prefix ends."""

    def __init__(self, bounds: list[tuple[int, int]]) -> None:
        self._bounds = bounds
        self._written = [0] * len(bounds)
        self._front = 0  # the first range not yet complete
        self._cond = threading.Condition()
        self._error: BaseException | None = None

    def add(self, index: int, count: int) -> None:
        with self._cond:
            self._written[index] += count
            self._cond.notify_all()

    def fail(self, exc: BaseException) -> None:
        with self._cond:
            if self._error is None:
                self._error = exc
            self._cond.notify_all()

    def prefix_beyond(self, position: int) -> int:
        """Wait until more than ``position`` bytes are on disk from the start; return how many.

        Raises the first error a range fetch failed with.
        """
        with self._cond:
            while True:
                if self._error is not None:
                    raise self._error
                prefix = self._prefix()
                if prefix > position:
                    return prefix
                self._cond.wait()

    def _prefix(self) -> int:
        bounds, written = self._bounds, self._written
        while self._front < len(bounds) and written[self._front] == _length(bounds[self._front]):
            self._front += 1
        if self._front == len(bounds):
            return bounds[-1][1]
        return bounds[self._front][0] + written[self._front]


def _length(bound: tuple[int, int]) -> int:
    return bound[1] - bound[0]


def download_ranges(
    fetch: Fetch,
    dest: Path,
    *,
    location: str,
    size: int,
    sha256: str,
    part_size: int,
    max_concurrency: int,
) -> None:
    """Download ``size`` bytes by ranges to ``dest``: verified, fsynced, renamed into place.

    On any failure nothing is left behind and ``dest`` is untouched.

    Raises:
        IntegrityError: the bytes do not hash to ``sha256``.
        SourceChanged: the object was replaced meanwhile (from ``fetch``).
        StoreUnavailable: a range kept failing.
    """
    bounds = [(start, min(size, start + part_size)) for start in range(0, size, part_size)]
    progress = _Progress(bounds)
    stop = threading.Event()
    with landing(dest) as fd:

        def fetch_range(index: int) -> None:
            try:
                _fetch_range(fetch, fd, bounds[index], lambda n: progress.add(index, n), stop)
            except BaseException as exc:
                progress.fail(exc)
                raise

        pool = ThreadPoolExecutor(max_concurrency, thread_name_prefix="s3-range")
        try:
            for index in range(len(bounds)):
                pool.submit(fetch_range, index)
            digest = _hash_behind(fd, size, progress)
        finally:
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
        if digest != sha256:
            raise IntegrityError(f"{location}: sha256 {digest} differs from the recorded {sha256}")


def _hash_behind(fd: int, size: int, progress: _Progress) -> str:
    """sha256 of the file's first ``size`` bytes, read as soon as they are written."""
    digest = hashlib.sha256()
    position = 0
    while position < size:
        available = progress.prefix_beyond(position)
        while position < available:
            block = os.pread(fd, min(CHUNK_SIZE, available - position), position)
            if not block:
                raise IntegrityError(f"download file ended at {position} of {available} bytes")
            digest.update(block)
            position += len(block)
    return digest.hexdigest()


def _fetch_range(
    fetch: Fetch,
    fd: int,
    bound: tuple[int, int],
    written: Callable[[int], None],
    stop: threading.Event,
) -> None:
    """Write bytes ``bound`` of the object at their offset in ``fd``; resume if cut short."""
    position, end = bound
    for pause in (*RANGE_PAUSES, None):
        try:
            stream = fetch(position, end)
            try:
                while position < end and not stop.is_set():
                    chunk = stream.read(min(CHUNK_SIZE, end - position))
                    if not chunk:
                        raise StoreUnavailable(f"range ended {end - position} bytes early")
                    _pwrite_all(fd, chunk, position)
                    position += len(chunk)
                    written(len(chunk))
            finally:
                stream.close()
            return
        except StoreUnavailable as exc:
            if pause is None or stop.is_set():
                raise
            logger.warning(
                "event=s3_range_retry start=%d end=%d pause=%.1f error=%r",
                position,
                end,
                pause,
                exc,
            )
            time.sleep(pause)


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        count = os.pwrite(fd, view, offset)
        view = view[count:]
        offset += count
