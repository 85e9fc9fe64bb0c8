"""Atomic file writes: readers see the old file or the whole new one, never a part.

The one home of the write-aside-then-rename steps used by the stores, the local
run, checkpoints, the file cache and the clients' downloads (review P7).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make the entries of folder ``path`` (a rename, a new link) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temporary_name(dest: Path) -> Path:
    """A fresh hidden name next to ``dest``, on the same filesystem (for the rename)."""
    return dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")


@contextmanager
def landing(dest: Path) -> Iterator[int]:
    """A temporary file next to ``dest``, as a descriptor open for reading and writing.

    On a clean exit of the block the file is fsynced and renamed onto ``dest``
    (the only wait for the disk: the kernel writes back in the background while
    the block runs); if the block raises, it is removed and ``dest`` is untouched.
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name[:64]}.", suffix=".part")
    try:
        try:
            yield fd
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_atomic(dest: Path, data: bytes) -> None:
    """Write ``data`` to ``dest`` atomically and durably (file and folder entry fsynced)."""
    with landing(dest) as fd, open(fd, "wb", closefd=False) as out:
        out.write(data)
    fsync_dir(dest.parent)


def link_or_copy(source: Path, dest: Path) -> None:
    """Make ``dest`` a new hard link to ``source``, or a copy where links cannot be made.

    Raises:
        FileNotFoundError: ``source`` does not exist.
        FileExistsError: ``dest`` exists.
    """
    try:
        os.link(source, dest)
    except (FileNotFoundError, FileExistsError):
        raise
    except OSError:  # another filesystem, or one without hard links
        shutil.copyfile(source, dest)


def place_atomic(source: Path, dest: Path, *, durable: bool = True) -> None:
    """Put the content of file ``source`` at ``dest`` atomically, without copying
    where a hard link can be made; ``durable`` also fsyncs the file and folder."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_name(dest)
    link_or_copy(source, tmp)
    try:
        if durable:
            with open(tmp, "rb+") as handle:
                os.fsync(handle.fileno())
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(dest.parent)
