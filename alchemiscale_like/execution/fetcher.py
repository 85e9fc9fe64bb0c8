"""`FileFetcher`: materialize ResultFiles on this node, at most once per content."""

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from alchemiscale_like.atomicfiles import place_atomic
from alchemiscale_like.errors import IntegrityError, log_token
from alchemiscale_like.models.resultfile import ResultFile, validate_file_name

if TYPE_CHECKING:
    # Only for annotations: cache.py uses sha256_of from here.
    from alchemiscale_like.execution.cache import NodeFileCache

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

    ``cache_dir`` is the run's own folder (a task's, or a local run's): every file
    a unit is handed lives there, under ``<sha256>/<name>``. Files produced by this
    run are registered (hard-linked, no copy) so a downstream unit never downloads
    them; anything else comes from ``node_cache`` (the node's cache shared by its
    services, see :mod:`.cache`) or is downloaded once with ``download`` and
    verified before it becomes visible, and downloads then go into ``node_cache``
    for later tasks. Without ``node_cache`` nothing outlives the run's folder.
    """

    def __init__(
        self,
        cache_dir: Path,
        download: Downloader | None = None,
        node_cache: NodeFileCache | None = None,
    ) -> None:
        self.cache_dir = cache_dir
        self.node_cache = node_cache
        self._download = download

    def _cached_path(self, ref: ResultFile) -> Path:
        return self.cache_dir / ref.sha256 / Path(validate_file_name(ref.name)).name

    def register(self, ref: ResultFile, path: Path) -> None:
        """Make the local file ``path`` (content of ``ref``) available to :meth:`fetch`."""
        target = self._cached_path(ref)
        if target.exists():
            return
        # A cache of this task's folder: the durable copy is the stored one.
        place_atomic(path, target, durable=False)

    def share(self, ref: ResultFile, path: Path) -> None:
        """Offer the local file ``path`` (verified content of ``ref``) to the node's cache.

        A cache that cannot take it (full disk, unwritable folder) costs later tasks a
        download, not this run: the error is logged, not raised.
        """
        if self.node_cache is None:
            return
        try:
            self.node_cache.add(ref.sha256, path)
        except OSError as exc:
            log.warning(
                "event=cache_error op=add sha256=%s cache=%s error=%s",
                ref.sha256,
                self.node_cache.root,
                log_token(exc),
            )

    def fetch(self, ref: ResultFile) -> Path:
        """Return a local path holding the content of ``ref``, downloading it if needed.

        Looks in the run's folder, then in the node's cache, then downloads. Every
        file is checked against ``ref.sha256`` and ``ref.size`` before it is handed
        out, whether it was cached, hard-linked from a local producer or just
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
        if self._from_node_cache(ref, target):
            return target
        if self._download is None:
            raise FileNotFoundError(f"{ref.location} is not on this node and cannot be fetched")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{uuid.uuid4().hex}.tmp")
        started = time.monotonic()
        try:
            self._download(ref, tmp)
            problem = _mismatch(ref, tmp)
            if problem is not None:
                raise IntegrityError(f"{ref.name} ({ref.location}): downloaded copy {problem}")
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        log.info(
            "event=file_download location=%s sha256=%s bytes=%d seconds=%.3f",
            ref.location,
            ref.sha256,
            ref.size,
            time.monotonic() - started,
        )
        self.share(ref, target)
        return target

    def _from_node_cache(self, ref: ResultFile, target: Path) -> bool:
        """Link the node cache's copy of ``ref`` to ``target`` if it has a good one."""
        if self.node_cache is None:
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{uuid.uuid4().hex}.tmp")
        try:
            try:
                if not self.node_cache.materialize(ref.sha256, tmp):
                    return False
            except OSError as exc:  # an unreadable cache is a miss: download instead
                log.warning(
                    "event=cache_error op=read sha256=%s cache=%s error=%s",
                    ref.sha256,
                    self.node_cache.root,
                    log_token(exc),
                )
                return False
            problem = _mismatch(ref, tmp)
            if problem is not None:
                log.warning(
                    "event=cache_corrupt location=%s cache=%s problem=%r",
                    ref.location,
                    self.node_cache.root,
                    problem,
                )
                self.node_cache.discard_if_damaged(ref.sha256)
                return False
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        log.debug("event=cache_hit location=%s sha256=%s", ref.location, ref.sha256)
        return True


def _mismatch(ref: ResultFile, path: Path) -> str | None:
    """Why the file at ``path`` is not the content of ``ref``, or None if it is."""
    sha, size = sha256_of(path)
    if sha == ref.sha256 and size == ref.size:
        return None
    return f"has sha256 {sha} ({size} bytes), expected {ref.sha256} ({ref.size} bytes)"
