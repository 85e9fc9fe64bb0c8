"""Command line of the state store benchmark: ``python -m devtools.bench.statestore``.

Parses the options, runs the measurements in order against each backend under a time
limit, prints the JSON report and sets the exit status (see the package docstring).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from types import FrameType
from typing import Any

from devtools.bench import statestore
from devtools.bench.common import log
from devtools.bench.statestore.backends import BACKENDS, open_backend
from devtools.bench.statestore.backends.base import Backend
from devtools.bench.statestore.bench import Bench, Sizes
from devtools.bench.statestore.claims import bench_claims
from devtools.bench.statestore.cold_claims import (
    bench_cold_claims_after_fill,
    bench_cold_claims_after_reset,
)
from devtools.bench.statestore.network_status import bench_status
from devtools.bench.statestore.networks import bench_network
from devtools.bench.statestore.report import backend_report, build_report
from devtools.bench.statestore.tasks import bench_tasks

PROG = "python -m devtools.bench.statestore"

#: The sizes of ``--quick`` (tests); the default ones are ``Sizes()``, the targets' sizes.
QUICK = Sizes(
    systems=20,
    tasks=30,
    hub_tasks=400,
    status_tasks=500,
    reset_tasks=500,
    claim_seconds=1.0,
    claim_max=24,
)


class BenchTimeout(Exception):
    """The whole benchmark ran past ``--time-limit``."""


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise BenchTimeout("the benchmark ran past --time-limit")


def _backends(value: str) -> list[str]:
    chosen = {name.strip() for name in value.split(",") if name.strip()}
    unknown = sorted(chosen - set(BACKENDS))
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown backend(s) {', '.join(unknown) or '(none given)'}; "
            f"choose from {','.join(BACKENDS)}"
        )
    return [name for name in BACKENDS if name in chosen]


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, Sizes]:
    """Command-line options, and the sizes they ask for (unset ones: the targets' sizes,
    or ``--quick``'s)."""
    parser = argparse.ArgumentParser(
        prog=PROG, description=(statestore.__doc__ or "").split("\n\n")[0]
    )
    parser.add_argument(
        "--backends",
        type=_backends,
        default=list(BACKENDS),
        help=f"comma-separated subset of {','.join(BACKENDS)}, run in that order (default: all)",
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
        "--sqlite-dir", help="where the SQLite database's temporary folder goes (default: TMPDIR)"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes (tests)")
    defaults = Sizes()
    for field in dataclasses.fields(Sizes):
        parser.add_argument(
            f"--{field.name.replace('_', '-')}",
            type=float if field.name == "claim_seconds" else int,
            help=f"{field.metadata['help']} ({getattr(defaults, field.name)})",
        )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="add query-plan summaries (Neo4j: PROFILE db hits; SQLite: EXPLAIN QUERY PLAN)",
    )
    parser.add_argument(
        "--time-limit", type=int, default=1800, help="abort after this many seconds"
    )
    args = parser.parse_args(argv)
    chosen = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(Sizes)
        if getattr(args, field.name) is not None
    }
    sizes = dataclasses.replace(QUICK if args.quick else defaults, **chosen)
    problems = sizes.problems()
    if problems:
        parser.error("; ".join(problems))
    return args, sizes


def run_backend(backend: Backend, sizes: Sizes) -> Bench:
    """Every measurement against one backend, in order."""
    bench = Bench(backend, sizes)
    backend.prepare()
    # First, while the database is fresh.
    bench_cold_claims_after_fill(bench)
    bench.log("networks")
    bench_network(bench)
    bench.log("tasks")
    bench_tasks(bench)
    bench.log("claims")
    bench_claims(bench)
    bench.log("status counts")
    bench_status(bench)
    bench_cold_claims_after_reset(bench)
    return bench


def run(args: argparse.Namespace, sizes: Sizes) -> dict[str, dict[str, Any]] | None:
    """Each backend's part of the report; None if a database may not be used."""
    parts: dict[str, dict[str, Any]] = {}
    for name in args.backends:
        started = time.monotonic()
        with open_backend(name, args) as backend:
            refusal = backend.refusal()
            if refusal is not None:
                log(refusal)
                backend.close()
                return None
            try:
                bench = run_backend(backend, sizes)
                database = backend.info()
            finally:
                backend.cleanup()
        parts[name] = backend_report(bench, database, time.monotonic() - started)
    return parts


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its JSON report."""
    args, sizes = parse_args(argv)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(args.time_limit)
    started = time.monotonic()
    load_before = os.getloadavg()
    try:
        parts = run(args, sizes)
    finally:
        signal.alarm(0)
    if parts is None:
        return 2
    report = build_report(parts, sizes, started, load_before)
    print(json.dumps(report, indent=2))
    return 1 if report["targets_missed"] else 0


if __name__ == "__main__":
    sys.exit(main())
