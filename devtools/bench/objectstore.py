"""Object store benchmark against a real S3-compatible server; prints JSON.

    python -m devtools.bench.objectstore [--size-mib 1024] [--rounds 5] [--small-count 10000]

Measures, in one run against one server:

* a large file (1 GiB) uploaded and downloaded through :class:`S3ObjectStore`
  versus raw boto3 ``upload_file``/``download_file`` of the same file, both with
  boto3's default client settings and with the store's own client settings
  (targets: store throughput >= 70 % of the faster raw variant, peak RSS growth
  <= 64 MiB);
* 10,000 small unit results (a few KB of JSON each) written and read back
  through the store versus a raw boto3 ``put_object``/``get_object`` loop.

Rounds are interleaved (raw, store, raw, store..., rotating who goes first)
and medians reported, because the disk under S3Proxy is the bottleneck and its
speed drifts; run it on a quiet machine (the report records the load average).
Each round also gives the store's throughput as a fraction of the faster raw
variant in that same round (``store_vs_best_raw_per_round``: every round, its
minimum and its median), which shows how the store degrades on a busy machine
compared with raw boto3 under the very same load.
Exit status 0 if the large-file targets are met, 1 if not. By default an
S3Proxy is started (``devtools.servers.s3proxy``) in a temporary folder; set
``ALCHEMISCALE_LIKE_OBJECTSTORE_ENDPOINT_URL`` (and the other
``ALCHEMISCALE_LIKE_OBJECTSTORE_*`` variables) to use a running server instead.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from alchemiscale_like.models.canonical import canonical_json
from alchemiscale_like.models.layout import STORE_LAYOUT
from alchemiscale_like.models.scope import ScopedKey
from alchemiscale_like.storage.objectstore import ObjectStoreSettings
from alchemiscale_like.storage.objectstore.s3 import S3ObjectStore
from devtools.bench.common import PeakRSS, log
from devtools.servers import s3proxy
from devtools.servers.common import JavaServer, free_port

MIB = 1 << 20
#: "store": put_file computes the sha256 itself (the target applies to this one);
#: "store_known_sha256": the caller passes it, as the compute service does.
STORE_VARIANTS = ("store", "store_known_sha256")
TASK = ScopedKey.from_str(f"Task-{'b' * 32}-bench-objectstore-run")
UNIT = f"ProtocolUnit-{'e' * 32}"


def timed(action: Callable[[], object]) -> tuple[float, int]:
    """Run ``action`` after flushing dirty pages; return (seconds, peak RSS growth)."""
    os.sync()  # start every measurement with no writeback pending from the last one
    with PeakRSS().watching() as rss:
        started = time.perf_counter()
        action()
        elapsed = time.perf_counter() - started
    return elapsed, rss.growth


def make_file(path: Path, size: int) -> str:
    """``size`` bytes of incompressible data, written in 1 MiB chunks; returns their sha256."""
    block = os.urandom(MIB)
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        for i in range(size // MIB):
            chunk = i.to_bytes(8, "little") + block[8:]
            digest.update(chunk)
            out.write(chunk)
    return digest.hexdigest()


def raw_client(settings: ObjectStoreSettings, *, like_store: bool) -> Any:
    """A plain boto3 client; ``like_store`` copies the store's checksum settings."""
    extra = (
        {
            "request_checksum_calculation": "when_required",
            "response_checksum_validation": "when_required",
        }
        if like_store
        else {}
    )
    secret = settings.secret_access_key
    return boto3.session.Session().client(
        "s3",
        endpoint_url=settings.endpoint_url,
        region_name=settings.region,
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=secret.get_secret_value() if secret else None,
        config=Config(s3={"addressing_style": settings.addressing_style}, **extra),
    )


def warm_up(store: S3ObjectStore, work: Path) -> None:
    """Let the server's JIT compile its hot paths before anything is measured."""
    source = work / "warm.bin"
    make_file(source, 64 * MIB)
    for attempt in range(1, 4):
        info = store.put_file(TASK, UNIT, attempt, "warm.bin", source, compress=False)
        store.download_file(info.location, work / "warm.out")
    for attempt in range(1, 1001):
        store.put_unit_result(TASK, UNIT, attempt, {"i": attempt})
        store.get_unit_result(TASK, UNIT, attempt)
    store.delete_task(TASK)
    source.unlink()
    (work / "warm.out").unlink()


