"""`FileFetcher`: materialize ResultFiles on this node, at most once per content."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from alchemiscale_like.errors import IntegrityError
from alchemiscale_like.models.resultfile import ResultFile, validate_file_name

log = logging.getLogger(__name__)

#: ``download(ref, dest)`` writes the bytes of ``ref`` to the new file ``dest``.
Downloader = Callable[[ResultFile, Path], None]

_CHUNK = 1 << 20


def sha256_of(path: Path) -> tuple[str, int]:
    """``(sha256 hex, size)`` of a file, read in bounded chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class FileFetcher:
    """A content cache keyed by sha256, filled by local producers or by downloads.

    Files produced on this node are registered (hard-linked, no copy) so a
    downstream unit on the same node never downloads them; anything else is
    downloaded once with ``download`` and verified before it becomes visible.
    """

    def __init__(self, cache_dir: Path, download: Downloader | None = None) -> None:
        self.cache_dir = cache_dir
        self._download = download

    def _cached_path(self, ref: ResultFile) -> Path:
        return self.cache_dir / ref.sha256 / Path(validate_file_name(ref.name)).name

    def register(self, ref: ResultFile, path: Path) -> None:
        """Make the local file ``path`` (content of ``ref``) available to :meth:`fetch`."""
        target = self._cached_path(ref)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{uuid.uuid4().hex}.tmp")
        try:
            os.link(path, tmp)
        except OSError:
            shutil.copyfile(path, tmp)
        os.replace(tmp, target)

    def fetch(self, ref: ResultFile) -> Path:
        """Return a local path holding the content of ``ref``, downloading it if needed.

        Every file is checked against ``ref.sha256`` and ``ref.size`` before it is
        handed out, whether it was cached, hard-linked from a local producer or just
        downloaded: a damaged cache must not silently change a result. A cached
        copy that fails the check is dropped and downloaded again when possible.

        Raises:
            IntegrityError: the file (cached or downloaded) does not match ``ref``.
            FileNotFoundError: not cached here and no downloader was given.
        """
        target = self._cached_path(ref)
        if target.exists():
            problem = _mismatch(ref, target)
            if problem is None:
                return target
            log.warning(
                "event=cache_corrupt location=%s path=%s problem=%r redownload=%s",
                ref.location,
                target,
                problem,
                self._download is not None,
            )
            # Unlinking drops only the cache's name; a hard-linked original keeps its bytes.
            target.unlink()
            if self._download is None:
                raise IntegrityError(f"{ref.name} ({ref.location}): cached copy {problem}")
        if self._download is None:
            raise FileNotFoundError(f"{ref.location} is not on this node and cannot be fetched")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{uuid.uuid4().hex}.tmp")
        try:
            self._download(ref, tmp)
            problem = _mismatch(ref, tmp)
            if problem is not None:
                raise IntegrityError(f"{ref.name} ({ref.location}): downloaded copy {problem}")
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return target


def _mismatch(ref: ResultFile, path: Path) -> str | None:
    """Why the file at ``path`` is not the content of ``ref``, or None if it is."""
    sha, size = sha256_of(path)
    if sha == ref.sha256 and size == ref.size:
        return None
    return f"has sha256 {sha} ({size} bytes), expected {ref.sha256} ({ref.size} bytes)"
