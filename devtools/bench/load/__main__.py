"""Command line of the load benchmark: ``python -m devtools.bench.load``.

Options, the run under a time limit and signal handlers (every process started is
stopped on the way out), the JSON report on stdout, the exit status (see the package
docstring).
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

import psutil

from devtools.bench import load as load_package
from devtools.bench.api.deployment import add_deployment_options, deploy
from devtools.bench.api.measurement import Measurement
from devtools.bench.api.report import build_report, log
from devtools.bench.common import fill_size_defaults
from devtools.bench.load.run import run_load

PROG = "python -m devtools.bench.load"

#: Option defaults: the issue's sizes, and the small ones of ``--quick``.
FULL: dict[str, Any] = {
    "services": 16,
    "tasks": 2000,
    "transformations": 4,
    "task_seconds": 0.01,
    "tasks_per_claim": 1,
    "warmup_tasks": 200,
    "baseline_tasks": None,  # = --tasks
    "lone_claims": 300,
    "heap": "2g",
}
QUICK: dict[str, Any] = FULL | {
    "services": 4,
    "tasks": 32,
    "transformations": 2,
    "warmup_tasks": 3,
    "baseline_tasks": 16,
    "lone_claims": 16,
    "heap": "1g",
}


class BenchAborted(Exception):
    """The run ran past ``--time-limit`` or was told to stop by a signal."""


def _abort(signum: int, frame: FrameType | None) -> None:
    if signum == signal.SIGALRM:
        raise BenchAborted("the benchmark ran past --time-limit")
    raise BenchAborted(f"stopped by signal {signal.Signals(signum).name}")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options; unset sizes take the issue's (or ``--quick``'s) defaults."""
    doc = (load_package.__doc__ or "").split("\n\n")[0]
    parser = argparse.ArgumentParser(prog=PROG, description=doc)
    parser.add_argument("--quick", action="store_true", help="4 services, 32 tasks (tests)")
    parser.add_argument("--services", type=int, help="compute service subprocesses (16)")
    parser.add_argument("--tasks", type=int, help="one-unit Tasks the fleet runs (2000)")
    parser.add_argument("--transformations", type=int, help="Transformations they spread over (4)")
    parser.add_argument("--task-seconds", type=float, help="sleep of each Task's unit (0.01)")
    parser.add_argument("--tasks-per-claim", type=int, help="the services' tasks_per_claim (1)")
    parser.add_argument("--warmup-tasks", type=int, help="Tasks one in-process service runs first")
    parser.add_argument("--baseline-tasks", type=int, help="Tasks of the API floor (= --tasks)")
    parser.add_argument("--lone-claims", type=int, help="claims of each lone-claim baseline (300)")
    add_deployment_options(parser)
    parser.set_defaults(time_limit=None)
    args = parser.parse_args(argv)
    fill_size_defaults(args, FULL, QUICK)
    if args.baseline_tasks is None:
        args.baseline_tasks = args.tasks
    if args.time_limit is None:
        args.time_limit = 300 if args.quick else 1200
    counts = (
        args.services,
        args.tasks,
        args.transformations,
        args.tasks_per_claim,
        args.warmup_tasks,
        args.baseline_tasks,
        args.lone_claims,
        args.api_workers,
        args.time_limit,
    )
    if min(counts) < 1 or args.task_seconds < 0:
        parser.error("counts and --time-limit must be >= 1, --task-seconds >= 0")
    if args.services > 64:
        parser.error("--services: at most 64 (each is a Python process)")
    return args


def leftover_processes() -> list[str]:
    """Kill and name any process this benchmark started that is still alive (none should be)."""
    left = psutil.Process().children(recursive=True)
    for process in left:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            continue
    return [f"{p.pid}" for p in left]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its JSON report; the exit status."""
    args = parse_args(argv)
    for signum in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _abort)
    signal.alarm(args.time_limit)
    started = time.monotonic()
    deadline = started + args.time_limit
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="bench-load-", dir=args.work_dir))
    results: dict[str, Measurement] = {}
    servers: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    aborted: str | None = None
    try:
        with deploy(
            work, args.heap, servers_from_env=args.servers_from_env, api_workers=args.api_workers
        ) as deployment:
            servers = deployment.servers()
            results, extra = run_load(deployment, args, deadline)
    except BenchAborted as exc:
        aborted = str(exc)
        log(f"load: aborted: {aborted}")
    except RuntimeError as exc:
        aborted = f"{type(exc).__name__}: {exc}"
        log(f"load: failed: {aborted}")
    finally:
        signal.alarm(0)
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # the clean-up is not interrupted
        left = leftover_processes()
        shutil.rmtree(work, ignore_errors=True)
    sizes = {name: getattr(args, name) for name in FULL} | {
        "quick": args.quick,
        "api_workers": args.api_workers,
        "time_limit": args.time_limit,
    }
    report = build_report(results, sizes, servers, started, load_before)
    report["benchmark"] = "load"
    report["aborted"] = aborted
    report["leftover_processes"] = left
    report |= extra
    print(json.dumps(report, indent=2))
    failed = aborted is not None or bool(left) or bool(report["targets_missed"])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
