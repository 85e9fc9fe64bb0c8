"""Bytes in and out of the object store: zstd and sha256 while streaming.

(Structured objects are encoded with the one
:func:`~alchemiscale_like.models.canonical.canonical_json`.)

Everything here works in bounded chunks so a 100 GiB file costs a few MiB of
memory. The sha256 and size recorded with an object always describe its
*logical* content (the JSON text, the file's bytes), not the zstd frame, so
they match what a reader gets back whatever the storage encoding.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import IO, Literal, Protocol, cast

import zstandard

from alchemiscale_like.errors import IntegrityError

#: How stored bytes are encoded: as-is, or one zstd frame.
Encoding = Literal["identity", "zstd"]

#: Read/write chunk for streaming copies (large enough for hashlib to release the GIL).
CHUNK_SIZE = 1 << 20

#: File types that are compressed by default (text formats that shrink a lot).
#: Binary trajectories, archives and already-compressed data are stored as-is.
COMPRESSIBLE_SUFFIXES = frozenset(
    {
        ".json",
        ".txt",
        ".log",
        ".csv",
        ".tsv",
        ".xml",
        ".yaml",
        ".yml",
        ".out",
        ".pdb",
        ".cif",
        ".sdf",
        ".mol",
        ".mol2",
        ".xyz",
        ".gro",
        ".top",
        ".itp",
        ".prmtop",
        ".inpcrd",
        ".psf",
    }
)

_ZSTD_LEVEL = 3


class Readable(Protocol):
    """Anything with ``read(n)``: a file, an HTTP body, a decompressing reader."""

    def read(self, size: int = -1, /) -> bytes: ...


def should_compress(name: str) -> bool:
    """Whether a file called ``name`` is stored zstd-compressed by default (by suffix)."""
    dot = name.rfind(".")
    return dot > name.rfind("/") and name[dot:].lower() in COMPRESSIBLE_SUFFIXES


def sha256_hex(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def hash_stream(source: Readable) -> tuple[str, int]:
    """Read ``source`` to its end and return ``(sha256, size)``."""
    digest = hashlib.sha256()
    size = 0
    while chunk := source.read(CHUNK_SIZE):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def copy_hashing(source: Readable, target: IO[bytes]) -> tuple[str, int]:
    """Copy ``source`` to ``target`` to its end; return ``(sha256, size)`` of the bytes."""
    digest = hashlib.sha256()
    size = 0
    while chunk := source.read(CHUNK_SIZE):
        digest.update(chunk)
        target.write(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


class _HashingReader:
    """Wraps a reader and hashes what passes through it."""

    def __init__(self, inner: Readable) -> None:
        self.inner = inner
        self.digest = hashlib.sha256()
        self.size = 0

    def read(self, size: int = -1, /) -> bytes:
        chunk = self.inner.read(size)
        self.digest.update(chunk)
        self.size += len(chunk)
        return chunk


class _HashingWriter:
    """Wraps a writer and hashes what passes through it."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        self.size += len(data)
        return self.inner.write(data)


def compress_stream(source: Readable, target: IO[bytes]) -> tuple[str, int, str, int]:
    """zstd-compress ``source`` into ``target`` as one frame, streaming.

    Returns ``(content_sha256, content_size, stored_sha256, stored_size)``.
    """
    reader = _HashingReader(source)
    writer = _HashingWriter(target)
    # zstandard only calls read()/write(); its stubs ask for full file objects.
    zstandard.ZstdCompressor(level=_ZSTD_LEVEL).copy_stream(
        cast(IO[bytes], reader),
        cast(IO[bytes], writer),
        read_size=CHUNK_SIZE,
        write_size=CHUNK_SIZE,
    )
    return reader.digest.hexdigest(), reader.size, writer.digest.hexdigest(), writer.size


def verified_chunks(
    stored: Readable,
    *,
    location: str,
    encoding: Encoding,
    sha256: str,
    size: int,
    chunk_size: int = CHUNK_SIZE,
) -> Iterator[bytes]:
    """Yield the logical content of a stored object, checking it against its metadata.

    ``stored`` yields the stored bytes (a zstd frame when ``encoding`` is
    ``"zstd"``). Chunks are at most ``chunk_size`` bytes however well the data
    compresses. The last ``next()`` raises :class:`IntegrityError` if the
    content's sha256 or size differs from ``sha256``/``size``, or as soon as
    more than ``size`` bytes come out.
    """
    source: Readable = stored
    if encoding == "zstd":
        source = zstandard.ZstdDecompressor().stream_reader(
            cast(IO[bytes], stored), read_size=chunk_size, closefd=False
        )
    digest = hashlib.sha256()
    seen = 0
    while True:
        try:
            chunk = source.read(chunk_size)
        except zstandard.ZstdError as exc:
            raise IntegrityError(f"{location}: stored bytes are not valid zstd ({exc})") from exc
        if not chunk:
            break
        seen += len(chunk)
        if seen > size:
            raise IntegrityError(f"{location}: content is longer than its recorded {size} bytes")
        digest.update(chunk)
        yield chunk
    if seen != size:
        raise IntegrityError(f"{location}: content has {seen} bytes, {size} recorded")
    if digest.hexdigest() != sha256:
        raise IntegrityError(
            f"{location}: sha256 {digest.hexdigest()} differs from the recorded {sha256}"
        )
