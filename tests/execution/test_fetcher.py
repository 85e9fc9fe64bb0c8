"""`FileFetcher` checks every file against its sha256 before a unit may read it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from alchemiscale_like.errors import IntegrityError
from alchemiscale_like.execution.fetcher import FileFetcher
from alchemiscale_like.models import ResultFile

PAYLOAD = b"sampled energies " * 64


def _ref(data: bytes = PAYLOAD) -> ResultFile:
    return ResultFile(
        name="samples.npy",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        location="units/U/1/files/samples.npy",
    )


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_damaged_hard_linked_file_is_refused_naming_it(tmp_path: Path) -> None:
    produced = tmp_path / "permanent" / "samples.npy"
    produced.parent.mkdir()
    produced.write_bytes(PAYLOAD)
    fetcher = FileFetcher(tmp_path / "cache")
    fetcher.register(_ref(), produced)
    assert fetcher.fetch(_ref()).read_bytes() == PAYLOAD

    _flip_last_byte(produced)  # the cache entry is a hard link: it changes too

    with pytest.raises(IntegrityError, match=r"samples\.npy.*sha256"):
        fetcher.fetch(_ref())


def test_a_damaged_cache_entry_is_downloaded_again(tmp_path: Path) -> None:
    downloads: list[str] = []

    def download(ref: ResultFile, dest: Path) -> None:
        downloads.append(ref.location)
        dest.write_bytes(PAYLOAD)

    fetcher = FileFetcher(tmp_path / "cache", download=download)
    cached = fetcher.fetch(_ref())
    _flip_last_byte(cached)

    again = fetcher.fetch(_ref())
    assert again.read_bytes() == PAYLOAD
    assert downloads == [_ref().location] * 2


def test_a_truncated_cache_entry_is_caught(tmp_path: Path) -> None:
    fetcher = FileFetcher(tmp_path / "cache", download=lambda ref, dest: dest.write_bytes(b"x"))
    produced = tmp_path / "samples.npy"
    produced.write_bytes(PAYLOAD)
    fetcher.register(_ref(), produced)
    produced.write_bytes(PAYLOAD[:-1])  # same inode, one byte short

    with pytest.raises(IntegrityError, match="downloaded copy"):
        fetcher.fetch(_ref())
    assert not any(p.name.endswith(".tmp") for p in (tmp_path / "cache").rglob("*"))
