"""Getting files ready to upload, and landing downloads atomically."""

from __future__ import annotations

import os
import queue
import stat
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO

from alchemiscale_like.atomicfiles import landing
from alchemiscale_like.errors import IntegrityError
from alchemiscale_like.storage.objectstore.codec import (
    compress_stream,
    copy_hashing,
    hash_stream,
)
from alchemiscale_like.storage.objectstore.growing import GrowingFile
from alchemiscale_like.storage.objectstore.models import ObjectInfo, OpenSource, StoredPayload

#: Downloads read this many chunks (of up to 1 MiB) ahead of the disk writes.
READ_AHEAD = 16


def file_payload(
    location: str,
    fileobj: OpenSource,
    *,
    compress: bool,
    sha256: str | None,
    spool: Callable[[], IO[bytes]],
    stack: ExitStack,
) -> StoredPayload:
    """Work out the sha256 and size of ``fileobj`` (compressing it if asked) for a backend.

    * compressed: one pass compresses into a spool file while hashing both sides;
    * not seekable (a pipe, a socket): copied to a spool file while hashing;
    * seekable, ``sha256`` not given: hashed in place, then rewound (the sha256
      goes into the object's metadata, which S3 needs before the first byte is
      sent);
    * seekable, ``sha256`` given: not pre-hashed; the backend hashes what it
      sends and checks it against ``sha256``.

    * a :class:`GrowingFile` (an upload still arriving): sent as it arrives,
      trusting its sha256, which it checks before it gives out its last bytes.

    Whatever the case, the backend refuses to publish bytes that differ from the
    ones hashed (see :class:`StoredPayload`). Spool files are closed (deleted)
    by ``stack``.

    Raises:
        IntegrityError: ``sha256`` was given and is not the content's.
    """
    if isinstance(fileobj, GrowingFile) and not compress:
        return _growing_payload(location, fileobj, sha256)
    if compress or isinstance(fileobj, GrowingFile) or not _seekable(fileobj):
        target = stack.enter_context(spool())
        if compress:
            digest, size, stored_digest, stored_size = compress_stream(fileobj, target)
        else:
            digest, size = copy_hashing(fileobj, target)
            stored_digest, stored_size = digest, size
        if sha256 is not None and sha256 != digest:
            raise IntegrityError(
                f"{location}: content sha256 {digest} differs from the given {sha256}"
            )
        target.seek(0)
        info = ObjectInfo(
            location=location,
            sha256=digest,
            size=size,
            encoding="zstd" if compress else "identity",
        )
        return _payload(info, target, stored_size, stored_digest, hashed_now=True)
    start = fileobj.tell()
    if sha256 is not None:
        size = fileobj.seek(0, os.SEEK_END) - start
        fileobj.seek(start)
        info = ObjectInfo(location=location, sha256=sha256, size=size)
        return _payload(info, fileobj, size, sha256, hashed_now=False)
    identity = file_identity(fileobj)
    digest, size = hash_stream(fileobj)
    fileobj.seek(start)
    info = ObjectInfo(location=location, sha256=digest, size=size)
    return _payload(info, fileobj, size, digest, hashed_now=True, identity=identity)


def _growing_payload(location: str, source: GrowingFile, sha256: str | None) -> StoredPayload:
    if sha256 is not None and sha256 != source.sha256:
        raise IntegrityError(
            f"{location}: the upload declares sha256 {source.sha256}, not the given {sha256}"
        )
    if source.tell() != 0:
        raise ValueError("a GrowingFile is stored from its first byte")
    info = ObjectInfo(location=location, sha256=source.sha256, size=source.size)
    return StoredPayload(
        info,
        source,
        source.size,
        source.sha256,
        # Its writer hashed every byte as it arrived; the last ones are readable
        # only once they matched, and before that the backend cannot publish.
        verify_by_hash=False,
        unchanged=lambda: source.sealed,
        available=source.wait_for,
    )


def _payload(
    info: ObjectInfo,
    source: IO[bytes],
    stored_size: int,
    stored_sha256: str,
    *,
    hashed_now: bool,
    identity: tuple[int, ...] | None = None,
) -> StoredPayload:
    """A payload checked by fstat when ``source`` is a regular file, else by hashing."""
    if identity is None:
        identity = file_identity(source)
    if identity is None:
        return StoredPayload(info, source, stored_size, stored_sha256)
    return StoredPayload(
        info,
        source,
        stored_size,
        stored_sha256,
        # Bytes we hashed a moment ago from a file that fstat says is unchanged
        # need no second hashing pass; a caller's sha256 does.
        verify_by_hash=not hashed_now,
        unchanged=lambda: file_identity(source) == identity,
    )


def regular_file_fd(fileobj: OpenSource) -> int | None:
    """The descriptor of ``fileobj`` if it is an open regular file, else None."""
    try:
        fd = fileobj.fileno()
        mode = os.fstat(fd).st_mode
    except (AttributeError, OSError, ValueError):
        return None
    return fd if stat.S_ISREG(mode) else None


def file_identity(fileobj: IO[bytes]) -> tuple[int, ...] | None:
    """What changes when a regular file is modified or replaced; None for other objects."""
    fd = regular_file_fd(fileobj)
    if fd is None:
        return None
    st = os.fstat(fd)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def write_atomically(dest: Path, chunks: Iterator[bytes]) -> None:
    """Write ``chunks`` to a temporary file next to ``dest``, fsync, rename into place.

    ``chunks`` (network reads, decompression, hashing) is consumed by a helper
    thread a few MiB ahead of the writes, so the disk works while the network
    does. If ``chunks`` raises (an integrity failure at the end, a lost
    connection), the temporary file is removed and ``dest`` is untouched.
    """
    # No flushing on the way: a blocking fdatasync every few MiB stalls the
    # network reads behind it whenever the disk is busy.
    with landing(dest) as fd, open(fd, "wb", closefd=False) as out, _read_ahead(chunks) as ahead:
        for chunk in ahead:
            out.write(chunk)


@contextmanager
def _read_ahead(chunks: Iterator[bytes]) -> Iterator[Iterator[bytes]]:
    """Iterate ``chunks`` in a helper thread, up to :data:`READ_AHEAD` chunks ahead.

    Errors raised by ``chunks`` come out of the returned iterator. On exit the
    helper stops (closing ``chunks``) and is joined.
    """
    buffer: queue.Queue[bytes | Exception | None] = queue.Queue(READ_AHEAD)
    stop = threading.Event()

    def offer(item: bytes | Exception | None) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for chunk in chunks:
                if not offer(chunk):
                    return
            offer(None)
        except Exception as exc:  # handed to the consuming thread, which raises it
            offer(exc)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    def consume() -> Iterator[bytes]:
        while (item := buffer.get()) is not None:
            if isinstance(item, Exception):
                raise item
            yield item

    helper = threading.Thread(target=produce, name="objectstore-read-ahead", daemon=True)
    helper.start()
    try:
        yield consume()
    finally:
        stop.set()
        helper.join()


def _seekable(fileobj: IO[bytes]) -> bool:
    try:
        return bool(fileobj.seekable())
    except (AttributeError, ValueError):
        return False
