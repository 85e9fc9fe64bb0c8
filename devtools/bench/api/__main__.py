"""Command line of the API benchmark: ``python -m devtools.bench.api``.

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

from devtools.bench import api
from devtools.bench.api.claims import bench_claims
from devtools.bench.api.deployment import add_deployment_options, deploy
from devtools.bench.api.files import bench_files
from devtools.bench.api.measurement import Measurement
from devtools.bench.api.networks import bench_submission
from devtools.bench.api.report import build_report, log
from devtools.bench.api.results import bench_unit_results, held_tasks
from devtools.bench.common import fill_size_defaults

PROG = "python -m devtools.bench.api"

#: Option defaults: the issue's sizes, and the tiny ones of ``--quick``.
FULL: dict[str, Any] = {
    "transformations": 2000,
    "submit_repeats": 3,
    "tasks": 20_000,
    "claim_seconds": 10.0,
    "claim_max": 3000,
    "unit_results": 500,
    "file_mib": 256,
    "file_rounds": 3,
    "heap": "2g",
}
QUICK: dict[str, Any] = {
    "transformations": 20,
    "submit_repeats": 1,
    "tasks": 200,
    "claim_seconds": 1.0,
    "claim_max": 12,
    "unit_results": 20,
    "file_mib": 4,
    "file_rounds": 1,
    "heap": "1g",
}


class BenchTimeout(Exception):
    """The whole benchmark ran past ``--time-limit``."""


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise BenchTimeout("the benchmark ran past --time-limit")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options; unset sizes take the issue's (or ``--quick``'s) defaults."""
    parser = argparse.ArgumentParser(prog=PROG, description=(api.__doc__ or "").split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (tests)")
    parser.add_argument("--transformations", type=int, help="network size (2000)")
    parser.add_argument("--submit-repeats", type=int, help="timed submissions after a cold one (3)")
    parser.add_argument("--tasks", type=int, help="tasks on the claims TaskHub (20000)")
    parser.add_argument("--claim-seconds", type=float, help="time bound of each claim run (10)")
    parser.add_argument("--claim-max", type=int, help="tasks bound of each claim run (3000)")
    parser.add_argument("--unit-results", type=int, help="unit-result uploads timed (500)")
    parser.add_argument("--file-mib", type=int, help="size of the transferred file (256)")
    parser.add_argument("--file-rounds", type=int, help="rounds of file transfers (3)")
    add_deployment_options(parser)
    args = parser.parse_args(argv)
    fill_size_defaults(args, FULL, QUICK)
    sizes = (args.transformations, args.unit_results, args.file_mib, args.api_workers)
    if args.tasks < 200 or min(sizes) < 1:
        parser.error("--tasks must be >= 200; other sizes >= 1")
    # The hub must hold a warm-up and two rounds of three runs (store, API, service layer).
    args.claim_max = min(args.claim_max, (args.tasks - 50) // 6)
    return args


def sizes(args: argparse.Namespace) -> dict[str, Any]:
    """The sizes this run used, for the report."""
    return {name: getattr(args, name) for name in FULL} | {"quick": args.quick}


def run(args: argparse.Namespace, work: Path) -> tuple[dict[str, Measurement], dict[str, Any]]:
    """Deploy in ``work`` and take every measurement."""
    results: dict[str, Measurement] = {}
    with deploy(
        work, args.heap, servers_from_env=args.servers_from_env, api_workers=args.api_workers
    ) as deployment:
        log("bench: network submission")
        results |= bench_submission(deployment, args.transformations, args.submit_repeats)
        log("bench: claims")
        results |= bench_claims(deployment, args.tasks, args.claim_seconds, args.claim_max)
        client = deployment.compute_client("results")
        try:
            unit_api, unit_base, file_api, file_direct = held_tasks(deployment, client, 4)
            log("bench: unit-result uploads")
            results |= bench_unit_results(
                deployment, client, unit_api, unit_base, args.unit_results
            )
            log("bench: file transfers")
            results |= bench_files(
                deployment, client, file_api, file_direct, args.file_mib, args.file_rounds
            )
        finally:
            client.close()
        servers = deployment.servers()
    return results, servers


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its JSON report."""
    args = parse_args(argv)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(args.time_limit)
    started = time.monotonic()
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="bench-api-", dir=args.work_dir))
    try:
        results, servers = run(args, work)
    finally:
        signal.alarm(0)
        shutil.rmtree(work, ignore_errors=True)
    report = build_report(results, sizes(args), servers, started, load_before)
    print(json.dumps(report, indent=2))
    return 1 if report["targets_missed"] else 0


if __name__ == "__main__":
    sys.exit(main())
