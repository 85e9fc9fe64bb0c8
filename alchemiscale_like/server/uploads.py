"""File uploads streamed into the object store while they arrive.

A result or checkpoint file is sent as ``application/octet-stream`` with its
sha256 in ``X-Content-SHA256``. With a ``Content-Length`` (what our clients
send) the body goes into a :class:`~alchemiscale_like.storage.objectstore.GrowingFile`
and the store operation starts at once in a worker thread, sending the bytes
on as they come: receiving and storing overlap, and every byte is written to
local disk once. The store cannot publish before the whole body arrived and
matched its sha256 (the growing file withholds its last bytes until then). A
chunked body (no length) is received whole first, since the store needs the
size before its first byte.

Either way the whole body is read, hashed, and bounded by ``max_file_size``
even when the store operation ends early (a claim that is gone, an object
already there), so the client always gets an answer rather than a reset
connection, and a body that does not match its declared sha256 is refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from alchemiscale_like.errors import (
    IntegrityError,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationError,
)
from alchemiscale_like.models.patterns import is_sha256
from alchemiscale_like.server.body import (
    body_chunks,
    content_encoding,
    declared_length,
    media_type,
)
from alchemiscale_like.server.settings import APISettings
from alchemiscale_like.storage.objectstore.growing import GrowingFile
from alchemiscale_like.storage.objectstore.models import OpenSource

T = TypeVar("T")

_FILE_TYPES = ("application/octet-stream",)

#: ``store(source, sha256)``: the blocking store operation an upload feeds.
StoreUpload = Callable[[OpenSource, str], T]


def declared_sha256(request: Request) -> str:
    """The ``X-Content-SHA256`` header (required on uploads)."""
    value = request.headers.get("x-content-sha256", "")
    if not is_sha256(value):
        raise ValidationError("uploads need an X-Content-SHA256 header of 64 lowercase hex digits")
    return value


async def store_upload(request: Request, settings: APISettings, store: StoreUpload[T]) -> T:
    """Feed the request's file body to ``store(source, sha256)``, run in a worker thread.

    Returns what ``store`` returns.

    Raises:
        UnsupportedMediaType: not ``application/octet-stream``, or a Content-Encoding.
        ValidationError: no valid ``X-Content-SHA256``, or a bad ``Content-Length``.
        PayloadTooLarge: over ``max_file_size``.
        IntegrityError: the bytes do not hash to the declared sha256 (nothing stored).
        Whatever ``store`` raises.
    """
    if media_type(request) not in _FILE_TYPES:
        raise UnsupportedMediaType("file uploads must be application/octet-stream")
    if content_encoding(request) != "identity":
        raise UnsupportedMediaType("file uploads are sent as they are (no Content-Encoding)")
    sha256 = declared_sha256(request)
    length = declared_length(request, settings.max_file_size)
    spool_dir = settings.spool_dir
    if length is None:
        return await _store_received(request, settings, store, sha256, spool_dir)
    growing = GrowingFile(length, sha256, dir=spool_dir)
    # The worker thread closes the file when it is done with it, never this
    # coroutine: the store's own threads may still be reading its descriptor.
    stored = asyncio.ensure_future(run_in_threadpool(_store_and_close, store, growing, sha256))
    try:
        digest = hashlib.sha256()
        size = 0
        async for chunk in body_chunks(request, settings.body_idle_timeout):
            size += len(chunk)
            if size > length:
                raise IntegrityError(f"more than the declared {length} bytes arrived")
            digest.update(chunk)
            growing.append(chunk)  # dropped once the store ended early
        _check_digest(digest, sha256)
        growing.seal()
    except BaseException as exc:
        growing.fail(exc)
        await asyncio.wait({stored})
        if not stored.cancelled():
            stored.exception()  # retrieved: the receiving error is the one to report
        raise
    return await stored


def _store_and_close(store: StoreUpload[T], growing: GrowingFile, sha256: str) -> T:
    try:
        return store(growing, sha256)
    finally:
        growing.close()


async def _store_received(
    request: Request,
    settings: APISettings,
    store: StoreUpload[T],
    sha256: str,
    spool_dir: Path | None,
) -> T:
    """A chunked upload: spool the whole body (hashing it), then store the spool file."""
    with tempfile.TemporaryFile(prefix="upload-", dir=spool_dir) as spool:
        digest = hashlib.sha256()
        size = 0
        async for chunk in body_chunks(request, settings.body_idle_timeout):
            size += len(chunk)
            if size > settings.max_file_size:
                raise PayloadTooLarge(f"upload exceeds the limit of {settings.max_file_size} bytes")
            digest.update(chunk)
            spool.write(chunk)
        _check_digest(digest, sha256)
        spool.flush()
        spool.seek(0)
        return await run_in_threadpool(store, spool, sha256)


def _check_digest(digest: hashlib._Hash, sha256: str) -> None:
    if digest.hexdigest() != sha256:
        raise IntegrityError(
            f"uploaded bytes hash to {digest.hexdigest()}, not the declared {sha256}"
        )
