"""A 1 GiB file streamed up and down with bounded memory (one test per backend)."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from alchemiscale_like.storage.objectstore import ObjectStore
from tests.storage.objectstore.conftest import TASK, UNIT

GIB = 1 << 30
MIB = 1 << 20
#: Allowed growth of the process's resident memory while moving 1 GiB.
RSS_BOUND = 64 * MIB


class PeakRSS:
    """Samples this process's RSS in a thread; ``growth`` is peak minus the starting value."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self.start: int = self._process.memory_info().rss
        self.peak: int = self.start
        self._stop = threading.Event()

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, self._process.memory_info().rss)

    @contextmanager
    def watching(self) -> Iterator[PeakRSS]:
        thread = threading.Thread(target=self._sample, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()
        self.peak = max(self.peak, self._process.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.start


def _write_big_file(path: Path, size: int) -> str:
    """Write ``size`` pseudo-random bytes in 1 MiB chunks; return their sha256."""
    digest = hashlib.sha256()
    block = os.urandom(MIB)
    with open(path, "wb") as out:
        for i in range(size // MIB):
            chunk = i.to_bytes(8, "little") + block[8:]
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


@pytest.mark.slow
def test_one_gib_round_trip_with_bounded_memory(objectstore: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "big.bin"
    sha = _write_big_file(source, GIB)

    with PeakRSS().watching() as upload:
        info = objectstore.put_file(TASK, UNIT, 0, "big.bin", source)
    assert (info.sha256, info.size, info.encoding) == (sha, GIB, "identity")
    source.unlink()  # the download below must come from the store

    dest = tmp_path / "copy.bin"
    with PeakRSS().watching() as download:
        assert objectstore.download_file(info.location, dest) == info
    assert dest.stat().st_size == GIB

    with PeakRSS().watching() as stream:
        digest = hashlib.sha256()
        for chunk in objectstore.open_file(info.location):
            digest.update(chunk)
    assert digest.hexdigest() == sha

    growth = {"upload": upload.growth, "download": download.growth, "stream": stream.growth}
    assert all(value <= RSS_BOUND for value in growth.values()), growth
