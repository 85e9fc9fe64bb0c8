"""Bodies in and out: JSON, uploads that can be sent again, downloads checked as they stream.

An upload body is read in bounded chunks while it is sent, never whole into
memory. A retry (or the resend after a token refresh) needs the body again:
bytes are simply reused, a file given by path is re-opened, a seekable file
object is rewound to where it stood, and a stream that cannot be rewound (a
pipe, a socket) is sent once only.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import urlsplit

import requests

from alchemiscale_like.errors import APIError, IntegrityError, ValidationError
from alchemiscale_like.models import compression
from alchemiscale_like.storage.objectstore.codec import hash_stream

#: ``progress(done_bytes, total_bytes)``; ``total_bytes`` is None when unknown.
Progress = Callable[[int, int | None], None]

#: Bytes read from a file or a response at a time.
CHUNK_SIZE = 256 * 1024

#: The header carrying a body's sha256, in both directions.
SHA256_HEADER = "X-Content-SHA256"


class RequestBody(Protocol):
    """A body :class:`~alchemiscale_like.client.base.APIClient` can send, perhaps more than once."""

    @property
    def can_resend(self) -> bool:
        """Whether :meth:`open` may be called again after a send."""

    def open(self) -> bytes | UploadReader:
        """The body for one send, from its first byte."""

    def close(self) -> None:
        """Release what the last :meth:`open` opened."""


class BytesBody:
    """A body held in memory (JSON, a zstd frame): sent as often as needed."""

    can_resend = True

    def __init__(self, data: bytes) -> None:
        self.data = data

    def open(self) -> bytes:
        """The bytes themselves."""
        return self.data

    def close(self) -> None:
        """Nothing to release."""


class UploadReader:
    """Gives requests ``size`` bytes of ``fileobj`` in chunks, reporting progress.

    ``__len__`` makes requests send ``Content-Length`` (no ``__len__`` when the
    size is unknown: requests then sends the body chunked).
    """

    def __init__(self, fileobj: BinaryIO, size: int | None, progress: Progress | None) -> None:
        self._fileobj = fileobj
        self._size = size
        self._progress = progress
        self._done = 0

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes (never past ``size``).

        Raises:
            IntegrityError: the file ended before ``size`` bytes (it shrank since it was hashed).
        """
        if n < 0 or n > CHUNK_SIZE:
            n = CHUNK_SIZE
        if self._size is not None:
            n = min(n, self._size - self._done)
            if n == 0:
                return b""
        chunk = self._fileobj.read(n)
        if not chunk and self._size is not None:
            raise IntegrityError(
                f"upload source ended after {self._done} of {self._size} bytes; "
                "it changed while being sent"
            )
        self._done += len(chunk)
        if self._progress is not None:
            self._progress(self._done, self._size)
        return chunk

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(CHUNK_SIZE):
            yield chunk


class SizedUploadReader(UploadReader):
    """An :class:`UploadReader` of known size: requests sends ``Content-Length``."""

    def __init__(self, fileobj: BinaryIO, size: int, progress: Progress | None) -> None:
        super().__init__(fileobj, size, progress)
        self._length = size

    def __len__(self) -> int:
        return self._length


