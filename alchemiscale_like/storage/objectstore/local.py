"""The local-filesystem object store: the embedded default, no server needed.

Each object is one file at ``{root}/{location}``: the stored bytes followed by
a fixed-size footer holding the object's metadata (sha256, size, encoding).
Keeping metadata inside the file (rather than in a sidecar or in extended
attributes, which HPC and network filesystems support unevenly) makes every
write a single atomic step:

* the object is written to ``{root}/.tmp/``, fsynced, then
* published with ``os.link`` (write-once: fails if the name exists, so two
  writers can never both win) or ``os.replace`` (checkpoints), and the folder
  is fsynced.

A reader therefore sees a whole object or none. Presigned URLs are HMAC-signed
paths under the API's object route (``url_base``); the route checks them with
:meth:`LocalObjectStore.verify_presigned` and streams :meth:`open_file`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pydantic

from alchemiscale_like.atomicfiles import fsync_dir
from alchemiscale_like.errors import Forbidden, IntegrityError, NotFound, StoreUnavailable
from alchemiscale_like.models.compression import DEFAULT_MAX_DECOMPRESSED
from alchemiscale_like.storage.objectstore.base import ObjectStore
from alchemiscale_like.storage.objectstore.codec import CHUNK_SIZE
from alchemiscale_like.storage.objectstore.layout import check_location
from alchemiscale_like.storage.objectstore.models import (
    ListedObject,
    ObjectInfo,
    RawObject,
    StoredPayload,
    WriteMode,
    resolve_existing,
)

#: Folder (under the root) for objects being written; never listed.
TMP_DIR = ".tmp"
#: Every object file ends with this many bytes of metadata.
FOOTER_SIZE = 512
_MAGIC = b"\n#alchemiscale-like object v1\n"


class _PayloadReader:
    """Reads the stored bytes of an object file, stopping before the footer."""

    def __init__(self, fd: int, remaining: int) -> None:
        self._file = open(fd, "rb", closefd=False)  # noqa: SIM115
        self._remaining = remaining

    def read(self, size: int = -1, /) -> bytes:
        if self._remaining <= 0:
            return b""
        want = self._remaining if size < 0 else min(size, self._remaining)
        data = self._file.read(want)
        self._remaining -= len(data)
        return data

    def close(self) -> None:
        self._file.close()


class LocalObjectStore(ObjectStore):
    """Object store in a folder of the local filesystem.

    Args:
        root: the store's folder (created on first write).
        url_base: URL path (or absolute URL) of the API route that serves objects
            for :meth:`presigned_url`.
        signing_key: HMAC key for presigned URLs. Every API process that verifies
            URLs must share it; the default is a random per-instance key.
        max_json_size: see :class:`ObjectStore`.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        *,
        url_base: str = "/objectstore",
        signing_key: bytes | None = None,
        max_json_size: int = DEFAULT_MAX_DECOMPRESSED,
    ) -> None:
        root = Path(root)
        # Spool in the store's own folder: same filesystem, no surprise /tmp quota.
        super().__init__(max_json_size=max_json_size, spool_dir=root / TMP_DIR)
        self.root = root
        self.url_base = url_base.rstrip("/")
        self._signing_key = signing_key if signing_key is not None else secrets.token_bytes(32)

    def __repr__(self) -> str:
        return f"LocalObjectStore({str(self.root)!r})"

    # -- ObjectStore primitives ------------------------------------------------------------

    def _write(self, payload: StoredPayload, mode: WriteMode) -> ObjectInfo:
        location = payload.info.location
        final = self._path(location)
        if mode is not WriteMode.OVERWRITE and final.exists():
            # Cheap early exit (a retried upload) before copying a large file.
            return resolve_existing(self._stat(location), payload.info, mode)
        tmp_dir = self._tmp_dir()
        fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix="put-")
        try:
            with os.fdopen(fd, "wb") as out:
                sent = payload.tracker()
                while sent.size < payload.stored_size:
                    chunk = payload.source.read(min(CHUNK_SIZE, payload.stored_size - sent.size))
                    if not chunk:
                        break
                    sent.update(chunk)
                    out.write(chunk)
                sent.check()
                out.write(_footer(payload.info))
                out.flush()
                os.fsync(out.fileno())
            final.parent.mkdir(parents=True, exist_ok=True)
            if mode is WriteMode.OVERWRITE:
                os.replace(tmp, final)
            else:
                try:
                    os.link(tmp, final)
                except FileExistsError:
                    return resolve_existing(self._stat(location), payload.info, mode)
            fsync_dir(final.parent)
        except OSError as exc:
            raise StoreUnavailable(f"{location}: cannot write to {self.root}: {exc}") from exc
        finally:
            Path(tmp).unlink(missing_ok=True)
        return payload.info

    def _open(self, location: str) -> RawObject:
        path = self._path(location)
        try:
            fd = os.open(path, os.O_RDONLY)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise NotFound(f"object {location} not found") from exc
        except OSError as exc:
            raise StoreUnavailable(f"{location}: cannot read {path}: {exc}") from exc
        try:
            info = _read_footer(fd, location)
            reader = _PayloadReader(fd, os.fstat(fd).st_size - FOOTER_SIZE)
        except BaseException:
            os.close(fd)
            raise

        def close() -> None:
            reader.close()
            os.close(fd)

        return RawObject(info=info, stream=reader, close=close)

    def _stat(self, location: str) -> ObjectInfo:
        raw = self._open(location)
        raw.close()
        return raw.info

    def _exists(self, location: str) -> bool:
        return self._path(location).is_file()

    def _list(self, prefix: str, page_size: int) -> Iterator[ListedObject]:
        folder, _, _ = prefix.rpartition("/")
        start = self.root / folder if folder else self.root
        return self._walk(start, f"{folder}/" if folder else "", prefix)

    def _delete(self, location: str) -> None:
        self._path(location).unlink(missing_ok=True)

    def _delete_prefix(self, prefix: str) -> int:
        count = 0
        for entry in list(self._list(prefix, 1000)):
            self._path(entry.location).unlink(missing_ok=True)
            count += 1
        top = self.root / prefix
        if top.is_dir():
            for dirpath, _, _ in os.walk(top, topdown=False):
                try:
                    os.rmdir(dirpath)
                except OSError:
                    # Not empty: a concurrent writer put something there. Leave it.
                    continue
        return count

    def _presigned_url(self, location: str, expires: int) -> str:
        expires_at = int(time.time()) + expires
        signature = self._signature(location, expires_at)
        return f"{self.url_base}/{quote(location)}?expires={expires_at}&signature={signature}"

    def check(self) -> None:
        """Check the root folder exists (creating it) and is writable."""
        try:
            with tempfile.TemporaryFile(dir=self._tmp_dir()) as probe:
                probe.write(b"check")
                probe.flush()
                os.fsync(probe.fileno())
        except OSError as exc:
            raise StoreUnavailable(
                f"local object store {self.root} is not writable: {exc}"
            ) from exc

    # -- local extras ----------------------------------------------------------------------

    def verify_presigned(self, location: str, expires_at: int, signature: str) -> ObjectInfo:
        """Check a URL made by :meth:`presigned_url`; return the object's info.

        Args:
            location: the URL's path after ``url_base`` (unquoted).
            expires_at: the URL's ``expires`` parameter (Unix time).
            signature: the URL's ``signature`` parameter.

        Raises:
            Forbidden: the signature is wrong or the URL expired.
            NotFound: the object no longer exists.
        """
        location = check_location(location)
        expected = self._signature(location, expires_at)
        if not hmac.compare_digest(expected, signature):
            raise Forbidden("the object URL's signature is invalid")
        if time.time() > expires_at:
            raise Forbidden("the object URL has expired")
        return self._stat(location)

    # -- helpers ---------------------------------------------------------------------------

    def _path(self, location: str) -> Path:
        return self.root / location

    def _tmp_dir(self) -> Path:
        tmp_dir = self.root / TMP_DIR
        tmp_dir.mkdir(parents=True, exist_ok=True)
        return tmp_dir

    def _signature(self, location: str, expires_at: int) -> str:
        message = f"{location}\n{expires_at}".encode()
        return hmac.new(self._signing_key, message, hashlib.sha256).hexdigest()

    def _walk(self, folder: Path, rel: str, prefix: str) -> Iterator[ListedObject]:
        """Yield objects under ``folder`` in the lexicographic order of their locations."""
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError):
            return
        # Sorting a folder as "name/" gives the same order as sorting full locations.
        keyed = []
        for entry in entries:
            if not rel and entry.name == TMP_DIR:
                continue
            is_dir = entry.is_dir(follow_symlinks=False)
            keyed.append((entry.name + "/" if is_dir else entry.name, is_dir, entry))
        for _, is_dir, entry in sorted(keyed, key=lambda item: item[0]):
            location = rel + entry.name
            if is_dir:
                inner = location + "/"
                if inner.startswith(prefix) or prefix.startswith(inner):
                    yield from self._walk(Path(entry.path), inner, prefix)
            elif location.startswith(prefix):
                try:
                    size = entry.stat(follow_symlinks=False).st_size
                except FileNotFoundError:
                    continue
                yield ListedObject(location=location, stored_size=max(size - FOOTER_SIZE, 0))


def _footer(info: ObjectInfo) -> bytes:
    meta = json.dumps(
        {"sha256": info.sha256, "size": info.size, "encoding": info.encoding},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    return meta.ljust(FOOTER_SIZE - len(_MAGIC)) + _MAGIC


def _read_footer(fd: int, location: str) -> ObjectInfo:
    file_size = os.fstat(fd).st_size
    if file_size < FOOTER_SIZE:
        raise IntegrityError(f"{location}: object file is truncated (no metadata footer)")
    footer = os.pread(fd, FOOTER_SIZE, file_size - FOOTER_SIZE)
    if not footer.endswith(_MAGIC):
        raise IntegrityError(f"{location}: object file has no valid metadata footer")
    try:
        meta = json.loads(footer[: -len(_MAGIC)])
        return ObjectInfo(location=location, **meta)
    except (ValueError, TypeError, pydantic.ValidationError) as exc:
        raise IntegrityError(f"{location}: object metadata footer is corrupt: {exc}") from exc
