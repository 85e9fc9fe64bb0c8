"""A 256 MiB result file up through the compute API and down through the user API, against
the object store's own ``put_file`` / ``download_file`` of the same file."""

from __future__ import annotations

import functools
import hashlib
import os
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from alchemiscale_like.client import ComputeClient
from devtools.bench.api.deployment import Deployment
from devtools.bench.api.measurement import MIB, Measurement, PeakRSS, load, median, timed
from devtools.bench.api.report import log
from devtools.bench.api.results import HeldTask, sampling_result

FILE_NAME = "trajectory.bin"  # a suffix the store does not compress: bytes as they are
RSS_LIMIT_MIB = 64.0
T = TypeVar("T")


def make_file(path: Path, size: int) -> str:
    """``size`` bytes of incompressible data, written in 1 MiB chunks; returns their sha256."""
    block = os.urandom(MIB)
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for i in range(-(-size // MIB)):
            chunk = (i.to_bytes(8, "little") + block[8:])[: min(MIB, size - i * MIB)]
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def _transfer(work: Callable[[], T], pids: dict[str, int]) -> tuple[float, T, dict[str, float]]:
    """Seconds of ``work()`` after flushing dirty pages, its result, and the RSS growth of
    the processes ``pids`` during it (MiB)."""
    os.sync()  # no writeback left over from the last transfer
    with PeakRSS(pids, trees=frozenset({"server"})).watching() as rss:
        seconds, result = timed(work)
    return seconds, result, rss.growth_mib()


def bench_files(
    deployment: Deployment,
    client: ComputeClient,
    api_task: HeldTask,
    direct_task: HeldTask,
    size_mib: int,
    rounds: int,
) -> dict[str, Measurement]:
    """Upload and download ``size_mib`` MiB, through the APIs and directly, ``rounds`` times
    (alternating which goes first), sampling the RSS of client and server processes."""
    work = deployment.work
    source, dest = work / "upload.bin", work / "download.bin"
    sha256 = make_file(source, size_mib * MIB)
    objectstore = deployment.stores.objectstore
    unit = api_task.dag.protocol_units[-1].key
    direct_unit = direct_task.dag.protocol_units[-1].key
    me = os.getpid()
    seconds: dict[str, list[float]] = {k: [] for k in ("api_up", "api_down", "up", "down")}
    rss: dict[str, list[dict[str, float]]] = {k: [] for k in seconds}
    user = deployment.user_client()
    rng = random.Random(256)

    def through_api(attempt: int) -> None:
        up_s, stored, up_rss = _transfer(
            functools.partial(
                client.upload_result_file, api_task.task, unit, attempt, FILE_NAME, source, sha256
            ),
            {"client": me, "server": deployment.compute_api.pid},
        )
        # Recorded with its unit result, as a compute service does, so the user API serves it.
        client.upload_unit_result(api_task.task, sampling_result(unit, attempt, rng, [stored]))
        (ref,) = [f for f in user.list_result_files(api_task.task) if f.location == stored.location]
        down_s, _, down_rss = _transfer(
            functools.partial(user.download_result_file, ref, dest),
            {"client": me, "server": deployment.user_api.pid},
        )
        dest.unlink()
        seconds["api_up"].append(up_s)
        seconds["api_down"].append(down_s)
        rss["api_up"].append(up_rss)
        rss["api_down"].append(down_rss)

    def direct(attempt: int) -> None:
        up_s, info, up_rss = _transfer(
            functools.partial(
                objectstore.put_file,
                direct_task.task,
                direct_unit,
                attempt,
                FILE_NAME,
                source,
                sha256=sha256,
            ),
            {"client": me},
        )
        down_s, _, down_rss = _transfer(
            functools.partial(objectstore.download_file, info.location, dest), {"client": me}
        )
        dest.unlink()
        seconds["up"].append(up_s)
        seconds["down"].append(down_s)
        rss["up"].append(up_rss)
        rss["down"].append(down_rss)

    try:
        for round_ in range(rounds):
            order = [through_api, direct] if round_ % 2 == 0 else [direct, through_api]
            for run in order:
                run(round_ + 1)
            log(
                f"files round {round_ + 1}/{rounds}: up api "
                f"{size_mib / seconds['api_up'][-1]:.0f} vs {size_mib / seconds['up'][-1]:.0f} "
                f"MiB/s, down api {size_mib / seconds['api_down'][-1]:.0f} vs "
                f"{size_mib / seconds['down'][-1]:.0f} MiB/s"
            )
    finally:
        user.close()
        source.unlink(missing_ok=True)
    return {
        "file_upload": _measurement(
            "upload", size_mib, seconds["api_up"], seconds["up"], rss["api_up"], rss["up"]
        ),
        "file_download": _measurement(
            "download", size_mib, seconds["api_down"], seconds["down"], rss["api_down"], rss["down"]
        ),
    }


def _measurement(
    direction: str,
    size_mib: int,
    api_s: list[float],
    direct_s: list[float],
    api_rss: list[dict[str, float]],
    direct_rss: list[dict[str, float]],
) -> Measurement:
    peak: dict[str, Any] = {name: max(r[name] for r in api_rss) for name in ("client", "server")}
    if direction == "upload":
        what = "ComputeClient.upload_result_file (known sha256) -> compute API -> store"
        call = "objectstore.put_file(task, unit, attempt, name, path, sha256=...) in-process"
    else:
        what = "UserClient.download_result_file <- user API <- store (streamed)"
        call = "objectstore.download_file(location, dest) in-process"
    return Measurement(
        size_mib / median(api_s),
        "MiB/s",
        baseline=size_mib / median(direct_s),
        baseline_call=call,
        target=0.6,
        higher_is_better=True,
        target_on="ratio",
        conditions={
            f"client_rss_growth_le_{RSS_LIMIT_MIB:g}mib": peak["client"] <= RSS_LIMIT_MIB,
            f"server_rss_growth_le_{RSS_LIMIT_MIB:g}mib": peak["server"] <= RSS_LIMIT_MIB,
        },
        runs=[size_mib / s for s in api_s],
        baseline_runs=[size_mib / s for s in direct_s],
        details={
            "what": what,
            "size_mib": size_mib,
            "rounds": len(api_s),
            "peak_rss_growth_mib": peak,
            "direct_client_peak_rss_growth_mib": max(r["client"] for r in direct_rss),
            "load": load(),
        },
    )
