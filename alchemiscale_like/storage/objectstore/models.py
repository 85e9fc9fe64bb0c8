"""Small value types shared by the object store interface and its backends."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import IO

from pydantic import BaseModel, ConfigDict, Field

from alchemiscale_like.errors import AlreadyExists, IntegrityError
from alchemiscale_like.storage.objectstore.codec import Encoding, Readable
from alchemiscale_like.storage.objectstore.growing import GrowingFile

#: An open source of bytes to store: a binary file object, or an upload still arriving.
OpenSource = IO[bytes] | GrowingFile
#: What :meth:`ObjectStore.put_file` accepts: a path, a binary file object (read
#: from its current position; non-seekable streams are spooled to disk), or a
#: :class:`GrowingFile` (sent while it arrives).
FileSource = str | os.PathLike[str] | OpenSource


class ObjectInfo(BaseModel):
    """What the store knows about one object; record ``location`` to read it back.

    ``sha256`` and ``size`` describe the content a reader gets back (JSON text,
    file bytes), whatever the storage ``encoding``.
    """

    model_config = ConfigDict(frozen=True)

    location: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    size: int = Field(ge=0)
    encoding: Encoding = "identity"

    @property
    def name(self) -> str:
        """The last component of the location."""
        return self.location.rsplit("/", 1)[-1]


class ListedObject(BaseModel):
    """One entry of a listing: a location and the size of its stored bytes.

    Listings cost one request per page; use :meth:`ObjectStore.stat` for the
    sha256 and content size of an entry.
    """

    model_config = ConfigDict(frozen=True)

    location: str
    stored_size: int


class WriteMode(StrEnum):
    """What a write does when the location already exists."""

    CREATE = "create"  # write-once: same content is a no-op, different raises AlreadyExists
    KEEP = "keep"  # content-addressed: keep whatever is there
    OVERWRITE = "overwrite"  # checkpoints: replace atomically


@dataclass(frozen=True)
class StoredPayload:
    """Bytes ready for a backend to write, and how to be sure they are the right ones.

    ``source`` is positioned at the first stored byte. The backend sends exactly
    ``stored_size`` bytes, accounts for them in a :meth:`tracker`, and makes the
    object visible only if :meth:`SentBytes.check` passes:

    * ``verify_by_hash``: the backend hashes the bytes as it reads them and they
      must hash to ``stored_sha256`` (used when the sha256 is the caller's claim,
      or when the source is not a regular file);
    * ``unchanged``: must still return True before publishing. Set for regular
      files (an ``fstat`` comparison); when ``stored_sha256`` was computed from
      the file just before, it replaces a second hashing pass, which would cost
      as much CPU as the upload itself;
    * ``available``: for a source still being received (a
      :class:`~.growing.GrowingFile`), blocks until the first ``n`` stored bytes
      can be read. A backend that reads the source's descriptor directly instead
      of calling ``read`` must call it first.
    """

    info: ObjectInfo
    source: OpenSource
    stored_size: int
    stored_sha256: str
    verify_by_hash: bool = True
    unchanged: Callable[[], bool] | None = None
    available: Callable[[int], None] | None = None

    def __post_init__(self) -> None:
        if not self.verify_by_hash and self.unchanged is None:
            raise ValueError("a payload needs verify_by_hash or an unchanged() check")

    def tracker(self) -> SentBytes:
        """A fresh :class:`SentBytes` for one attempt at writing this payload."""
        return SentBytes(self)


class SentBytes:
    """Counts (and hashes, if the payload asks for it) the bytes a backend sends."""

    def __init__(self, payload: StoredPayload) -> None:
        self._payload = payload
        self._digest = hashlib.sha256() if payload.verify_by_hash else None
        self.size = 0

    @property
    def hashing(self) -> bool:
        """Whether :meth:`update` needs the bytes (else :meth:`count` will do)."""
        return self._digest is not None

    def update(self, chunk: bytes) -> None:
        """Account for ``chunk``, read from the source to be sent."""
        self.size += len(chunk)
        if self._digest is not None:
            self._digest.update(chunk)

    def count(self, size: int) -> None:
        """Account for ``size`` bytes sent without passing through us (not when hashing)."""
        assert self._digest is None, "a hashing tracker must see the bytes"
        self.size += size

    def check(self) -> None:
        """Raise :class:`IntegrityError` unless the bytes sent are the bytes promised."""
        payload = self._payload
        if self.size != payload.stored_size:
            problem = f"{self.size} bytes were read, {payload.stored_size} expected"
        elif self._digest is not None and self._digest.hexdigest() != payload.stored_sha256:
            problem = f"sha256 {self._digest.hexdigest()}, {payload.stored_sha256} expected"
        elif payload.unchanged is not None and not payload.unchanged():
            problem = "the file was modified while it was being stored"
        else:
            return
        raise IntegrityError(
            f"{payload.info.location}: the source changed while it was being stored ({problem})"
        )


@dataclass
class RawObject:
    """An open stored object: its metadata and a reader over its stored bytes."""

    info: ObjectInfo
    stream: Readable
    close: Callable[[], None]


def resolve_existing(existing: ObjectInfo, new: ObjectInfo, mode: WriteMode) -> ObjectInfo:
    """What a write of ``new`` does when ``existing`` is already stored at its location.

    Returns the stored object's info (the write is a no-op) or raises
    :class:`AlreadyExists`. Not used for :attr:`WriteMode.OVERWRITE`.
    """
    if mode is WriteMode.KEEP:
        return existing
    if existing.sha256 == new.sha256 and existing.size == new.size:
        return existing
    raise AlreadyExists(
        f"{new.location} already exists with different content (sha256 {existing.sha256}); "
        "objects are write-once"
    )
