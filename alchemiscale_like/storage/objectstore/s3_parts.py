"""Concurrent multipart uploads with bounded memory.

Parts are cut from the source in order. From a regular file each part is sent
as a window of the file (read with ``pread`` by the sending thread), so memory
use does not grow with the part size or the concurrency; from any other
source each part is read into memory, and at most ``max_concurrency`` parts
are held at once. Either way the bytes are accounted for in the payload's
:class:`~.models.SentBytes` tracker, hashed in order when it asks for that.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from alchemiscale_like.errors import IntegrityError
from alchemiscale_like.storage.objectstore.models import SentBytes, StoredPayload
from alchemiscale_like.storage.objectstore.transfer import regular_file_fd

#: Reading a part to hash it goes in blocks of this size (no whole part in memory).
_HASH_BLOCK = 1 << 20


class FileWindow:
    """``length`` bytes of file descriptor ``fd`` from ``offset``, as a seekable reader.

    Uses ``os.pread``, so many windows of one descriptor can be read at once
    from different threads.
    """

    def __init__(self, fd: int, offset: int, length: int) -> None:
        self._fd = fd
        self._offset = offset
        self._length = length
        self._position = 0

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes (all that remain if negative) from the current position."""
        remaining = self._length - self._position
        if remaining <= 0:
            return b""
        size = remaining if size < 0 else min(size, remaining)
        data = os.pread(self._fd, size, self._offset + self._position)
        if len(data) < size:
            # The file shrank under us: fail the part now rather than send a short
            # body the server would wait for until it times out.
            raise IntegrityError(f"file ended {size - len(data)} bytes early while uploading")
        self._position += len(data)
        return data

    def seek(self, position: int, whence: int = os.SEEK_SET) -> int:
        """Move within the window (botocore rewinds bodies to sign and to retry)."""
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self._length}[whence]
        self._position = max(0, base + position)
        return self._position

    def tell(self) -> int:
        """The current position within the window."""
        return self._position


def upload_parts(
    upload_part: Callable[[int, Any], str],
    payload: StoredPayload,
    part_size: int,
    max_concurrency: int,
) -> list[dict[str, Any]]:
    """Upload ``payload`` in parts; return the ``Parts`` list for CompleteMultipartUpload.

    ``upload_part(number, body)`` sends one part and returns its ETag. Raises the
    first part's error, or :class:`IntegrityError` if the source changed.
    """
    sent = payload.tracker()
    fd = regular_file_fd(payload.source)
    start = payload.source.tell()
    # A slot is taken before a part is cut and freed when its upload ends.
    slots = threading.BoundedSemaphore(max_concurrency)
    failed = threading.Event()
    futures: list[Future[str]] = []

    def done(future: Future[str]) -> None:
        if future.exception() is not None:
            failed.set()
        slots.release()

    with ThreadPoolExecutor(max_concurrency, thread_name_prefix="s3-part") as pool:
        while sent.size < payload.stored_size and not failed.is_set():
            slots.acquire()
            length = min(part_size, payload.stored_size - sent.size)
            body: Any
            if fd is not None:
                body = FileWindow(fd, start + sent.size, length)
                _account(sent, body, length)
            else:
                body = payload.source.read(length)
                sent.update(body)
            if len(body) == 0:
                slots.release()
                break
            future = pool.submit(upload_part, len(futures) + 1, body)
            del body
            future.add_done_callback(done)
            futures.append(future)
    etags = [future.result() for future in futures]
    sent.check()
    return [{"PartNumber": n, "ETag": etag} for n, etag in enumerate(etags, start=1)]


def _account(sent: SentBytes, window: FileWindow, length: int) -> None:
    """Account for a file window; hash it (in order, in small blocks) if the tracker asks."""
    if not sent.hashing:
        sent.count(length)
        return
    while block := window.read(_HASH_BLOCK):
        sent.update(block)
    window.seek(0)
