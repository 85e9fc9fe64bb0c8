"""`NodeFileCache`: one file cache per node, shared by its processes, capped (LRU)."""

from __future__ import annotations

import fcntl
import itertools
import json
import logging
import multiprocessing
import os
import re
import time
from pathlib import Path

import pytest

from alchemiscale_like.errors import ValidationError
from alchemiscale_like.execution.cache import STALE_TMP_NS, USAGE_FILE, NodeFileCache
from alchemiscale_like.execution.fetcher import FileFetcher, sha256_of
from alchemiscale_like.execution.local_run import LocalRunStore
from alchemiscale_like.execution.recorder import ExecutionOptions, run_recorded
from alchemiscale_like.models import ResultFile
from alchemiscale_like.protocols.testing import FileProtocol, FileSettings
from tests.execution.conftest import make_transformation
from tests.execution.helper_cache import MAX_FILE, N_CONTENTS, fill, payload, ref_for

KIB = 1024


def counter_clock() -> itertools.count[int]:
    """A clock that ticks once per use: the order of uses, free of timestamp resolution."""
    return itertools.count(1_000_000_000)


def node_cache(tmp_path: Path, max_bytes: int, evict_to: float = 1.0) -> NodeFileCache:
    """A cache whose evictions free just enough (unless ``evict_to`` says otherwise)."""
    return NodeFileCache(
        tmp_path / "node", max_bytes, evict_to=evict_to, clock=counter_clock().__next__
    )


def source(tmp_path: Path, index: int) -> tuple[ResultFile, Path]:
    """Content ``index`` written to a file of its own, as a unit or a download leaves it."""
    path = tmp_path / "sources" / f"c{index}.bin"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(payload(index))
    return ref_for(index), path


def add(cache: NodeFileCache, tmp_path: Path, index: int) -> ResultFile:
    ref, path = source(tmp_path, index)
    cache.add(ref.sha256, path)
    return ref


def cached(cache: NodeFileCache) -> set[str]:
    return {e.sha256 for e in cache.entries()}


