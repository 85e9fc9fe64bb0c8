"""The :class:`ObjectStore` interface: write-once, verified, streamed object storage.

One interface, two backends (:class:`~.local.LocalObjectStore`,
:class:`~.s3.S3ObjectStore`), one conformance suite. This module holds
everything the backends share: the public API (layout, JSON encoding,
streaming, verification) is implemented here once on top of a handful of
byte-level primitives (``_write``, ``_open``, ``_stat``, ``_list``,
``_delete_prefix``, ``_presigned_url``) that each backend implements.

Guarantees every backend gives:

* **Write-once.** Putting a location that exists with the same content is a
  no-op (so retried uploads are safe); with different content it raises
  :class:`~alchemiscale_like.errors.AlreadyExists`. Content-addressed objects
  (:meth:`ObjectStore.put_object`) never raise: the key *is* the content.
  Checkpoints are the one exception: a unit rewrites its own checkpoint.
* **Atomic.** A reader sees the whole object or nothing, never a partial one.
* **Verified.** Every object records the sha256 and size of its content;
  writes check the bytes they send, reads check the bytes they return and
  raise :class:`~alchemiscale_like.errors.IntegrityError` on a mismatch.
* **Bounded memory.** Files are streamed in chunks both ways.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Generator, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

from alchemiscale_like.errors import PayloadTooLarge
from alchemiscale_like.models.canonical import canonical_json
from alchemiscale_like.models.compression import DEFAULT_MAX_DECOMPRESSED, compress
from alchemiscale_like.models.layout import STORE_LAYOUT
from alchemiscale_like.models.scope import ScopedKey
from alchemiscale_like.storage.objectstore import layout
from alchemiscale_like.storage.objectstore.codec import (
    CHUNK_SIZE,
    sha256_hex,
    should_compress,
    verified_chunks,
)
from alchemiscale_like.storage.objectstore.models import (
    FileSource,
    ListedObject,
    ObjectInfo,
    OpenSource,
    RawObject,
    StoredPayload,
    WriteMode,
)
from alchemiscale_like.storage.objectstore.transfer import file_payload, write_atomically

__all__ = [
    "FileSource",
    "ListedObject",
    "ObjectInfo",
    "ObjectStore",
    "RawObject",
    "StoredPayload",
    "WriteMode",
]


class ObjectStore(ABC):
    """Interface of the object store (see the module docstring for its guarantees).

    Args:
        max_json_size: largest structured object accepted or read, in bytes of JSON.
        spool_dir: where compressed uploads and non-seekable sources are spooled
            (default: the system temporary folder).
    """

    def __init__(
        self, *, max_json_size: int = DEFAULT_MAX_DECOMPRESSED, spool_dir: Path | None = None
    ) -> None:
        self.max_json_size = max_json_size
        self.spool_dir = spool_dir

    # -- content-addressed structured objects ---------------------------------------------

    def put_object(self, key: str, data: Any) -> ObjectInfo:
        """Store the JSON-able ``data`` of a content-addressed object (network, transformation).

        A no-op returning the stored object's info if ``key`` already exists.

        Raises:
            ValidationError: ``key`` is not ``ClassName-<32 hex>``, or ``data`` is not
                canonical JSON (NaN, infinities, sets, bytes...).
            PayloadTooLarge: the JSON exceeds ``max_json_size``.
            StoreUnavailable: the backing store cannot be reached.
        """
        return self._put_json(layout.object_location(key), data, WriteMode.KEEP)

    def get_object(self, key: str) -> Any:
        """The JSON value stored under ``key``.

        Raises:
            NotFound: no such object.
            IntegrityError: the stored bytes do not match their sha256.
        """
        return self.get_json(layout.object_location(key))

    def has_object(self, key: str) -> bool:
        """Whether the content-addressed object ``key`` exists."""
        return self._exists(layout.object_location(key))

    # -- task-scoped structured objects (relpaths from models.layout.STORE_LAYOUT) ----------

    def put_task_json(self, task_sk: ScopedKey, relpath: str, data: Any) -> ObjectInfo:
        """Store JSON-able ``data`` write-once at ``relpath`` inside the Task's folder.

        Raises:
            AlreadyExists: the location holds different content.
            UnsafeFileName: ``relpath`` breaks the file-name rule (or leaves the folder).
            ValidationError: ``data`` is not canonical JSON (NaN, infinities, sets...).
        """
        return self._put_json(layout.task_location(task_sk, relpath), data, WriteMode.CREATE)

    def get_task_json(self, task_sk: ScopedKey, relpath: str) -> Any:
        """The JSON value at ``relpath`` inside the Task's folder (see :meth:`get_json`)."""
        return self.get_json(layout.task_location(task_sk, relpath))

    def put_dag(self, task_sk: ScopedKey, data: Any) -> ObjectInfo:
        """Store the Task's ProtocolDAG (write-once: a Task has one DAG, ever)."""
        return self.put_task_json(task_sk, STORE_LAYOUT.dag, data)

    def get_dag(self, task_sk: ScopedKey) -> Any:
        """The Task's ProtocolDAG JSON. Raises ``NotFound`` if it was never stored."""
        return self.get_task_json(task_sk, STORE_LAYOUT.dag)

    def put_unit_result(
        self,
        task_sk: ScopedKey,
        unit_key: str,
        attempt: int,
        data: Any,
        *,
        claim: int | None = None,
    ) -> ObjectInfo:
        """Store one attempt's ProtocolUnitResult (or failure) of ``unit_key``, write-once.

        ``attempt`` (and ``claim``, the claim number it was made under, if any)
        count from 1; see :meth:`TaskLayout.unit_result
        <alchemiscale_like.models.layout.TaskLayout.unit_result>`.

        Raises:
            ValidationError: a bad ``unit_key``, ``attempt`` or ``claim``, or ``data``
                that is not canonical JSON.
        """
        relpath = STORE_LAYOUT.unit_result(unit_key, attempt, claim)
        return self.put_task_json(task_sk, relpath, data)

    def get_unit_result(
        self, task_sk: ScopedKey, unit_key: str, attempt: int, *, claim: int | None = None
    ) -> Any:
        """One attempt's ProtocolUnitResult JSON of ``unit_key`` (see :meth:`put_unit_result`)."""
        return self.get_task_json(task_sk, STORE_LAYOUT.unit_result(unit_key, attempt, claim))

    def put_dag_result(self, task_sk: ScopedKey, pdr_key: str, data: Any) -> ObjectInfo:
        """Store the final ProtocolDAGResult ``pdr_key`` of the Task, write-once."""
        return self.put_task_json(task_sk, STORE_LAYOUT.dag_result(pdr_key), data)

    def get_dag_result(self, task_sk: ScopedKey, pdr_key: str) -> Any:
        """The ProtocolDAGResult JSON ``pdr_key`` of the Task."""
        return self.get_task_json(task_sk, STORE_LAYOUT.dag_result(pdr_key))

    def get_json(self, location: str) -> Any:
        """The JSON value of the structured object at ``location``.

        Raises:
            NotFound: no such object.
            IntegrityError: the stored bytes do not match their sha256 or size.
            PayloadTooLarge: the object is larger than ``max_json_size``.
        """
        raw = self._open(layout.check_location(location))
        try:
            if raw.info.size > self.max_json_size:
                raise PayloadTooLarge(
                    f"{location}: {raw.info.size} bytes of JSON exceed the limit of "
                    f"{self.max_json_size}"
                )
            return json.loads(b"".join(self._chunks(raw, CHUNK_SIZE)))
        finally:
            raw.close()

    # -- task-scoped files (paths relative to the Task, see models.layout.TaskLayout) -------

    def put_task_file(
        self,
        task_sk: ScopedKey,
        relpath: str,
        source: FileSource,
        *,
        compress: bool | None = None,
        sha256: str | None = None,
    ) -> ObjectInfo:
        """Upload a file write-once at ``relpath`` inside the Task's folder (see :meth:`put_file`).

        Raises:
            UnsafeFileName: ``relpath`` breaks the file-name rule (or leaves the folder).
            AlreadyExists: the location holds different content.
            IntegrityError: ``sha256`` is wrong, or the source changed while uploading.
        """
        location = layout.task_location(task_sk, relpath)
        return self._put_file(location, source, compress, sha256, WriteMode.CREATE)

    def stat_task_file(self, task_sk: ScopedKey, relpath: str) -> ObjectInfo:
        """The recorded sha256, size and encoding of ``relpath``. Raises ``NotFound``."""
        return self.stat(layout.task_location(task_sk, relpath))

    def open_task_file(
        self, task_sk: ScopedKey, relpath: str, chunk_size: int = CHUNK_SIZE
    ) -> Generator[bytes, None, None]:
        """Stream the file at ``relpath`` inside the Task's folder (see :meth:`open_file`)."""
        return self.open_file(layout.task_location(task_sk, relpath), chunk_size)

    def download_task_file(
        self, task_sk: ScopedKey, relpath: str, dest: str | os.PathLike[str]
    ) -> ObjectInfo:
        """Download the file at ``relpath`` of the Task to ``dest`` (see :meth:`download_file`)."""
        return self.download_file(layout.task_location(task_sk, relpath), dest)

    def task_file_url(self, task_sk: ScopedKey, relpath: str, expires: int = 3600) -> str:
        """A presigned URL of the file at ``relpath`` of the Task (see :meth:`presigned_url`)."""
        return self.presigned_url(layout.task_location(task_sk, relpath), expires)

    # -- result files ----------------------------------------------------------------------

    def put_file(
        self,
        task_sk: ScopedKey,
        unit_key: str,
        attempt: int,
        name: str,
        source: FileSource,
        *,
        compress: bool | None = None,
        sha256: str | None = None,
        claim: int | None = None,
    ) -> ObjectInfo:
        """Upload a result file of one unit attempt, streaming, write-once.

        Args:
            name: the file's name as the unit gave it (the file-name rule of
                :func:`~alchemiscale_like.models.filenames.validate_file_name`).
            source: a path or a binary file object (read from its position to its end).
            compress: store zstd-compressed; ``None`` decides by the file's suffix
                (:data:`~.codec.COMPRESSIBLE_SUFFIXES`).
            sha256: the content's sha256 if the caller knows it; saves a hashing
                pass and is checked before the object becomes visible.
            claim: the claim number the attempt was made under, if any (its folder
                is then ``{attempt}-{claim}``, see ``TaskLayout``).

        Raises:
            UnsafeFileName: ``name`` is unsafe.
            ValidationError: a bad ``unit_key``, ``attempt`` or ``claim``.
            AlreadyExists: the file exists with different content.
            IntegrityError: ``sha256`` is wrong, or the source changed while uploading.
        """
        relpath = STORE_LAYOUT.unit_file(unit_key, attempt, name, claim)
        return self.put_task_file(task_sk, relpath, source, compress=compress, sha256=sha256)

    def open_file(
        self, location: str, chunk_size: int = CHUNK_SIZE
    ) -> Generator[bytes, None, None]:
        """Stream the content of the file at ``location`` in chunks of at most ``chunk_size``.

        ``NotFound`` is raised by this call; the iterator raises ``IntegrityError``
        at its end if the content does not match its sha256 (so consumers must not
        trust the bytes before the iterator is exhausted). Close the iterator if
        you stop early.
        """
        raw = self._open(layout.check_location(location))
        return self._closing_chunks(raw, chunk_size)

    def download_file(self, location: str, dest: str | os.PathLike[str]) -> ObjectInfo:
        """Download the file at ``location`` to ``dest``: verified, then atomically renamed.

        ``dest`` appears only once its whole content matched its sha256 and was
        fsynced; on failure nothing is left behind.

        Raises:
            NotFound: no such object.
            IntegrityError: the content does not match its sha256 or size.
        """
        return self._download(layout.check_location(location), Path(dest))

    def stat(self, location: str) -> ObjectInfo:
        """The recorded sha256, size and encoding of ``location``. Raises ``NotFound``."""
        return self._stat(layout.check_location(location))

    def presigned_url(self, location: str, expires: int = 3600) -> str:
        """A URL that serves the stored bytes of ``location`` for ``expires`` seconds.

        On S3 it is a presigned GET (large downloads bypass the API); locally it
        is a signed path under the API's object route (see
        :meth:`~.local.LocalObjectStore.verify_presigned`). If the object's
        ``encoding`` is ``"zstd"`` the response carries ``Content-Encoding: zstd``.

        Raises:
            NotFound: no such object.
        """
        location = layout.check_location(location)
        self._stat(location)
        return self._presigned_url(location, expires)

    # -- checkpoints -----------------------------------------------------------------------

    def put_checkpoint(
        self,
        task_sk: ScopedKey,
        unit_key: str,
        name: str,
        source: FileSource,
        *,
        compress: bool | None = None,
        sha256: str | None = None,
    ) -> ObjectInfo:
        """Upload (or atomically replace) checkpoint file ``name`` of ``unit_key``.

        Checkpoints are the one overwritable object: a unit rewrites its own.
        Readers see the old or the new file, never a mix. ``sha256``, if given,
        is checked before the new file becomes visible.
        """
        location = layout.task_location(task_sk, STORE_LAYOUT.checkpoint(unit_key, name))
        return self._put_file(location, source, compress, sha256, WriteMode.OVERWRITE)

    def list_checkpoints(self, task_sk: ScopedKey, unit_key: str) -> dict[str, ObjectInfo]:
        """The checkpoint files of ``unit_key``, by name."""
        prefix = layout.task_folder(task_sk, STORE_LAYOUT.checkpoint_folder(unit_key))
        return {
            entry.location[len(prefix) :]: self._stat(entry.location)
            for entry in self._list(prefix, 1000)
        }

    def get_checkpoint(
        self, task_sk: ScopedKey, unit_key: str, name: str, dest: str | os.PathLike[str]
    ) -> ObjectInfo:
        """Download checkpoint file ``name`` of ``unit_key`` to ``dest`` (see download_file)."""
        return self.download_task_file(task_sk, STORE_LAYOUT.checkpoint(unit_key, name), dest)

    # -- administration --------------------------------------------------------------------

    def list_objects(self, prefix: str = "", page_size: int = 1000) -> Iterator[ListedObject]:
        """Objects whose location starts with ``prefix``, in lexicographic order.

        Fetched lazily ``page_size`` entries at a time.
        """
        if prefix:
            layout.check_location(prefix.rstrip("/") or ".")
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        return self._list(prefix, page_size)

    def delete_task_object(self, task_sk: ScopedKey, relpath: str) -> None:
        """Delete the one object at ``relpath`` inside the Task's folder (none: a no-op).

        For undoing a write that was never recorded (see
        :func:`alchemiscale_like.services.results.record_unit_result`).
        """
        self._delete(layout.task_location(task_sk, relpath))

    def delete_task(self, task_sk: ScopedKey) -> int:
        """Delete every object stored for the Task; returns how many were deleted."""
        return self._delete_prefix(layout.task_prefix(task_sk))

    @abstractmethod
    def check(self) -> None:
        """Check the store is reachable and writable.

        Raises:
            StoreUnavailable: with what is wrong (unreachable, missing bucket, read-only).
        """

    # -- backend primitives ----------------------------------------------------------------

    @abstractmethod
    def _write(self, payload: StoredPayload, mode: WriteMode) -> ObjectInfo:
        """Atomically store ``payload`` (verifying it first); return the stored object's info."""

    @abstractmethod
    def _open(self, location: str) -> RawObject:
        """Open ``location`` for reading its stored bytes. Raises ``NotFound``."""

    @abstractmethod
    def _stat(self, location: str) -> ObjectInfo:
        """Metadata of ``location``. Raises ``NotFound``."""

    @abstractmethod
    def _exists(self, location: str) -> bool:
        """Whether ``location`` exists."""

    @abstractmethod
    def _list(self, prefix: str, page_size: int) -> Iterator[ListedObject]:
        """Objects under the string ``prefix``, lexicographically."""

    @abstractmethod
    def _delete(self, location: str) -> None:
        """Delete the object at ``location`` if there is one."""

    @abstractmethod
    def _delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix``; return the count."""

    @abstractmethod
    def _presigned_url(self, location: str, expires: int) -> str:
        """A time-limited URL serving ``location``."""

    # -- shared machinery ------------------------------------------------------------------

    def _put_json(self, location: str, data: Any, mode: WriteMode) -> ObjectInfo:
        content = canonical_json(data)
        if len(content) > self.max_json_size:
            raise PayloadTooLarge(
                f"{location}: {len(content)} bytes of JSON exceed the limit of {self.max_json_size}"
            )
        stored = compress(content)
        info = ObjectInfo(
            location=location, sha256=sha256_hex(content), size=len(content), encoding="zstd"
        )
        payload = StoredPayload(info, io.BytesIO(stored), len(stored), sha256_hex(stored))
        return self._write(payload, mode)

    def _put_file(
        self,
        location: str,
        source: FileSource,
        compress: bool | None,
        sha256: str | None,
        mode: WriteMode,
    ) -> ObjectInfo:
        if compress is None:
            compress = should_compress(location)
        with ExitStack() as stack:
            if isinstance(source, str | os.PathLike):
                fileobj: OpenSource = stack.enter_context(open(source, "rb"))
            else:
                fileobj = source
            payload = file_payload(
                location, fileobj, compress=compress, sha256=sha256, spool=self._spool, stack=stack
            )
            return self._write(payload, mode)

    def _download(self, location: str, dest: Path) -> ObjectInfo:
        """Land the content of ``location`` at ``dest`` (see :meth:`download_file`).

        Streams it through :func:`~.transfer.write_atomically`; a backend may
        override this with a faster way to the same guarantees.
        """
        raw = self._open(location)
        try:
            write_atomically(dest, self._chunks(raw, CHUNK_SIZE))
        finally:
            raw.close()
        return raw.info

    def _spool(self) -> IO[bytes]:
        if self.spool_dir is not None:
            self.spool_dir.mkdir(parents=True, exist_ok=True)
        return tempfile.TemporaryFile(dir=self.spool_dir)

    def _chunks(self, raw: RawObject, chunk_size: int) -> Iterator[bytes]:
        info = raw.info
        return verified_chunks(
            raw.stream,
            location=info.location,
            encoding=info.encoding,
            sha256=info.sha256,
            size=info.size,
            chunk_size=chunk_size,
        )

    def _closing_chunks(self, raw: RawObject, chunk_size: int) -> Generator[bytes, None, None]:
        try:
            yield from self._chunks(raw, chunk_size)
        finally:
            raw.close()
