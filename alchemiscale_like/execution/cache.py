"""`NodeFileCache`: the result files of one node, shared by its services, capped by size (LRU).

Layout of ``root``: one file per content, named by its sha256, complete and
verified before its name appears; ``.tmp/`` for links and copies on their way
in; ``.usage``, the bytes the cache holds, read and written under an ``flock``
on that same file.

Several processes (the services of a node) may use one cache at once. Readers
take no lock, and a killed process leaves nothing behind that could block or
mislead the others:

* An entry appears only by ``rename`` of a complete file: nobody sees a partial one.
* Nobody reads an entry in place. :meth:`NodeFileCache.materialize` first gives the
  content a second name in the task's own folder: a hard link (a copy only across
  filesystems). ``link(2)`` either succeeds, and the bytes then stay readable
  whatever happens to the entry, or fails because the entry was just evicted,
  which is a plain miss. Evicting only removes names in this folder, so it can
  never take bytes from a unit that uses them or is about to.
* Last use is the entry's mtime, set on every add and hit (by this process's clock,
  with nanoseconds: atime is often switched off, and the coarse timestamps the
  kernel writes could not order uses a few milliseconds apart).
* Adds and evictions hold the ``flock`` (the kernel drops it if its holder dies)
  while they rename and count, so the count is exact and two processes never free
  the same bytes twice. An add that takes the count above ``max_bytes`` scans the
  folder and evicts the least recently used entries down to ``evict_to`` of the
  cap: a full cache is scanned once per ``1 - evict_to`` of its cap added, not at
  every add. The count is written before the rename it counts, so a process killed
  in between leaves it too high (an early scan), never too low; every process
  scans at its first add.

The price: bytes of an evicted entry that a running task still links stay on disk
until that task's folder is deleted. The disk holds at most ``max_bytes`` plus the
files of the tasks running now. All processes of one cache must run as one user
(they set each other's mtimes).
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alchemiscale_like.atomicfiles import link_or_copy
from alchemiscale_like.errors import ValidationError
from alchemiscale_like.execution.fetcher import sha256_of
from alchemiscale_like.models.patterns import SHA256_PATTERN

log = logging.getLogger(__name__)

#: A leftover in ``.tmp`` untouched this long belongs to a process that died mid-add:
#: a live add links (or copies, writing all along) and renames it within moments.
STALE_TMP_NS = 3600 * 10**9
#: The file that holds the byte count and carries the lock.
USAGE_FILE = ".usage"
_COUNT = re.compile(rb"[0-9]{1,20}")


@dataclass(frozen=True)
class CacheEntry:
    """One file of the cache: its content's sha256, size and last use (ns since the epoch)."""

    sha256: str
    size: int
    last_use_ns: int


