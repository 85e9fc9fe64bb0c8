"""Every benchmark in one run, one performance report: ``python -m devtools.bench.run_all``.

    python -m devtools.bench.run_all [--only statestore,api] [--quick] [--out DIR]

Runs each benchmark (``python -m devtools.bench.NAME``) as a subprocess, one after
the other (each starts its own servers), under a time limit per benchmark, and
writes into ``--out`` (default: the current folder):

* ``bench-results.json``: the machine (cpu count, load averages before and after,
  python, git commit), each benchmark's command, exit status, seconds and raw JSON
  report, and the normalized rows of :mod:`devtools.bench.report_table`;
* ``bench-results.md``: the rows as one Markdown table.

A benchmark whose module is absent gets a visible "not available" row. Exit
status: 0 if every target is met, 1 if one is missed, 2 if a benchmark failed to
run (its exit status, a time-out or no JSON report; named on stderr and in the
table). ``--from-json FILE...`` re-renders earlier runs (merged, in order) without running.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from devtools.bench.common import log
from devtools.bench.report_table import Row, caption, markdown_table, normalize
from devtools.servers.common import REPO_ROOT

#: name -> (time limit in seconds, the options of ``--quick``), in run order. The limits
#: leave room past each benchmark's own ``--time-limit`` default, so it can stop itself
#: first. The object store benchmark has no ``--quick``: its size options make it small.
BENCHMARKS: dict[str, tuple[int, list[str]]] = {
    "statestore": (1900, ["--quick"]),
    "objectstore": (1800, ["--size-mib", "16", "--rounds", "1", "--small-count", "500"]),
    "api": (1900, ["--quick"]),
    "compute": (1900, ["--quick"]),
    "load": (1300, ["--quick"]),
    "dashboard": (1900, ["--quick"]),
}
#: How long a benchmark may take to stop its servers after SIGINT before it is killed.
STOP_GRACE = 60
STDERR_TAIL = 40


def available(name: str) -> bool:
    """Whether ``python -m devtools.bench.NAME`` can run: a module, or a package with a
    ``__main__``."""
    spec = importlib.util.find_spec(f"devtools.bench.{name}")
    if spec is None or spec.submodule_search_locations is None:
        return spec is not None
    return importlib.util.find_spec(f"devtools.bench.{name}.__main__") is not None


def _copy_stderr(name: str, stream: IO[str], tail: list[str]) -> None:
    """Relay a benchmark's progress lines to our stderr, keeping the last ones."""
    for line in stream:
        log(f"[{name}] {line.rstrip()}")
        tail.append(line.rstrip())
        del tail[:-STDERR_TAIL]


