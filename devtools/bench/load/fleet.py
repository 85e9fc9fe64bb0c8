"""The fleet: ``--services`` compute service subprocesses polling one compute API.

They are started with ``once: false`` (a service that finds nothing waits and asks
again), so all of them are up and polling before the Tasks are actioned: the figures
then describe the full fleet, not its start-up. The run ends when the state store
holds every Task complete (or a service exits, or the deadline passes); then every
service gets SIGTERM (it deregisters and exits 0) and, 30 s later, SIGKILL.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from devtools.bench.api.deployment import Deployment
from devtools.bench.api.report import log
from devtools.bench.compute.fleet import ServiceProcess, start_service

#: Polling while waiting for Tasks: short, so the first claims follow the action at once.
IDLE_SLEEP, IDLE_SLEEP_MAX = 0.2, 0.5
_STOP_TIMEOUT = 30.0

COMPLETE_COUNT = """
UNWIND $tasks AS sk
MATCH (t:Task {scoped_key: sk}) WHERE t.status = 'complete'
RETURN count(t) AS n
"""


@dataclass
class FleetRun:
    """What happened to the fleet: when the Tasks were actioned, how it ended, exit codes."""

    names: list[str]
    log_paths: dict[str, Path]
    stderr_paths: dict[str, Path]
    services: list[ServiceProcess] = field(default_factory=list)
    start_seconds: float = 0.0
    actioned_at: float = 0.0
    ended: str = "not started"
    exit_codes: dict[str, int | None] = field(default_factory=dict)
    max_load_1min: float = 0.0

    def exited(self) -> dict[str, int]:
        """The services that have already exited, with their exit status."""
        codes = {s.name: s.proc.poll() for s in self.services}
        return {name: code for name, code in codes.items() if code is not None}

    def stderr_tails(self) -> dict[str, str]:
        """The last 500 characters of each service's stderr, where it wrote any."""
        tails = {n: p.read_text(errors="replace")[-500:] for n, p in self.stderr_paths.items()}
        return {name: tail for name, tail in tails.items() if tail.strip()}


def _started(path: Path) -> bool:
    """Whether a service's JSON log already shows ``event=service_start``."""
    if not path.exists():
        return False
    return any('"service_start"' in line for line in path.read_text().splitlines())


def stop_all(services: list[ServiceProcess]) -> dict[str, int | None]:
    """SIGTERM every service at once, wait up to 30 s for all, SIGKILL the rest.

    Returns each exit status (None: it had to be killed)."""
    for service in services:
        if service.proc.poll() is None:
            service.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + _STOP_TIMEOUT
    codes: dict[str, int | None] = {}
    for service in services:
        try:
            codes[service.name] = service.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            service.proc.kill()
            service.proc.wait(timeout=10)
            codes[service.name] = None
    return codes


@contextmanager
def fleet(deployment: Deployment, n: int, scope: str, tasks_per_claim: int) -> Iterator[FleetRun]:
    """Start ``n`` services claiming from ``scope``; stop them all when the block ends."""
    settings = {
        "once": False,
        "idle_sleep": IDLE_SLEEP,
        "idle_sleep_max": IDLE_SLEEP_MAX,
        "tasks_per_claim": tasks_per_claim,
    }
    names = [f"load{i:02d}" for i in range(n)]
    run = FleetRun(
        names,
        {name: deployment.work / f"{name}.log" for name in names},
        {name: deployment.work / f"{name}.stderr" for name in names},
    )
    try:
        for name in names:
            run.services.append(start_service(deployment, name, scope, **settings))
        yield run
    finally:
        run.exit_codes = stop_all(run.services)


def wait_started(run: FleetRun, deadline: float) -> None:
    """Wait until every service has logged ``service_start``.

    Raises:
        RuntimeError: a service exited first, or ``deadline`` (monotonic) passed.
    """
    started = time.monotonic()
    waiting = set(run.names)
    while waiting:
        waiting = {name for name in waiting if not _started(run.log_paths[name])}
        exited = run.exited()
        if exited:
            raise RuntimeError(f"services exited before the run: {exited} {run.stderr_tails()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(waiting)} services did not start in time")
        time.sleep(0.2)
    run.start_seconds = time.monotonic() - started


def wait_complete(
    deployment: Deployment,
    run: FleetRun,
    tasks: list[str],
    deadline: float,
) -> None:
    """Poll the state store until every one of ``tasks`` is complete; ``run.ended`` says how
    the wait ended (``complete``, ``service_exited``, ``deadline``)."""
    last_log = time.monotonic()
    while True:
        done = int(deployment.bare_read(COMPLETE_COUNT, tasks=tasks)[0]["n"])
        run.max_load_1min = max(run.max_load_1min, os.getloadavg()[0])
        if done == len(tasks):
            run.ended = "complete"
            return
        if run.exited():
            run.ended = "service_exited"
            return
        if time.monotonic() > deadline:
            run.ended = "deadline"
            return
        if time.monotonic() - last_log > 5:
            log(f"load: {done}/{len(tasks)} complete")
            last_log = time.monotonic()
        time.sleep(0.5)


def claim_latencies(path: Path) -> list[float]:
    """Claim call durations (s) of one service, from its JSON log.

    Each span runs from a ``task_done`` (or ``claim_lost`` / ``task_abandoned``) to the
    service's next ``claim``: the loop does nothing in between but call
    ``claim_tasks``, so with Tasks waiting each span is one claim call through the
    client (HTTP, token handling, retries) plus microseconds. The first claim (after
    empty polling) and empty claims at the end are not in the log, so not counted.
    """
    spans: list[float] = []
    ready: float | None = None
    lines = path.read_text().splitlines() if path.exists() else []
    for event in (json.loads(line) for line in lines if line):
        kind = event.get("event")
        if kind in ("task_done", "claim_lost", "task_abandoned"):
            ready = _timestamp(event["ts"])
        elif kind == "claim" and ready is not None:
            spans.append(_timestamp(event["ts"]) - ready)
            ready = None
    return spans


def _timestamp(ts: str) -> float:
    return dt.datetime.fromisoformat(ts).timestamp()
