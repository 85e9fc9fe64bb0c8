"""Big files streamed up and down with memory bounded well below their size.

Each backend moves 256 MiB while its resident memory may grow by at most an
eighth of that: no copy of the file, whole or in good part, is ever held. One
1 GiB round trip on S3 (marked ``slow``, still run by CI) checks the same at
the production part size: 128 parts up, 128 concurrent ranges down, and a
server-side assembly big enough to be slow on a busy disk.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from alchemiscale_like.storage.objectstore import ObjectStore
from alchemiscale_like.storage.objectstore.s3 import S3ObjectStore
from devtools.bench.common import PeakRSS
from tests.fixtures.s3_server import S3TestServer
from tests.storage.objectstore.conftest import TASK, UNIT

MIB = 1 << 20


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


def _round_trip(store: ObjectStore, tmp_path: Path, size: int) -> dict[str, int]:
    """Upload, download and stream ``size`` bytes, checking them; the RSS growth of each.

    A first round trip of 65 MiB (nine S3 parts: every upload thread busy) is
    not measured: it grows memory once per process and thread, not per byte.
    """
    warm = tmp_path / "warm.bin"
    _write_big_file(warm, 65 * MIB)
    warm_info = store.put_file(TASK, UNIT, 2, "warm.bin", warm)
    store.download_file(warm_info.location, tmp_path / "warm.out")
    for path in (warm, tmp_path / "warm.out"):
        path.unlink()

    source = tmp_path / "big.bin"
    sha = _write_big_file(source, size)

    with PeakRSS().watching() as upload:
        info = store.put_file(TASK, UNIT, 1, "big.bin", source)
    assert (info.sha256, info.size, info.encoding) == (sha, size, "identity")
    source.unlink()  # what follows must come from the store

    dest = tmp_path / "copy.bin"
    with PeakRSS().watching() as download:
        assert store.download_file(info.location, dest) == info
    assert dest.stat().st_size == size
    dest.unlink()

    with PeakRSS().watching() as stream:
        digest = hashlib.sha256()
        for chunk in store.open_file(info.location):
            digest.update(chunk)
    assert digest.hexdigest() == sha
    return {"upload": upload.growth, "download": download.growth, "stream": stream.growth}


def test_256_mib_round_trip_with_bounded_memory(objectstore: ObjectStore, tmp_path: Path) -> None:
    growth = _round_trip(objectstore, tmp_path, 256 * MIB)
    assert all(value <= 32 * MIB for value in growth.values()), growth


@pytest.mark.slow
def test_one_gib_round_trip_on_s3_with_bounded_memory(
    s3_server: S3TestServer, s3_prefix: str, tmp_path: Path
) -> None:
    store = S3ObjectStore.from_settings(s3_server.settings(s3_prefix))
    growth = _round_trip(store, tmp_path, 1 << 30)
    assert all(value <= 64 * MIB for value in growth.values()), growth
