"""Command line of the dashboard benchmark: ``python -m devtools.bench.dashboard``.

Parses the options, deploys, fills, times the pages under a time limit, prints the
JSON report and sets the exit status (see the package docstring).
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

from devtools.bench import dashboard
from devtools.bench.api.deployment import add_deployment_options, deploy
from devtools.bench.api.measurement import Measurement
from devtools.bench.common import fill_size_defaults, log
from devtools.bench.dashboard.fill import Sizes, fill
from devtools.bench.dashboard.pages import measure
from devtools.bench.dashboard.report import build_report

PROG = "python -m devtools.bench.dashboard"

#: Option defaults: the issue's sizes, and the tiny ones of ``--quick``.
FULL: dict[str, Any] = {
    "transformations": 2000,
    "tasks": 100_000,
    "actioned": 3000,
    "claimed": 2000,
    "finished": 1000,
    "services": 2,
    "repeats": 9,
    "heap": "2g",
}
QUICK: dict[str, Any] = {
    "transformations": 40,
    "tasks": 2000,
    "actioned": 300,
    "claimed": 100,
    "finished": 50,
    "services": 2,
    "repeats": 3,
    "heap": "1g",
}


class BenchTimeout(Exception):
    """The whole benchmark ran past ``--time-limit``."""


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise BenchTimeout("the benchmark ran past --time-limit")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options; unset sizes take the issue's (or ``--quick``'s) defaults."""
    parser = argparse.ArgumentParser(
        prog=PROG, description=(dashboard.__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes (tests)")
    parser.add_argument("--transformations", type=int, help="network size, even (2000)")
    parser.add_argument("--tasks", type=int, help="tasks over the network (100000)")
    parser.add_argument("--actioned", type=int, help="tasks actioned on its TaskHub (3000)")
    parser.add_argument("--claimed", type=int, help="actioned tasks claimed (2000)")
    parser.add_argument("--finished", type=int, help="claimed tasks finished (1000)")
    parser.add_argument("--services", type=int, help="compute services claiming (2)")
    parser.add_argument("--repeats", type=int, help="timed rounds after 3 warm-up ones (9)")
    add_deployment_options(parser)
    args = parser.parse_args(argv)
    fill_size_defaults(args, FULL, QUICK)
    if args.transformations < 6 or args.transformations % 2:
        parser.error("--transformations must be even and >= 6 (a ring of systems)")
    if not args.tasks >= args.actioned >= args.claimed > args.finished >= 0:
        parser.error("need --tasks >= --actioned >= --claimed > --finished >= 0")
    if min(args.services, args.repeats, args.api_workers) < 1:
        parser.error("--services, --repeats and --api-workers must be >= 1")
    return args


def sizes(args: argparse.Namespace) -> dict[str, Any]:
    """The sizes this run used, for the report."""
    return {name: getattr(args, name) for name in FULL} | {"quick": args.quick}


def run(args: argparse.Namespace, work: Path, started: float) -> dict[str, Any]:
    """Deploy in ``work``, fill, measure; the report."""
    load_before = os.getloadavg()
    results: dict[str, Measurement]
    with deploy(
        work, args.heap, servers_from_env=args.servers_from_env, api_workers=args.api_workers
    ) as deployment:
        log("bench: fill")
        filled = fill(
            deployment.stores,
            Sizes(
                transformations=args.transformations,
                tasks=args.tasks,
                actioned=args.actioned,
                claimed=args.claimed,
                finished=args.finished,
                services=args.services,
            ),
        )
        log("bench: pages")
        results, floor = measure(deployment, filled, args.repeats)
        servers = deployment.servers()
    return build_report(
        results, sizes(args), filled.to_json(), floor, servers, started, load_before
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its JSON report."""
    args = parse_args(argv)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(args.time_limit)
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="bench-dashboard-", dir=args.work_dir))
    try:
        report = run(args, work, started)
    finally:
        signal.alarm(0)
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(report, indent=2))
    return 1 if report["targets_missed"] else 0


if __name__ == "__main__":
    sys.exit(main())
