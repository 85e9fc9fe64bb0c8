"""Command line of the compute benchmark: ``python -m devtools.bench.compute``.

Parses the options, deploys, runs the measurements in order under a time limit,
prints the JSON report and sets the exit status (see the package docstring).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType
from typing import Any

from devtools.bench import compute
from devtools.bench.api.deployment import Deployment, add_deployment_options, deploy
from devtools.bench.api.measurement import Measurement
from devtools.bench.api.report import build_report, log
from devtools.bench.common import fill_size_defaults
from devtools.bench.compute.checkpointing import bench_checkpointing
from devtools.bench.compute.fleet import run_inprocess
from devtools.bench.compute.tasks import bench_network
from devtools.bench.compute.throughput import bench_throughput

PROG = "python -m devtools.bench.compute"

#: Option defaults: the issue's sizes, and the tiny ones of ``--quick``.
FULL: dict[str, Any] = {
    "units": 50,
    "unit_seconds": 0.2,
    "repeats": 3,
    "tasks": 1000,
    "services": 4,
    "task_seconds": 0.01,
    "probe_tasks": 100,
    "tasks_per_claim": 1,
    "warmup_tasks": 200,
    "heap": "2g",
}
QUICK: dict[str, Any] = {
    "units": 4,
    "unit_seconds": 0.05,
    "repeats": 1,
    "tasks": 12,
    "services": 2,
    "task_seconds": 0.01,
    "probe_tasks": 3,
    "tasks_per_claim": 1,
    "warmup_tasks": 2,
    "heap": "1g",
}


class BenchTimeout(Exception):
    """The whole benchmark ran past ``--time-limit``."""


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise BenchTimeout("the benchmark ran past --time-limit")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options; unset sizes take the issue's (or ``--quick``'s) defaults."""
    doc = (compute.__doc__ or "").split("\n\n")[0]
    parser = argparse.ArgumentParser(prog=PROG, description=doc)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (tests)")
    parser.add_argument("--units", type=int, help="units of the checkpointing chain (50)")
    parser.add_argument("--unit-seconds", type=float, help="sleep of each chain unit (0.2)")
    parser.add_argument("--repeats", type=int, help="rounds of service vs local (3)")
    parser.add_argument("--tasks", type=int, help="one-unit Tasks for throughput (1000)")
    parser.add_argument("--services", type=int, help="service subprocesses (4)")
    parser.add_argument("--task-seconds", type=float, help="sleep of each Task's unit (0.01)")
    parser.add_argument("--probe-tasks", type=int, help="Tasks of the timed in-process service")
    parser.add_argument(
        "--tasks-per-claim", type=int, help="the services' tasks_per_claim setting (1)"
    )
    parser.add_argument("--warmup-tasks", type=int, help="one-unit Tasks run first (200)")
    add_deployment_options(parser)
    args = parser.parse_args(argv)
    fill_size_defaults(args, FULL, QUICK)
    counts = (
        args.units,
        args.repeats,
        args.tasks,
        args.services,
        args.probe_tasks,
        args.tasks_per_claim,
        args.warmup_tasks,
        args.api_workers,
    )
    if min(counts) < 1 or min(args.unit_seconds, args.task_seconds) < 0:
        parser.error("counts must be >= 1 and seconds >= 0")
    return args


def warm_up(deployment: Deployment, n_tasks: int) -> dict[str, Any]:
    """Run ``n_tasks`` one-unit Tasks through one in-process service, untimed by the report.

    A fresh Neo4j plans each query on its first call and its JVM compiles the hot
    paths over the first few hundred requests (the first 50 Tasks run at about a
    third of the later speed): every measurement should see a warm server.
    """
    net = bench_network(deployment, "warmup", 1, 0.0)
    net.add_tasks(deployment, n_tasks)
    seconds, _ = run_inprocess(deployment, net, "warmup", n_tasks)
    return {"tasks": n_tasks, "tasks_per_s": round(n_tasks / seconds, 1)}


def run(
    args: argparse.Namespace, work: Path
) -> tuple[dict[str, Measurement], dict[str, Any], dict[str, Any]]:
    """Deploy in ``work``, warm the servers up and take every measurement."""
    results: dict[str, Measurement] = {}
    with deploy(
        work, args.heap, servers_from_env=args.servers_from_env, api_workers=args.api_workers
    ) as deployment:
        log(f"bench: warm-up, {args.warmup_tasks} tasks")
        warm = warm_up(deployment, args.warmup_tasks)
        log("bench: checkpointing overhead")
        results |= bench_checkpointing(deployment, args.units, args.unit_seconds, args.repeats)
        log("bench: throughput")
        results |= bench_throughput(
            deployment,
            args.tasks,
            args.services,
            args.task_seconds,
            args.probe_tasks,
            timeout=max(60.0, args.time_limit / 2),
            tasks_per_claim=args.tasks_per_claim,
        )
        servers = deployment.servers()
    return results, servers, warm


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its JSON report."""
    args = parse_args(argv)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(args.time_limit)
    started = time.monotonic()
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="bench-compute-", dir=args.work_dir))
    try:
        results, servers, warm = run(args, work)
    finally:
        signal.alarm(0)
        shutil.rmtree(work, ignore_errors=True)
    sizes = {name: getattr(args, name) for name in FULL} | {"quick": args.quick}
    report = build_report(results, sizes, servers, started, load_before)
    report["benchmark"] = "compute"
    report["warmup"] = warm
    print(json.dumps(report, indent=2))
    return 1 if report["targets_missed"] else 0


if __name__ == "__main__":
    sys.exit(main())
