"""The one atomic-write helper: whole new file or the old one, never a part."""

from __future__ import annotations

from pathlib import Path

import pytest

from alchemiscale_like.atomicfiles import landing, place_atomic, write_atomic


def test_write_atomic_replaces_the_whole_file(tmp_path: Path) -> None:
    dest = tmp_path / "deep" / "result.json"
    write_atomic(dest, b"old")
    write_atomic(dest, b"new content")
    assert dest.read_bytes() == b"new content"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["result.json"]


def test_a_failed_landing_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    dest = tmp_path / "file.bin"
    dest.write_bytes(b"old")

    def broken_download() -> None:
        with landing(dest) as fd:
            with open(fd, "wb", closefd=False) as out:
                out.write(b"half of the new")
            raise RuntimeError("the download broke")

    with pytest.raises(RuntimeError):
        broken_download()
    assert dest.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.bin"]


def test_place_atomic_links_instead_of_copying(tmp_path: Path) -> None:
    source = tmp_path / "samples.npy"
    source.write_bytes(b"x" * 1000)
    dest = tmp_path / "store" / "units" / "samples.npy"
    place_atomic(source, dest)
    assert dest.read_bytes() == source.read_bytes()
    assert dest.stat().st_ino == source.stat().st_ino
    assert sorted(p.name for p in dest.parent.iterdir()) == ["samples.npy"]


def test_place_atomic_of_a_missing_source_changes_nothing(tmp_path: Path) -> None:
    dest = tmp_path / "dest.bin"
    dest.write_bytes(b"kept")
    with pytest.raises(FileNotFoundError):
        place_atomic(tmp_path / "missing.bin", dest)
    assert dest.read_bytes() == b"kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dest.bin"]
