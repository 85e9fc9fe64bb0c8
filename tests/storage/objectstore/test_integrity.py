"""Integrity: stored bytes corrupted behind the store's back are detected on every read path."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from alchemiscale_like.errors import IntegrityError
from tests.storage.objectstore.conftest import TASK, UNIT, Backend

KEY = f"Transformation-{'2' * 32}"


def _flip_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 0x80])


def _truncate(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _append(data: bytes) -> bytes:
    return data + b"tail"


@pytest.mark.parametrize("mutate", [_flip_last_byte, _truncate, _append])
def test_corrupt_raw_file(backend: Backend, tmp_path: Path, mutate: object) -> None:
    store = backend.store
    data = os.urandom(200_000)
    info = store.put_file(TASK, UNIT, 1, "data.bin", io.BytesIO(data))
    backend.tamper(info.location, mutate)  # type: ignore[arg-type]
    with pytest.raises(IntegrityError, match=r"data\.bin"):
        b"".join(store.open_file(info.location))
    dest = tmp_path / "dest" / "data.bin"
    with pytest.raises(IntegrityError):
        store.download_file(info.location, dest)
    # Nothing half-verified is left where the caller would find it.
    assert os.listdir(dest.parent) == []


@pytest.mark.parametrize("mutate", [_flip_last_byte, _truncate])
def test_corrupt_structured_object(backend: Backend, mutate: object) -> None:
    store = backend.store
    info = store.put_object(KEY, {"values": list(range(500))})
    backend.tamper(info.location, mutate)  # type: ignore[arg-type]
    with pytest.raises(IntegrityError, match=KEY):
        store.get_object(KEY)


def test_corrupt_zstd_frame_header(backend: Backend) -> None:
    store = backend.store
    info = store.put_file(TASK, UNIT, 1, "out.txt", io.BytesIO(b"text\n" * 10_000))
    assert info.encoding == "zstd"
    backend.tamper(info.location)  # flips the first byte: the zstd magic number
    with pytest.raises(IntegrityError, match="zstd"):
        b"".join(store.open_file(info.location))


def test_corrupt_compressed_file_body(backend: Backend) -> None:
    store = backend.store
    # Hard-to-compress content, so the flipped byte lands in literal data.
    data = os.urandom(50_000).hex().encode()
    info = store.put_file(TASK, UNIT, 1, "out.txt", io.BytesIO(data))
    backend.tamper(info.location, lambda b: b[:5000] + bytes([b[5000] ^ 0x10]) + b[5001:])
    with pytest.raises(IntegrityError):
        b"".join(store.open_file(info.location))


def test_object_without_metadata(backend: Backend) -> None:
    location = f"org/campaign/project/tasks/Task-{'a' * 32}/planted.bin"
    backend.plant_without_metadata(location, b"no metadata here")
    with pytest.raises(IntegrityError):
        backend.store.stat(location)
    with pytest.raises(IntegrityError):
        b"".join(backend.store.open_file(location))


class _ChangingFile(io.RawIOBase):
    """A seekable file whose content changes once it is rewound (a racing writer)."""

    def __init__(self, size: int) -> None:
        self._data = bytearray(os.urandom(size))
        self._pos = 0
        self._passes = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: len(self._data)}[whence]
        self._pos = base + offset
        if self._pos == 0:
            self._passes += 1
            if self._passes == 1:
                self._data[-1] ^= 0xFF
        return self._pos

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        chunk = self._data[self._pos : self._pos + len(buffer)]
        buffer[: len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)


@pytest.mark.parametrize("size", [100_000, 20 << 20], ids=["single", "multipart"])
def test_source_changing_during_upload_is_refused(backend: Backend, size: int) -> None:
    store = backend.store
    with pytest.raises(IntegrityError, match="changed"):
        store.put_file(TASK, UNIT, 1, "racy.bin", io.BufferedReader(_ChangingFile(size)))
    assert list(store.list_objects()) == []
    assert backend.leftovers() == []


class _GrowsOnRewind(io.FileIO):
    """A real file that another writer appends to once it has been hashed and rewound."""

    grown = False

    def seek(self, offset: int, whence: int = 0) -> int:
        position = super().seek(offset, whence)
        if position == 0 and not self.grown:
            self.grown = True
            with open(self.name, "ab") as writer:
                writer.write(b"late write")
        return position


@pytest.mark.parametrize("size", [100_000, 20 << 20], ids=["single", "multipart"])
def test_file_modified_during_upload_is_refused(
    backend: Backend, tmp_path: Path, size: int
) -> None:
    path = tmp_path / "growing.bin"
    path.write_bytes(os.urandom(size))
    with _GrowsOnRewind(path) as source, pytest.raises(IntegrityError, match="modified"):
        backend.store.put_file(TASK, UNIT, 1, "growing.bin", source)
    assert list(backend.store.list_objects()) == []
    assert backend.leftovers() == []
