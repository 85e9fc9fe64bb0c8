"""Concurrent multipart uploads with bounded memory.

Parts are cut from the source in order. From a regular file each part is sent
as a window of the file (read with ``pread`` by the sending thread), so memory
use does not grow with the part size or the concurrency; from any other
source each part is read into memory, and at most ``max_concurrency`` parts
are held at once. Either way the bytes are accounted for in the payload's
:class:`~.models.SentBytes` tracker, hashed in order when it asks for that.

Each part is recorded as a :class:`SentPart` (number, place in the payload,
length, the ETag the server returned), so a part the server lost can be sent
again from the same file (:func:`part_window`) and the server's ``ListParts``
compared with what was sent.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from alchemiscale_like.errors import IntegrityError
from alchemiscale_like.storage.objectstore.models import OpenSource, SentBytes, StoredPayload
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


@dataclass(frozen=True)
class SentPart:
    """One uploaded part: its number, where it lies in the payload, and the server's ETag."""

    number: int
    offset: int
    length: int
    etag: str

    def as_completed(self) -> dict[str, Any]:
        """The entry of this part in CompleteMultipartUpload's ``Parts`` list."""
        return {"PartNumber": self.number, "ETag": self.etag}


def upload_parts(
    upload_part: Callable[[int, Any], str],
    payload: StoredPayload,
    part_size: int,
    max_concurrency: int,
) -> list[SentPart]:
    """Upload ``payload`` in parts, from the source's current position; return the parts.

    ``upload_part(number, body)`` sends one part and returns its ETag (retrying
    as it sees fit: ``body`` is a rewindable :class:`FileWindow` or ``bytes``).
    Raises the first part's error, or :class:`IntegrityError` if the source changed.
    """
    sent = payload.tracker()
    fd = regular_file_fd(payload.source)
    start = payload.source.tell()
    # A slot is taken before a part is cut and freed when its upload ends.
    slots = threading.BoundedSemaphore(max_concurrency)
    failed = threading.Event()
    futures: list[Future[str]] = []
    extents: list[tuple[int, int]] = []

    def done(future: Future[str]) -> None:
        if future.exception() is not None:
            failed.set()
        slots.release()

    with ThreadPoolExecutor(max_concurrency, thread_name_prefix="s3-part") as pool:
        while sent.size < payload.stored_size and not failed.is_set():
            slots.acquire()
            offset = sent.size
            length = min(part_size, payload.stored_size - offset)
            body: Any
            if fd is not None:
                if payload.available is not None:
                    payload.available(start + offset + length)
                body = FileWindow(fd, start + offset, length)
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
            extents.append((offset, sent.size - offset))
    etags = [future.result() for future in futures]
    sent.check()
    return [
        SentPart(number, offset, length, etag)
        for number, ((offset, length), etag) in enumerate(zip(extents, etags, strict=True), 1)
    ]


def part_window(source: OpenSource, start: int, part: SentPart) -> FileWindow | None:
    """``part`` read again from ``source`` (first stored byte at ``start``), if a regular file.

    None for other sources, whose bytes cannot be read twice without hashing them
    again: their upload is restarted instead.
    """
    fd = regular_file_fd(source)
    return None if fd is None else FileWindow(fd, start + part.offset, part.length)


def _account(sent: SentBytes, window: FileWindow, length: int) -> None:
    """Account for a file window; hash it (in order, in small blocks) if the tracker asks."""
    if not sent.hashing:
        sent.count(length)
        return
    while block := window.read(_HASH_BLOCK):
        sent.update(block)
    window.seek(0)