def run_benchmark(name: str, args: list[str], limit: int) -> dict[str, Any]:
    """Run one benchmark; its command, exit status, seconds, report (or why none)."""
    command = [sys.executable, "-m", f"devtools.bench.{name}", *args]
    log(f"run_all: {shlex.join(['python', *command[1:]])} (time limit {limit} s)")
    started = time.monotonic()
    # Its own session, so a time-out can stop it and every server it started.
    process = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None  # both are pipes
    assert process.stderr is not None
    stdout_pipe = process.stdout
    tail: list[str] = []
    out: list[str] = []
    readers = [
        threading.Thread(target=_copy_stderr, args=(name, process.stderr, tail), daemon=True),
        threading.Thread(target=lambda: out.append(stdout_pipe.read()), daemon=True),
    ]
    for reader in readers:
        reader.start()
    timed_out = False
    try:
        process.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(process.pid, signal.SIGINT)  # lets it stop its servers
        try:
            process.wait(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    for reader in readers:
        reader.join(timeout=10)
    result = {
        "command": ["python", *command[1:]],
        "returncode": process.returncode,
        "seconds": round(time.monotonic() - started, 1),
    } | parse_outcome(
        process.returncode, "".join(out), f"timed out after {limit} s" if timed_out else None
    )
    if result["error"]:
        result["stderr_tail"] = tail
    return result


def parse_outcome(returncode: int, stdout: str, timed_out: str | None) -> dict[str, Any]:
    """A finished benchmark's ``report`` (its JSON, or None) and ``error`` (None, or why
    it did not run to the end: ``timed_out``, a report saying ``aborted``, an exit status
    other than 0 and 1, no JSON on stdout)."""
    report: Any = None
    error: str | None = None
    try:
        report = json.loads(stdout) if stdout.strip() else None
    except json.JSONDecodeError:
        error = "stdout is not one JSON report"
    aborted = report.get("aborted") if isinstance(report, dict) else None
    if timed_out:
        error = timed_out
    elif aborted:
        error = f"aborted: {aborted}"
    elif returncode not in (0, 1):
        error = f"exit status {returncode}"
    elif not isinstance(report, dict) and error is None:
        error = "no JSON report on stdout"
    return {"report": report, "error": error}


def rows_of(name: str, result: dict[str, Any]) -> list[Row]:
    """The table rows of one benchmark's result (one status row if it has no report)."""
    if result.get("error") == "not available":
        return [Row(name, f"python -m devtools.bench.{name} absent", status="not available")]
    if result.get("error"):
        return [Row(name, f"did not run: {result['error']}", status="**failed**")]
    rows = normalize(name, result["report"])
    if result["returncode"] == 1 and not any(row.met is False for row in rows):
        # The benchmark says a target was missed that no row shows: say so, not "yes".
        rows.append(Row(name, "exit status 1: a target missed (see its report)", met=False))
    return rows


def git_commit() -> str | None:
    """The checked-out commit, with ``+dirty`` if the working tree has changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return commit + ("+dirty" if dirty else "")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def exit_status(results: dict[str, dict[str, Any]], rows: Sequence[Row]) -> int:
    """2 if a benchmark failed to run, else 1 if a target was missed, else 0."""
    if any(r["error"] and r["error"] != "not available" for r in results.values()):
        return 2
    return 1 if any(row.met is False for row in rows) else 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m devtools.bench.run_all",
        description=(__doc__ or "").split("\n\n")[0],
        epilog=f"benchmarks, in order: {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--only", help="comma-separated benchmarks to run (default: all)")
    parser.add_argument("--quick", action="store_true", help="each benchmark's tiny sizes")
    parser.add_argument("--out", type=Path, default=Path("."), help="folder of the results")
    parser.add_argument(
        "--time-limit", type=int, help="seconds per benchmark (default: each one's own)"
    )
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="NAME=ARGS",
        help="more options for one benchmark, e.g. 'statestore=--backends sqlite'",
    )
    parser.add_argument(
        "--from-json",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="re-render earlier bench-results.json files, merged in order; run nothing",
    )
    args = parser.parse_args(argv)
    names = [n.strip() for n in (args.only or ",".join(BENCHMARKS)).split(",") if n.strip()]
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown or not names:
        parser.error(f"unknown benchmark(s) {unknown}; choose from {','.join(BENCHMARKS)}")
    args.names = [name for name in BENCHMARKS if name in names]
    extra: dict[str, list[str]] = {}
    for item in args.extra:
        name, sep, options = item.partition("=")
        if not sep or name not in BENCHMARKS:
            parser.error(f"--extra {item!r}: expected NAME=ARGS, NAME one of the benchmarks")
        extra.setdefault(name, []).extend(shlex.split(options))
    args.extra = extra
    return args


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    """Run the chosen benchmarks in order; the whole ``bench-results.json`` content."""
    machine: dict[str, Any] = {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "git_commit": git_commit(),
        "started_utc": _now(),
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }
    results: dict[str, dict[str, Any]] = {}
    for name in args.names:
        limit, quick = BENCHMARKS[name]
        options = (quick if args.quick else []) + args.extra.get(name, [])
        if not available(name):
            log(f"run_all: {name}: python -m devtools.bench.{name} is absent: not available")
            results[name] = {"command": None, "error": "not available", "report": None}
            continue
        results[name] = run_benchmark(name, options, args.time_limit or limit)
        # What has run so far (no ``finished_utc`` yet), in case a later benchmark hangs
        # this process: ``--from-json`` renders it.
        partial = {"machine": machine, "quick": args.quick, "benchmarks": results}
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "bench-results.json").write_text(json.dumps(partial, indent=2) + "\n")
    machine["finished_utc"] = _now()
    machine["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return {"machine": machine, "quick": args.quick, "benchmarks": results}


def merged(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Earlier runs as one: their benchmarks in order (a later run of the same one
    wins), and under ``runs`` each run's machine with the benchmarks whose figures
    it gave (a run all of whose benchmarks a later one ran again is left out)."""
    if len(runs) == 1:
        return runs[0]
    benchmarks: dict[str, Any] = {}
    given_by: dict[str, int] = {}
    for index, run in enumerate(runs):
        benchmarks |= run["benchmarks"]
        given_by |= dict.fromkeys(run["benchmarks"], index)
    kept = [
        (run, [name for name in run["benchmarks"] if given_by[name] == index])
        for index, run in enumerate(runs)
    ]
    return {
        "machine": runs[0]["machine"],
        "runs": [
            {"machine": run["machine"], "quick": run.get("quick"), "benchmarks": names}
            for run, names in kept
            if names
        ],
        "quick": any(r.get("quick") for r in runs),
        "benchmarks": benchmarks,
    }


def write_results(out: Path, content: dict[str, Any]) -> int:
    """Normalize, write both files into ``out``; the exit status."""
    results = content["benchmarks"]
    rows = [row for name, result in results.items() for row in rows_of(name, result)]
    content["rows"] = [row.to_json() for row in rows]
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench-results.json").write_text(json.dumps(content, indent=2) + "\n")
    (out / "bench-results.md").write_text(caption(content) + "\n" + markdown_table(rows))
    for name, result in results.items():
        if result["error"]:
            log(f"run_all: {name}: {result['error']}")
    status = exit_status(results, rows)
    log(f"run_all: wrote {out / 'bench-results.json'} and {out / 'bench-results.md'}")
    return status


def main(argv: Sequence[str] | None = None) -> int:
    """Run (or re-render) and write the report; the exit status."""
    args = parse_args(argv)
    content = (
        merged([json.loads(p.read_text()) for p in args.from_json])
        if args.from_json
        else run_all(args)
    )
    return write_results(args.out, content)


if __name__ == "__main__":
    sys.exit(main())
