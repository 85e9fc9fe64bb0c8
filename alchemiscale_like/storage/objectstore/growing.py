"""A file source still being received: the store sends its bytes while they arrive.

An upload through the API would otherwise be received whole (to a spool file),
then sent whole to the store: twice the time, and twice the disk writes. A
:class:`GrowingFile` lets both happen at once. The receiver (the API's request
handler) appends what arrives, hashing it, and at the end either *seals* the
file (the bytes hash to the declared sha256) or *fails* it. The store reads it
like any regular file from another thread, except that a read waits for its
bytes to arrive, and the **last** bytes are handed out only once the file is
sealed. Since a backend makes an object visible only after it has read every
byte (see :class:`~.models.StoredPayload`), nothing is published unless the
whole content was received and matched its sha256; a failed file makes every
waiting and later read raise, and the backend abandons its write.

The bytes stay in an unlinked temporary file until :meth:`GrowingFile.close`, so
a part the store has to send again can be read again, and memory use does not
grow with the file.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

from alchemiscale_like.errors import IntegrityError

_NOTHING = 1 << 62


class GrowingFile:
    """A temporary file of a known ``size`` and ``sha256`` that is written while it is read.

    One thread writes (:meth:`append`, then :meth:`seal` or :meth:`fail`); any
    number read (:meth:`read`, or :meth:`wait_for` then ``os.pread`` on
    :meth:`fileno`). The reading side closes it when it is done, which deletes the
    bytes; the writer's later calls are then no-ops.
    """

    def __init__(self, size: int, sha256: str, *, dir: Path | None = None) -> None:
        if size < 0:
            raise ValueError("size must not be negative")
        self.size = size
        self.sha256 = sha256
        self._file = tempfile.TemporaryFile(prefix="upload-", dir=dir)  # noqa: SIM115
        self._fd = self._file.fileno()
        self._written = 0
        self._sealed = False
        self._failure: BaseException | None = None
        self._closed = False
        #: The least ``end`` a reader waits for (appends below it wake nobody).
        self._wanted = _NOTHING
        self._changed = threading.Condition()
        self._position = 0

    # -- the writer's side -----------------------------------------------------------------

    @property
    def written(self) -> int:
        """How many bytes have arrived so far."""
        return self._written

    def append(self, chunk: bytes) -> None:
        """Add ``chunk`` at the end (dropped if the file is closed: its reader is done).

        Raises:
            IntegrityError: past the declared ``size``.
        """
        with self._changed:
            if self._closed:
                return
            offset = self._written
            if offset + len(chunk) > self.size:
                raise IntegrityError(f"more than the declared {self.size} bytes arrived")
            view = memoryview(chunk)
            while view:
                count = os.pwrite(self._fd, view, offset)
                view, offset = view[count:], offset + count
            self._written = offset
            # Waking readers for every chunk would cost a thread switch (and the
            # GIL) per network read; they are woken when what they wait for is in.
            if offset >= self._wanted:
                self._wanted = _NOTHING
                self._changed.notify_all()

    def seal(self) -> None:
        """All ``size`` bytes arrived and hash to ``sha256`` (checked by the writer).

        A no-op once the file is closed. Raises :class:`IntegrityError` if bytes are
        missing or the file failed.
        """
        with self._changed:
            if self._closed:
                return
            if self._failure is not None:
                raise IntegrityError(f"the upload failed already: {self._failure}")
            if self._written != self.size:
                raise IntegrityError(f"{self._written} bytes arrived, {self.size} declared")
            self._sealed = True
            self._changed.notify_all()

    def fail(self, reason: BaseException) -> None:
        """The content will never be complete: every read from now on raises."""
        with self._changed:
            if not self._sealed:
                self._failure = reason
            self._changed.notify_all()

    # -- the readers' side -----------------------------------------------------------------

    @property
    def sealed(self) -> bool:
        """Whether the whole content arrived and matched its sha256."""
        return self._sealed

    @property
    def awaited(self) -> int | None:
        """The least byte count a reader is waiting for right now (None: nobody waits)."""
        with self._changed:
            return None if self._wanted == _NOTHING else self._wanted

    def wait_for(self, end: int) -> None:
        """Block until the first ``end`` bytes can be read (all of them: until sealed).

        Raises:
            IntegrityError: the file failed (its content will never be whole).
        """
        end = min(end, self.size)
        with self._changed:
            while not self._readable(end):
                if self._failure is not None:
                    raise IntegrityError(
                        f"the upload did not complete: {self._failure}"
                    ) from self._failure
                self._wanted = min(self._wanted, end)
                self._changed.wait()

    def _readable(self, end: int) -> bool:
        if self._failure is not None:
            return False
        return self._sealed if end == self.size else self._written >= end

    def fileno(self) -> int:
        """The temporary file's descriptor (``os.pread`` it after :meth:`wait_for`)."""
        return self._fd

    def read(self, size: int = -1, /) -> bytes:
        """Up to ``size`` bytes (all that remain if negative), waiting for them to arrive."""
        remaining = self.size - self._position
        size = remaining if size < 0 else min(size, remaining)
        if size <= 0:
            return b""
        self.wait_for(self._position + size)
        data = os.pread(self._fd, size, self._position)
        self._position += len(data)
        return data

    def seek(self, position: int, whence: int = os.SEEK_SET) -> int:
        """Move the read position (``SEEK_END`` is relative to the declared size)."""
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._position, os.SEEK_END: self.size}[whence]
        self._position = max(0, base + position)
        return self._position

    def tell(self) -> int:
        """The read position."""
        return self._position

    def seekable(self) -> bool:
        """Always True: what has arrived can be read again."""
        return True

    def readable(self) -> bool:
        """Always True."""
        return True

    def close(self) -> None:
        """Fail the file if it is not sealed (waking readers), and delete its bytes.

        Call it from the reading side once every read is over: the descriptor goes away.
        """
        self.fail(IntegrityError("the upload was closed before it completed"))
        with self._changed:
            if self._closed:
                return
            self._closed = True
            self._file.close()

    def __enter__(self) -> GrowingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
