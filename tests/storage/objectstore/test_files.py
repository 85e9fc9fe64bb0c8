"""Result files and checkpoints: streaming round trips, encodings, write-once, overwrite."""

from __future__ import annotations

import hashlib
import io
import os
import threading
from pathlib import Path

import pytest

from alchemiscale_like.errors import AlreadyExists, IntegrityError, NotFound
from alchemiscale_like.storage.objectstore import ObjectStore
from tests.storage.objectstore.conftest import TASK, UNIT, Backend


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    ("name", "compress", "encoding"),
    [
        ("traj.dcd", None, "identity"),  # binary: stored as-is
        ("log/run.txt", None, "zstd"),  # text suffix: compressed
        ("forced.dcd", True, "zstd"),
        ("plain.txt", False, "identity"),
    ],
)
def test_file_round_trip(
    objectstore: ObjectStore, tmp_path: Path, name: str, compress: bool | None, encoding: str
) -> None:
    data = b"line of text 0123456789\n" * 50_000 + os.urandom(1000)
    source = tmp_path / "source"
    source.write_bytes(data)
    info = objectstore.put_file(TASK, UNIT, 1, name, source, compress=compress)
    assert (info.sha256, info.size, info.encoding) == (_sha(data), len(data), encoding)
    assert info.location.endswith(f"/units/{UNIT}/1/files/{name}")
    assert info.name == name.rsplit("/", 1)[-1]
    assert objectstore.stat(info.location) == info
    chunks = list(objectstore.open_file(info.location, chunk_size=64 * 1024))
    assert max(len(c) for c in chunks) <= 64 * 1024
    assert b"".join(chunks) == data
    dest = tmp_path / "out" / "copy"
    assert objectstore.download_file(info.location, dest) == info
    assert dest.read_bytes() == data
    assert os.listdir(dest.parent) == ["copy"]  # no temporary file left


def test_sources_file_object_and_pipe(objectstore: ObjectStore) -> None:
    data = os.urandom(300_000)
    from_fileobj = objectstore.put_file(TASK, UNIT, 1, "a.bin", io.BytesIO(data))
    read_fd, write_fd = os.pipe()

    def feed() -> None:
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(data)

    writer = threading.Thread(target=feed)
    writer.start()
    with os.fdopen(read_fd, "rb") as pipe:
        from_pipe = objectstore.put_file(TASK, UNIT, 1, "b.bin", pipe)
    writer.join()
    assert from_fileobj.sha256 == from_pipe.sha256 == _sha(data)
    assert b"".join(objectstore.open_file(from_pipe.location)) == data


def test_file_object_is_read_from_its_position(objectstore: ObjectStore) -> None:
    source = io.BytesIO(b"HEADER" + b"payload")
    source.seek(6)
    info = objectstore.put_file(TASK, UNIT, 1, "p.bin", source)
    assert b"".join(objectstore.open_file(info.location)) == b"payload"


def test_empty_file(objectstore: ObjectStore, tmp_path: Path) -> None:
    info = objectstore.put_file(TASK, UNIT, 1, "empty.txt", io.BytesIO(b""))
    assert info.size == 0
    assert b"".join(objectstore.open_file(info.location)) == b""
    objectstore.download_file(info.location, tmp_path / "empty")
    assert (tmp_path / "empty").read_bytes() == b""


def test_known_sha256_is_checked(backend: Backend) -> None:
    store = backend.store
    data = b"x" * 1000
    info = store.put_file(TASK, UNIT, 1, "ok.bin", io.BytesIO(data), sha256=_sha(data))
    assert info.sha256 == _sha(data)
    for name in ["bad.bin", "bad.txt"]:  # stored as-is, compressed
        with pytest.raises(IntegrityError):
            store.put_file(TASK, UNIT, 1, name, io.BytesIO(data), sha256=_sha(b"other"))
        with pytest.raises(NotFound):
            store.stat(info.location.replace("ok.bin", name))
    assert backend.leftovers() == []


@pytest.mark.parametrize("size", [100_000, 20 << 20], ids=["single", "multipart"])
def test_known_sha256_of_a_file_on_disk(backend: Backend, tmp_path: Path, size: int) -> None:
    data = os.urandom(size)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    with pytest.raises(IntegrityError):
        backend.store.put_file(TASK, UNIT, 1, "f.bin", path, sha256=_sha(b"wrong"))
    assert list(backend.store.list_objects()) == []
    assert backend.leftovers() == []
    info = backend.store.put_file(TASK, UNIT, 1, "f.bin", path, sha256=_sha(data))
    assert b"".join(backend.store.open_file(info.location)) == data


def test_result_files_are_write_once(objectstore: ObjectStore) -> None:
    info = objectstore.put_file(TASK, UNIT, 1, "out.bin", io.BytesIO(b"first"))
    assert objectstore.put_file(TASK, UNIT, 1, "out.bin", io.BytesIO(b"first")) == info
    with pytest.raises(AlreadyExists):
        objectstore.put_file(TASK, UNIT, 1, "out.bin", io.BytesIO(b"second"))
    assert b"".join(objectstore.open_file(info.location)) == b"first"
    # Another attempt of the unit has its own folder.
    other = objectstore.put_file(TASK, UNIT, 2, "out.bin", io.BytesIO(b"second"))
    assert other.location != info.location


def test_missing_file(objectstore: ObjectStore, tmp_path: Path) -> None:
    location = f"org/campaign/project/tasks/Task-{'a' * 32}/nothing.bin"
    with pytest.raises(NotFound):
        objectstore.open_file(location)
    with pytest.raises(NotFound):
        objectstore.download_file(location, tmp_path / "x")
    with pytest.raises(NotFound):
        objectstore.stat(location)
    with pytest.raises(NotFound):
        objectstore.presigned_url(location)
    assert not (tmp_path / "x").exists()


def test_checkpoints_overwrite_atomically(objectstore: ObjectStore, tmp_path: Path) -> None:
    assert objectstore.list_checkpoints(TASK, UNIT) == {}
    first = objectstore.put_checkpoint(TASK, UNIT, "state.chk", io.BytesIO(b"step 1"))
    objectstore.put_checkpoint(TASK, UNIT, "nested/rng.json", io.BytesIO(b'{"seed": 1}'))
    second = objectstore.put_checkpoint(TASK, UNIT, "state.chk", io.BytesIO(b"step 2!"))
    assert first.location == second.location
    assert second.sha256 == _sha(b"step 2!")
    listed = objectstore.list_checkpoints(TASK, UNIT)
    assert sorted(listed) == ["nested/rng.json", "state.chk"]
    assert listed["state.chk"] == second
    assert listed["nested/rng.json"].encoding == "zstd"
    dest = tmp_path / "restore" / "state.chk"
    assert objectstore.get_checkpoint(TASK, UNIT, "state.chk", dest) == second
    assert dest.read_bytes() == b"step 2!"


def test_open_file_closed_early(objectstore: ObjectStore) -> None:
    info = objectstore.put_file(TASK, UNIT, 1, "big.bin", io.BytesIO(os.urandom(3 << 20)))
    chunks = objectstore.open_file(info.location, chunk_size=1 << 20)
    assert len(next(chunks)) == 1 << 20
    chunks.close()
    assert objectstore.stat(info.location) == info