class Downloads:
    """A downloader from a stand-in store (content by index) that counts what it fetched."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, ref: ResultFile, dest: Path) -> None:
        self.names.append(ref.name)
        dest.write_bytes(payload(int(ref.name[1:].removesuffix(".bin"))))


def test_the_least_recently_used_file_is_evicted_first(tmp_path: Path) -> None:
    # Contents 0, 4 and 8 are 1 KiB each; the cap holds three of them.
    cache = node_cache(tmp_path, 3 * KIB)
    a, b, c = (add(cache, tmp_path, i) for i in (0, 4, 8))
    assert cache.materialize(a.sha256, tmp_path / "use-a")  # a is now the most recent

    d = add(cache, tmp_path, 12)
    assert cached(cache) == {a.sha256, c.sha256, d.sha256}  # b went, not a
    e = add(cache, tmp_path, 16)
    assert cached(cache) == {a.sha256, d.sha256, e.sha256}
    assert [x.sha256 for x in cache.entries()] == [a.sha256, d.sha256, e.sha256]
    assert not cache.materialize(b.sha256, tmp_path / "use-b")
    assert not (tmp_path / "use-b").exists()


def test_a_full_cache_is_freed_down_to_its_low_water_mark_and_keeps_an_exact_count(
    tmp_path: Path,
) -> None:
    cache = node_cache(tmp_path, 10 * KIB, evict_to=0.5)
    for index in (0, 4, 8, 12, 16, 20, 24, 28, 32, 36):  # 1 KiB each: exactly full
        add(cache, tmp_path, index)
    assert cache.usage() == cache.size() == 10 * KIB
    add(cache, tmp_path, 40)  # over the cap: the six least recently used go
    assert cache.size() == 5 * KIB
    assert cached(cache) == {ref_for(i).sha256 for i in (24, 28, 32, 36, 40)}
    assert cache.usage() == 5 * KIB


def test_a_wrong_count_is_corrected_by_the_next_process(tmp_path: Path) -> None:
    """A process trusts the count file only after its own first scan."""
    first = node_cache(tmp_path, 3 * KIB)
    for index in (0, 4, 8):
        add(first, tmp_path, index)
    (tmp_path / "node" / USAGE_FILE).write_text("0")  # e.g. a garbled or stale count

    second = node_cache(tmp_path, 3 * KIB)
    add(second, tmp_path, 12)
    assert second.size() == 3 * KIB
    assert second.usage() == 3 * KIB


def test_adding_content_already_cached_only_marks_it_used(tmp_path: Path) -> None:
    cache = node_cache(tmp_path, 2 * KIB)
    a = add(cache, tmp_path, 0)
    add(cache, tmp_path, 4)
    add(cache, tmp_path, 0)  # again: a becomes the most recent, nothing is evicted
    assert len(cache.entries()) == 2
    add(cache, tmp_path, 8)
    assert a.sha256 in cached(cache)


def test_the_cap_holds_after_every_add_and_a_file_larger_than_it_is_not_cached(
    tmp_path: Path,
) -> None:
    cache = node_cache(tmp_path, 7 * KIB)
    for index in range(12):  # 1 to 4 KiB each, 30 KiB in all
        add(cache, tmp_path, index)
        assert cache.size() <= 7 * KIB
    assert cache.size() > 7 * KIB - MAX_FILE  # evicted what it had to, not more

    small = node_cache(tmp_path / "small", 3 * KIB)
    kept = add(small, tmp_path, 0)  # 1 KiB
    ref, path = source(tmp_path, 3)  # 4 KiB: more than the whole cap
    small.add(ref.sha256, path)
    assert cached(small) == {kept.sha256}  # not cached, and it evicted nothing


def test_a_file_handed_out_survives_its_eviction(tmp_path: Path) -> None:
    cache = node_cache(tmp_path, 2 * KIB)
    downloads = Downloads()
    fetcher = FileFetcher(tmp_path / "task-1", downloads, node_cache=cache)
    ref = ref_for(0)
    path = fetcher.fetch(ref)
    with open(path, "rb") as reading:
        for index in (4, 8, 12):  # other tasks fill the cache: ref is evicted
            add(cache, tmp_path, index)
        assert ref.sha256 not in cached(cache)
        assert reading.read() == payload(0)
    assert path.read_bytes() == payload(0)
    assert fetcher.fetch(ref) == path  # the task's own copy: no new download
    assert downloads.names == ["c0.bin"]


def test_a_second_task_on_the_node_neither_downloads_nor_shares_the_first_ones_name(
    tmp_path: Path,
) -> None:
    cache = node_cache(tmp_path, 64 * KIB)
    downloads = Downloads()
    first = FileFetcher(tmp_path / "task-1", downloads, node_cache=cache)
    second = FileFetcher(tmp_path / "task-2", downloads, node_cache=cache)
    downloaded = first.fetch(ref_for(0))
    reused = second.fetch(ref_for(0))
    assert downloads.names == ["c0.bin"]
    assert reused != downloaded
    assert reused.is_relative_to(tmp_path / "task-2")
    assert reused.read_bytes() == payload(0)

    # A file a unit of the first task produced reaches the second without a download.
    ref, produced = source(tmp_path, 1)
    first.register(ref, produced)
    first.share(ref, produced)
    assert second.fetch(ref).read_bytes() == payload(1)
    assert downloads.names == ["c0.bin"]


def test_without_a_node_cache_every_task_downloads_its_files(tmp_path: Path) -> None:
    downloads = Downloads()
    for task in ("task-1", "task-2"):
        fetcher = FileFetcher(tmp_path / task, downloads)
        fetcher.fetch(ref_for(0))
        fetcher.fetch(ref_for(0))  # twice in one task: once from its own folder
    assert downloads.names == ["c0.bin", "c0.bin"]


def test_a_damaged_entry_is_dropped_and_downloaded_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = node_cache(tmp_path, 64 * KIB)
    downloads = Downloads()
    ref = add(cache, tmp_path, 0)
    entry = cache.path_of(ref.sha256)
    os.unlink(entry)  # an entry of other bytes under the same name (bit rot, a bad write)
    entry.write_bytes(payload(4))

    fetcher = FileFetcher(tmp_path / "task", downloads, node_cache=cache)
    with caplog.at_level(logging.INFO):
        assert fetcher.fetch(ref).read_bytes() == payload(0)
    assert downloads.names == ["c0.bin"]
    assert sha256_of(entry)[0] == ref.sha256  # the download replaced it
    assert "event=cache_discard" in caplog.text


def test_a_damaged_entry_replaced_meanwhile_is_kept(tmp_path: Path) -> None:
    cache = node_cache(tmp_path, 64 * KIB)
    ref = add(cache, tmp_path, 0)
    assert not cache.discard_if_damaged(ref.sha256)
    assert ref.sha256 in cached(cache)


def test_leftovers_of_a_dead_process_go_at_the_next_eviction(tmp_path: Path) -> None:
    cache = NodeFileCache(tmp_path / "node", 64 * KIB)  # the real clock: mtimes are real
    tmp_dir = tmp_path / "node" / ".tmp"
    tmp_dir.mkdir(parents=True)
    stale, fresh = tmp_dir / "stale", tmp_dir / "fresh"
    stale.write_bytes(b"x" * 10)
    fresh.write_bytes(b"y" * 10)
    old = time.time_ns() - STALE_TMP_NS - 10**9
    os.utime(stale, ns=(old, old))

    add(cache, tmp_path, 0)
    assert not stale.exists()
    assert fresh.exists()  # may be an add in progress


def test_evictions_are_logged_one_key_value_line_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = node_cache(tmp_path, 2 * KIB)
    first, second = add(cache, tmp_path, 0), add(cache, tmp_path, 4)
    with caplog.at_level(logging.INFO, logger="alchemiscale_like.execution.cache"):
        add(cache, tmp_path, 1)  # 2 KiB: both older 1 KiB entries go
    lines = [r.getMessage() for r in caplog.records if "event=cache_evict" in r.getMessage()]
    evicted = [re.fullmatch(r"event=cache_evict sha256=(\w+) bytes=(\d+) .*", m) for m in lines]
    assert [(m.group(1), int(m.group(2))) for m in evicted if m] == [
        (first.sha256, KIB),
        (second.sha256, KIB),
    ]
    assert all("max_bytes=2048" in m for m in lines)


def test_an_eviction_holds_the_node_lock_so_processes_evict_one_at_a_time(
    tmp_path: Path,
) -> None:
    """Two evictions at once would both free the same excess (the cache would shrink
    far below its cap), and two adds at once would lose one's count. Both hold an
    flock on the count file; this clock probes it from another open file, as another
    process would."""
    lock_path = tmp_path / "node" / USAGE_FILE
    ticks = counter_clock()
    seen: list[str] = []

    def probing_clock() -> int:
        if lock_path.exists():
            with open(lock_path, "ab") as other:
                try:
                    fcntl.flock(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    seen.append("held")
                else:
                    fcntl.flock(other.fileno(), fcntl.LOCK_UN)
                    seen.append("free")
        return next(ticks)

    cache = NodeFileCache(tmp_path / "node", 2 * KIB, evict_to=1.0, clock=probing_clock)
    for index in (0, 4, 8, 12):
        add(cache, tmp_path, index)
    assert "held" in seen  # read by the eviction, while it scans and removes
    assert "free" in seen  # read by a use outside any eviction: the probe can tell


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="max_bytes"):
        NodeFileCache(tmp_path, 0)
    with pytest.raises(ValidationError, match="sha256"):
        node_cache(tmp_path, KIB).path_of("../../etc/passwd")


def test_files_produced_by_worker_processes_enter_the_node_cache(tmp_path: Path) -> None:
    """Workers cannot reach the node cache: the parent shares each file it records."""
    protocol = FileProtocol(settings=FileSettings(n_producers=2, n_files=2, file_size=3000))
    transformation = make_transformation(protocol)
    cache = NodeFileCache(tmp_path / "node", 64 * KIB)
    store = LocalRunStore(tmp_path / "run")
    result = run_recorded(
        transformation,
        store,
        store.root,
        options=ExecutionOptions(model="processes", max_workers=2),
        file_cache=cache,
    )
    assert result is not None
    assert result.ok()
    produced = {ref.sha256 for r in result.protocol_unit_results for ref in r.files}
    assert len(produced) == 4
    assert cached(cache) == produced


def test_processes_filling_one_cache_at_once_stay_within_the_cap_and_keep_files_in_use(
    tmp_path: Path,
) -> None:
    max_bytes, n_processes = 12 * KIB, 4
    root = tmp_path / "node"
    jobs = [
        json.dumps(
            {
                "root": str(root),
                "tasks": str(tmp_path / f"process-{p}"),
                "max_bytes": max_bytes,
                "seed": p,
                "fetches": 40,
            }
        )
        for p in range(n_processes)
    ]
    with multiprocessing.get_context("spawn").Pool(n_processes) as pool:
        answers = [json.loads(a) for a in pool.map_async(fill, jobs).get(timeout=180)]

    assert all(a["intact"] for a in answers), "every file handed out survived the evictions"
    fetched = {i for a in answers for i in a["fetched"]}
    downloaded = {i for a in answers for i in a["downloads"]}
    assert downloaded == fetched
    assert sum(payload(i).__len__() for i in downloaded) > 3 * max_bytes  # evictions happened
    cache = NodeFileCache(root, max_bytes)
    entries = cache.entries()
    held = sum(e.size for e in entries)
    assert cache.low_water - MAX_FILE < held <= max_bytes  # full, and never over-freed
    assert cache.usage() == held  # no add's count was lost to another's
    assert all(sha256_of(root / e.sha256)[0] == e.sha256 for e in entries)
    assert list((root / ".tmp").iterdir()) == []
    assert len(entries) < N_CONTENTS