class FileBody:
    """A file upload: a path, or an open binary file object from its current position.

    The sha256 (when not given) and the size are worked out on construction, in
    a first pass over the file, so the headers can be sent before the bytes.

    Raises:
        ValidationError: a stream that cannot be rewound comes without its sha256
            (it cannot be read twice, so it cannot be hashed first).
    """

    def __init__(
        self, source: Path | BinaryIO, sha256: str | None, progress: Progress | None = None
    ) -> None:
        self._source = source
        self._progress = progress
        self._opened: BinaryIO | None = None
        self._sends = 0
        self._start = 0
        self.size: int | None
        if isinstance(source, Path):
            if sha256 is None:
                with open(source, "rb") as fileobj:
                    sha256, self.size = hash_stream(fileobj)
            else:
                self.size = source.stat().st_size
        elif _seekable(source):
            self._start = source.tell()
            if sha256 is None:
                sha256, _ = hash_stream(source)
            self.size = source.seek(0, os.SEEK_END) - self._start
            source.seek(self._start)
        else:
            if sha256 is None:
                raise ValidationError(
                    "an upload from a stream that cannot be rewound needs its sha256"
                )
            self.size = None
        self.sha256: str = sha256

    @property
    def can_resend(self) -> bool:
        """A path or a seekable file can be sent again; a one-way stream only once."""
        return self.size is not None or self._sends == 0

    def open(self) -> UploadReader:
        """The file from its start (re-opened or rewound)."""
        if not self.can_resend:
            raise ValidationError("an upload stream that cannot be rewound was already sent")
        self._sends += 1
        fileobj: BinaryIO
        if isinstance(self._source, Path):
            self._opened = fileobj = open(self._source, "rb")  # noqa: SIM115 (closed in close())
        else:
            fileobj = self._source
            if self.size is not None:
                fileobj.seek(self._start)
        if self.size is None:
            return UploadReader(fileobj, None, self._progress)
        return SizedUploadReader(fileobj, self.size, self._progress)

    def close(self) -> None:
        """Close the file this body opened (never a caller's file object)."""
        if self._opened is not None:
            self._opened.close()
            self._opened = None


def expected_digest(given: str | None, headers: list[str | None], what: str) -> str:
    """The one sha256 a download must have: the caller's and the servers' must agree.

    Raises:
        IntegrityError: they disagree, or none of them names a sha256.
    """
    candidates = {value.strip().lower() for value in [given, *headers] if value}
    if len(candidates) > 1:
        raise IntegrityError(f"{what}: conflicting sha256 values {sorted(candidates)}")
    if not candidates:
        raise IntegrityError(f"{what}: no sha256 to verify the download against")
    return candidates.pop()


def verified_chunks(
    response: requests.Response, sha256: str, what: str, progress: Progress | None
) -> Iterator[bytes]:
    """The body of ``response`` in bounded chunks; raises at the end if its sha256 differs.

    Raises:
        IntegrityError: the bytes received do not hash to ``sha256``.
    """
    total = _content_length(response)
    digest = hashlib.sha256()
    done = 0
    for chunk in response.iter_content(CHUNK_SIZE):
        digest.update(chunk)
        done += len(chunk)
        if progress is not None:
            progress(done, total)
        yield chunk
    actual = digest.hexdigest()
    if actual != sha256:
        raise IntegrityError(f"{what}: received {done} bytes with sha256 {actual}, not {sha256}")


def _content_length(response: requests.Response) -> int | None:
    value = response.headers.get("Content-Length", "")
    return int(value) if value.isdigit() else None


def _seekable(fileobj: BinaryIO) -> bool:
    try:
        return bool(fileobj.seekable())
    except (AttributeError, ValueError):
        return False


def json_body(body: Any, compress: bool) -> tuple[BytesBody, dict[str, str]]:
    """``body`` as JSON bytes (zstd-compressed if ``compress``) and the headers saying so."""
    try:
        data = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"request body cannot be sent as JSON: {exc}") from exc
    headers = {"Content-Type": "application/json"}
    raw = data.encode()
    if compress:
        raw = compression.compress(raw)
        headers["Content-Encoding"] = "zstd"
    return BytesBody(raw), headers


def json_of(response: requests.Response) -> Any:
    """The JSON body of a 2xx ``response``; None if it is empty.

    Raises:
        APIError: the body is not JSON.
    """
    content = response.content
    if not content:
        return None
    try:
        return json.loads(content)
    except ValueError as exc:
        path = urlsplit(response.url).path
        raise APIError(f"{response.request.method} {path}: the answer is not JSON") from exc
