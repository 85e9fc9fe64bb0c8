"""Command line of the state store benchmark: ``python -m devtools.bench.statestore``.

Parses the options, runs the measurements in order against one server under a time
limit, prints the JSON report and sets the exit status (see the package docstring).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from types import FrameType
from typing import Any

from devtools.bench import statestore
from devtools.bench.statestore.claims import bench_claims
from devtools.bench.statestore.cold_claims import (
    bench_cold_claims_after_fill,
    bench_cold_claims_after_reset,
)
from devtools.bench.statestore.network_status import bench_status
from devtools.bench.statestore.networks import bench_network
from devtools.bench.statestore.report import build_report, log
from devtools.bench.statestore.server import Bench, neo4j_server
from devtools.bench.statestore.tasks import bench_tasks

PROG = "python -m devtools.bench.statestore"


class BenchTimeout(Exception):
    """The whole benchmark ran past ``--time-limit``."""


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise BenchTimeout("the benchmark ran past --time-limit")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog=PROG, description=(statestore.__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument("--url", help="Bolt URL of a Neo4j 5 server (default: start one here)")
    parser.add_argument("--user", default="neo4j")
    parser.add_argument("--password", default="password")
    parser.add_argument(
        "--wipe",
        action="store_true",
        help="allow a non-empty database at --url (it is reset at the end)",
    )
    parser.add_argument("--heap", default="2g", help="heap of the Neo4j started here")
    parser.add_argument(
        "--claim-seconds", type=float, default=10.0, help="time bound of each claim run"
    )
    parser.add_argument(
        "--claim-max", type=int, default=3000, help="tasks-claimed bound of each claim run"
    )
    parser.add_argument(
        "--reset-tasks",
        type=int,
        default=100_000,
        help="tasks the database holds before the reset of the cold_claims_after_reset runs",
    )
    parser.add_argument(
        "--profile", action="store_true", help="add PROFILE summaries of the store's queries"
    )
    parser.add_argument(
        "--time-limit", type=int, default=1200, help="abort after this many seconds"
    )
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> tuple[Bench, dict[str, Any]] | None:
    """Run every measurement against the server; None if the database may not be used."""
    with neo4j_server(args.url, args.heap) as (url, how):
        bench = Bench(url, args.user, args.password, args.profile)
        if args.url is not None and not args.wipe and bench.node_count():
            log(f"{url} holds data; pass --wipe to allow resetting it")
            bench.store.close()
            bench.driver.close()
            return None
        try:
            bench.prepare()
            # First, while the database is fresh.
            bench_cold_claims_after_fill(bench, args.claim_seconds, args.claim_max)
            log("bench: networks")
            bench_network(bench)
            log("bench: tasks")
            bench_tasks(bench)
            log("bench: claims")
            bench_claims(bench, args.claim_seconds, args.claim_max)
            log("bench: status counts")
            bench_status(bench)
            bench_cold_claims_after_reset(
                bench, args.claim_seconds, args.claim_max, args.reset_tasks
            )
            server = bench.server_info() | {"server": how}
        finally:
            bench.cleanup(reset=args.url is not None)
    return bench, server


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its JSON report."""
    args = parse_args(argv)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(args.time_limit)
    started = time.monotonic()
    load_before = os.getloadavg()
    try:
        outcome = run(args)
    finally:
        signal.alarm(0)
    if outcome is None:
        return 2
    bench, server = outcome
    report = build_report(bench, server, started, load_before)
    print(json.dumps(report, indent=2))
    return 1 if report["targets_missed"] else 0


if __name__ == "__main__":
    sys.exit(main())
