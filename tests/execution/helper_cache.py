"""Files and a worker for the node-file-cache tests (importable by spawned processes)."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from alchemiscale_like.execution.cache import NodeFileCache
from alchemiscale_like.execution.fetcher import FileFetcher, sha256_of
from alchemiscale_like.models import ResultFile

#: Distinct contents the processes draw from, 1 to 4 KiB each.
N_CONTENTS = 24
MAX_FILE = 4 * 1024


def payload(index: int) -> bytes:
    """Deterministic bytes of content ``index``."""
    size = 1024 * (1 + index % 4)
    block = hashlib.sha256(f"content-{index}".encode()).digest()
    return (block * (size // len(block) + 1))[:size]


def ref_for(index: int) -> ResultFile:
    """The ResultFile of content ``index``."""
    data = payload(index)
    return ResultFile(
        name=f"c{index}.bin",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        location=f"units/U/1/files/c{index}.bin",
    )


def index_of(ref: ResultFile) -> int:
    """Which content ``ref`` names."""
    return int(ref.name.removeprefix("c").removesuffix(".bin"))


def fill(args_json: str) -> str:
    """One process of a node: ``fetches`` random contents, each for a new task folder.

    Every fetch goes through the shared cache at ``root`` (each task folder is new).
    Answers JSON: how many downloads it made, which contents it fetched, and whether
    every file it was handed is still intact at the end (after the evictions made
    by every process meanwhile).
    """
    args = json.loads(args_json)
    cache = NodeFileCache(Path(args["root"]), args["max_bytes"])
    downloads: list[int] = []

    def download(ref: ResultFile, dest: Path) -> None:
        downloads.append(index_of(ref))
        dest.write_bytes(payload(index_of(ref)))

    rng = random.Random(args["seed"])
    handed: list[tuple[int, Path]] = []
    for task in range(args["fetches"]):
        index = rng.randrange(N_CONTENTS)
        fetcher = FileFetcher(Path(args["tasks"]) / str(task), download, node_cache=cache)
        handed.append((index, fetcher.fetch(ref_for(index))))
    intact = all(sha256_of(path)[0] == ref_for(index).sha256 for index, path in handed)
    return json.dumps(
        {"downloads": downloads, "fetched": sorted({i for i, _ in handed}), "intact": intact}
    )