class NodeFileCache:
    """A sha256-named file cache in ``root`` holding at most ``max_bytes`` (see the module).

    Args:
        root: the cache folder (created on first use); give every service of a node
            the same one.
        max_bytes: the size cap, at least 1 (a node without a cache passes no cache).
        evict_to: an eviction frees the cache down to this fraction of ``max_bytes``.
        clock: nanoseconds since the epoch, the time stamped on a use (tests pass a
            counter).

    Raises:
        ValidationError: ``max_bytes`` is below 1 or ``evict_to`` is not in (0, 1].
    """

    def __init__(
        self,
        root: Path,
        max_bytes: int,
        *,
        evict_to: float = 0.9,
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        if type(max_bytes) is not int or max_bytes < 1:
            raise ValidationError(f"a file cache needs max_bytes >= 1, not {max_bytes!r}")
        if not 0 < evict_to <= 1:
            raise ValidationError(f"evict_to must be in (0, 1], not {evict_to!r}")
        self.root = root
        self.max_bytes = max_bytes
        self.low_water = max(1, int(max_bytes * evict_to))
        self._clock = clock
        self._scanned = False  # this process trusts the count only after its own scan

    def path_of(self, sha256: str) -> Path:
        """The entry of the content ``sha256`` (which may not exist).

        Raises:
            ValidationError: ``sha256`` is not 64 lowercase hex digits.
        """
        if not isinstance(sha256, str) or SHA256_PATTERN.fullmatch(sha256) is None:
            raise ValidationError(f"not a sha256 digest: {sha256!r}")
        return self.root / sha256

    def materialize(self, sha256: str, dest: Path) -> bool:
        """Give the new file ``dest`` the cached content ``sha256`` and mark it used.

        ``dest`` is a hard link to the entry (a copy across filesystems), so it stays
        readable after an eviction. The caller verifies it before use.

        Returns:
            False if the content is not cached (``dest`` is not created then).
        """
        entry = self.path_of(sha256)
        try:
            link_or_copy(entry, dest)
        except FileNotFoundError:
            return False
        self._touch(entry)
        return True

    def add(self, sha256: str, source: Path) -> None:
        """Cache the content ``source`` (already verified as ``sha256``); evict if full.

        ``source`` keeps its name; the entry is a hard link to it when they share a
        filesystem. Content already cached is only marked used; a file larger than
        the whole cap is not cached (it would only evict everything else).
        """
        entry = self.path_of(sha256)
        if self._touch(entry):
            return
        size = source.stat().st_size
        if size > self.max_bytes:
            log.info(
                "event=cache_skip sha256=%s bytes=%d max_bytes=%d reason=larger_than_cap",
                sha256,
                size,
                self.max_bytes,
            )
            return
        tmp_dir = self.root / ".tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = tmp_dir / f"{sha256}.{uuid.uuid4().hex}"
        try:
            link_or_copy(source, tmp)
            self._touch(tmp)
            with self._usage() as fd:
                if entry.exists():  # another process added it meanwhile
                    return
                total = _read_count(fd) if self._scanned else None
                if total is not None:
                    total += size
                    _write_count(fd, total)  # before the rename: never undercounts
                os.replace(tmp, entry)
                log.debug("event=cache_add sha256=%s bytes=%d", sha256, size)
                if total is None or total > self.max_bytes:
                    self._evict(fd)
        finally:
            tmp.unlink(missing_ok=True)

    def discard_if_damaged(self, sha256: str) -> bool:
        """Drop the entry ``sha256`` if its bytes no longer hash to ``sha256``.

        The entry is hashed again, not assumed damaged: another process may have
        replaced a damaged one with a good one meanwhile. Returns True if dropped.
        """
        entry = self.path_of(sha256)
        try:
            before = entry.stat()
            if sha256_of(entry)[0] == sha256:
                return False
            with self._usage() as fd:
                now = entry.stat()
                if (now.st_ino, now.st_dev) != (before.st_ino, before.st_dev):
                    return False  # replaced while we hashed it
                entry.unlink()
                total = _read_count(fd)
                if total is not None:
                    _write_count(fd, max(0, total - now.st_size))
        except FileNotFoundError:
            return False
        log.warning("event=cache_discard sha256=%s reason=damaged", sha256)
        return True

    def entries(self) -> list[CacheEntry]:
        """The files in the cache now, least recently used first."""
        found = []
        try:
            scan = list(os.scandir(self.root))
        except FileNotFoundError:
            return []
        for item in scan:
            if SHA256_PATTERN.fullmatch(item.name) is None:
                continue
            try:
                info = item.stat(follow_symlinks=False)
            except FileNotFoundError:  # gone since the scan
                continue
            found.append(CacheEntry(item.name, info.st_size, info.st_mtime_ns))
        return sorted(found, key=lambda e: (e.last_use_ns, e.sha256))

    def size(self) -> int:
        """Bytes in the cache now (counted file by file)."""
        return sum(e.size for e in self.entries())

    def usage(self) -> int | None:
        """The byte count the cache keeps (None before the first add)."""
        with self._usage() as fd:
            return _read_count(fd)

    def evict(self) -> list[CacheEntry]:
        """Count the cache file by file; if above ``max_bytes``, free it down to ``evict_to``.

        Least recently used entries go first. Also removes leftovers of processes
        that died mid-add. Returns what it removed.
        """
        with self._usage() as fd:
            return self._evict(fd)

    @contextmanager
    def _usage(self) -> Iterator[int]:
        """The count file's descriptor, with the cache's lock held."""
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / USAGE_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)  # drops the lock

    def _evict(self, fd: int) -> list[CacheEntry]:
        entries = self.entries()
        total = sum(e.size for e in entries)
        now = self._clock()
        removed: list[CacheEntry] = []
        if total > self.max_bytes:
            for entry in entries:
                if total <= self.low_water:
                    break
                (self.root / entry.sha256).unlink(missing_ok=True)
                total -= entry.size
                removed.append(entry)
                log.info(
                    "event=cache_evict sha256=%s bytes=%d idle_seconds=%.1f cache_bytes=%d "
                    "max_bytes=%d",
                    entry.sha256,
                    entry.size,
                    max(0, now - entry.last_use_ns) / 1e9,
                    total,
                    self.max_bytes,
                )
        _write_count(fd, total)
        self._scanned = True
        self._remove_stale_tmp(now)
        return removed

    def _touch(self, path: Path) -> bool:
        """Stamp ``path`` as used now; False if it does not exist."""
        stamp = self._clock()
        try:
            os.utime(path, ns=(stamp, stamp))
        except FileNotFoundError:
            return False
        return True

    def _remove_stale_tmp(self, now: int) -> None:
        try:
            leftovers = list(os.scandir(self.root / ".tmp"))
        except FileNotFoundError:
            return
        for item in leftovers:
            try:
                if now - item.stat(follow_symlinks=False).st_mtime_ns > STALE_TMP_NS:
                    os.unlink(item.path)
                    log.info("event=cache_tmp_removed file=%s", item.name)
            except FileNotFoundError:
                continue


def _read_count(fd: int) -> int | None:
    """The byte count in the count file; None if there is none (or it is garbled)."""
    text = os.pread(fd, 32, 0).strip()
    return int(text) if _COUNT.fullmatch(text) else None


def _write_count(fd: int, total: int) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(total).encode(), 0)
