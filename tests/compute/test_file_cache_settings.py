"""The file cache settings of a compute service: where it is, how large, and off."""

from __future__ import annotations

from pathlib import Path

import pytest

from alchemiscale_like.compute.settings import ComputeServiceSettings
from alchemiscale_like.errors import ValidationError


def load(**values: object) -> ComputeServiceSettings:
    base: dict[str, object] = {"api_url": "http://127.0.0.1:1", "identifier": "w", "key": "k"}
    return ComputeServiceSettings.load(None, **(base | values))


def test_the_cache_defaults_to_the_scratch_folder_and_its_cap(tmp_path: Path) -> None:
    settings = load(scratch_dir=tmp_path / "scratch")
    cache = settings.file_cache()
    assert cache is not None
    assert cache.root == tmp_path / "scratch" / "cache"
    assert cache.max_bytes == 50 * 1024**3


def test_services_of_a_node_can_name_one_cache_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NODE_LOCAL", str(tmp_path))
    first = load(scratch_dir=tmp_path / "one", cache_dir="$NODE_LOCAL/cache")
    second = load(scratch_dir=tmp_path / "two", cache_dir="$NODE_LOCAL/cache")
    assert first.file_cache_dir == second.file_cache_dir == tmp_path / "cache"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("20GiB", 20 * 1024**3), ("500MB", 500 * 10**6), ("1.5 KiB", 1536), ("4096", 4096)],
)
def test_the_cap_is_bytes_or_a_size_with_its_unit(text: str, expected: int) -> None:
    assert load(cache_max_bytes=text).cache_max_bytes == expected


def test_the_environment_sets_the_cap_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALCHEMISCALE_LIKE_COMPUTE_CACHE_MAX_BYTES", "2GB")
    assert load().cache_max_bytes == 2 * 10**9


def test_a_cap_of_zero_means_no_node_cache() -> None:
    assert load(cache_max_bytes=0).file_cache() is None


@pytest.mark.parametrize("bad", ["-1", -1, "20 gigs", "GiB", 1.5])
def test_a_bad_cap_is_refused_naming_the_field(bad: object) -> None:
    with pytest.raises(ValidationError, match="cache_max_bytes"):
        load(cache_max_bytes=bad)