def bench_large(
    store: S3ObjectStore, settings: ObjectStoreSettings, work: Path, size: int, rounds: int
) -> dict[str, Any]:
    """Large-file upload/download: store versus raw boto3, interleaved rounds."""
    source, dest = work / "large.bin", work / "large.out"
    sha256 = make_file(source, size)
    clients = {
        "raw_boto3_default": raw_client(settings, like_store=False),
        "raw_boto3_store_config": raw_client(settings, like_store=True),
    }
    seconds: dict[str, dict[str, list[float]]] = {
        name: {"upload": [], "download": []} for name in [*clients, *STORE_VARIANTS]
    }
    rss = {"upload": 0, "download": 0}
    raw_key = f"{store.prefix}/raw/large.bin"

    def run_raw(name: str, round_: int) -> None:
        client = clients[name]
        up, _ = timed(lambda: client.upload_file(str(source), store.bucket, raw_key))
        down, _ = timed(lambda: client.download_file(store.bucket, raw_key, str(dest)))
        seconds[name]["upload"].append(up)
        seconds[name]["download"].append(down)
        client.delete_object(Bucket=store.bucket, Key=raw_key)
        dest.unlink()

    def run_store(name: str, round_: int) -> None:
        attempt = round_ + 1  # attempts count from 1
        relpath = STORE_LAYOUT.unit_file(UNIT, attempt, "large.bin")
        known = sha256 if name == "store_known_sha256" else None
        up, up_rss = timed(
            lambda: store.put_file(
                TASK, UNIT, attempt, "large.bin", source, compress=False, sha256=known
            )
        )
        down, down_rss = timed(lambda: store.download_task_file(TASK, relpath, dest))
        seconds[name]["upload"].append(up)
        seconds[name]["download"].append(down)
        rss["upload"] = max(rss["upload"], up_rss)
        rss["download"] = max(rss["download"], down_rss)
        store.delete_task(TASK)
        dest.unlink()

    runners = [(name, run_raw) for name in clients] + [(n, run_store) for n in STORE_VARIANTS]
    for round_ in range(rounds):
        # Rotate who goes first: the server's speed drifts within a round too.
        shift = round_ % len(runners)
        for name, runner in runners[shift:] + runners[:shift]:
            runner(name, round_)
        log(
            f"large round {round_ + 1}/{rounds}: "
            + ", ".join(
                f"{n} up {size / MIB / s['upload'][-1]:.0f} "
                f"down {size / MIB / s['download'][-1]:.0f} MiB/s"
                for n, s in seconds.items()
            )
        )
    source.unlink()
    mib_s = {
        name: {op: round(size / MIB / statistics.median(times), 1) for op, times in ops.items()}
        for name, ops in seconds.items()
    }
    ratios = {
        variant: {
            op: round(mib_s[variant][op] / max(mib_s[n][op] for n in clients), 3)
            for op in ("upload", "download")
        }
        for variant in STORE_VARIANTS
    }
    # Per round, against the faster raw variant of the same round: robust to drift,
    # and under load it compares the store with raw boto3 on the same busy machine.
    round_ratios: dict[str, dict[str, dict[str, Any]]] = {}
    for variant in STORE_VARIANTS:
        round_ratios[variant] = {}
        for op in ("upload", "download"):
            per_round = [
                round(min(seconds[n][op][r] for n in clients) / seconds[variant][op][r], 3)
                for r in range(rounds)
            ]
            round_ratios[variant][op] = {
                "per_round": per_round,
                "min": min(per_round),
                "median": round(statistics.median(per_round), 3),
            }
    return {
        "size_mib": size // MIB,
        "rounds": rounds,
        "median_mib_per_s": mib_s,
        "store_vs_best_raw": ratios,
        "store_vs_best_raw_per_round": round_ratios,
        "store_peak_rss_growth_mib": {op: round(v / MIB, 1) for op, v in rss.items()},
        "targets_met": {
            "throughput_ge_70pct": all(r >= 0.7 for r in ratios["store"].values()),
            "rss_growth_le_64mib": all(v <= 64 * MIB for v in rss.values()),
        },
    }


def unit_result(i: int, rng: random.Random) -> dict[str, Any]:
    """A unit result of a few KB of JSON, like a real ProtocolUnitResult."""
    return {
        "key": f"ProtocolUnitResult-{i:032x}",
        "ok": True,
        "outputs": {"dG": rng.gauss(0, 1), "samples": [rng.random() for _ in range(150)]},
        "start_time": "2025-01-01T00:00:00Z",
    }


def bench_small(store: S3ObjectStore, settings: ObjectStoreSettings, count: int) -> dict[str, Any]:
    """Many small unit results: store versus a raw boto3 put/get loop."""
    rng = random.Random(42)
    results = [unit_result(i, rng) for i in range(count)]
    client = raw_client(settings, like_store=False)
    bodies = [canonical_json(r) for r in results]

    def store_put(indexes: range) -> None:
        for i in indexes:
            store.put_unit_result(TASK, UNIT, i + 1, results[i])

    def store_get(indexes: range) -> None:
        for i in indexes:
            assert store.get_unit_result(TASK, UNIT, i + 1) == results[i]

    def raw_put(indexes: range) -> None:
        for i in indexes:
            client.put_object(Bucket=store.bucket, Key=f"{store.prefix}/raw/{i}", Body=bodies[i])

    def raw_get(indexes: range) -> None:
        for i in indexes:
            got = client.get_object(Bucket=store.bucket, Key=f"{store.prefix}/raw/{i}")
            assert got["Body"].read() == bodies[i]

    actions = {
        "store_write": store_put,
        "raw_boto3_write": raw_put,
        "store_read": store_get,
        "raw_boto3_read": raw_get,
    }
    elapsed = dict.fromkeys(actions, 0.0)
    # Interleaved blocks, so drift in the server's speed hits both sides alike.
    block = 500
    for start in range(0, count, block):
        indexes = range(start, min(start + block, count))
        for name, action in actions.items():
            seconds, _ = timed(partial(action, indexes))
            elapsed[name] += seconds
    figures = {name: round(count / seconds, 1) for name, seconds in elapsed.items()}
    log(f"small: {figures}")
    store.delete_task(TASK)
    delete_prefix(client, store.bucket, f"{store.prefix}/raw/")
    return {
        "count": count,
        "mean_json_bytes": round(statistics.mean(len(b) for b in bodies)),
        "objects_per_s": figures,
        "store_vs_raw": {
            "write": round(figures["store_write"] / figures["raw_boto3_write"], 3),
            "read": round(figures["store_read"] / figures["raw_boto3_read"], 3),
        },
    }


def delete_prefix(client: Any, bucket: str, prefix: str) -> None:
    """Delete every object under ``prefix`` with raw boto3."""
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys = [{"Key": entry["Key"]} for entry in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})


@contextmanager
def s3_settings(work: Path) -> Iterator[tuple[ObjectStoreSettings, JavaServer | None]]:
    """Settings from the environment, or from an S3Proxy started for this run."""
    prefix = f"bench-{os.getpid()}-{int(time.time())}"
    if os.environ.get("ALCHEMISCALE_LIKE_OBJECTSTORE_ENDPOINT_URL"):
        yield ObjectStoreSettings(backend="s3", prefix=prefix), None
        return
    s3proxy.fetch()
    server = s3proxy.start(work / "s3proxy", free_port(), exit_with_parent=True)
    try:
        env: dict[str, Any] = {
            k.removeprefix("ALCHEMISCALE_LIKE_OBJECTSTORE_").lower(): v
            for k, v in s3proxy.env(server).items()
        }
        yield ObjectStoreSettings(**env, prefix=prefix), server
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--small-count", type=int, default=10_000)
    parser.add_argument("--work-dir", type=Path, help="scratch folder (default: a temp dir)")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bench-objectstore-", dir=args.work_dir))
    try:
        with s3_settings(work) as (settings, server):
            store = S3ObjectStore.from_settings(settings)
            store.check()
            log("warming up the server")
            warm_up(store, work)
            load_before = os.getloadavg()
            large = bench_large(store, settings, work, args.size_mib * MIB, args.rounds)
            report: dict[str, Any] = {
                "benchmark": "objectstore",
                "server": "s3proxy (started by the benchmark)" if server else settings.endpoint_url,
                "settings": {
                    "part_size_mib": settings.part_size / MIB,
                    "max_concurrency": settings.max_concurrency,
                },
                "large_file": large,
                "small_unit_results": bench_small(store, settings, args.small_count),
                # Two cores: another busy process halves every figure; check this first.
                "load_average_1min": {"before": load_before[0], "after": os.getloadavg()[0]},
            }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(report, indent=2))
    return 0 if all(large["targets_met"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
