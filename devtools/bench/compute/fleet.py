"""The bench's compute services: real subprocesses, or one in this process, timed.

A subprocess runs ``python -m alchemiscale_like compute synchronous`` with its own
``service.yaml`` (``once: true``, the bench protocol's module in ``modules``),
scratch folder and JSON log file in the run's work folder; the repository root is
its working directory and on its ``PYTHONPATH`` so that the bench-only protocol
module imports there. :func:`run_inprocess` runs the same
``SynchronousComputeService`` in this process, its API calls counted and timed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from alchemiscale_like.compute.service import SynchronousComputeService
from alchemiscale_like.compute.settings import ComputeServiceSettings
from devtools.bench.api.deployment import COMPUTE, Deployment, _die_with_parent
from devtools.bench.api.measurement import timed
from devtools.bench.compute.protocol import MODULE, BenchSleepProtocol
from devtools.bench.compute.tasks import BenchNetwork
from devtools.bench.compute.timed_api import TimedAPI
from devtools.servers.common import REPO_ROOT


def service_settings(deployment: Deployment, name: str, scope: str) -> dict[str, Any]:
    """Settings of one bench service, ``once``, claiming from ``scope`` only."""
    return {
        "api_url": deployment.compute_api.url,
        "identifier": COMPUTE,
        "key": deployment.keys[COMPUTE],
        "service_suffix": name,
        "scopes": [scope],
        "protocols": [BenchSleepProtocol.__qualname__],
        "modules": [MODULE],
        "once": True,
        "idle_sleep": 0.2,
        "scratch_dir": str(deployment.work / f"scratch-{name}"),
        "log_level": "INFO",
        "log_format": "json",
    }


def run_inprocess(
    deployment: Deployment, net: BenchNetwork, name: str, n_tasks: int, **settings: Any
) -> tuple[float, TimedAPI]:
    """Seconds one ``SynchronousComputeService`` (``once``) in this process takes from
    registering to deregistering, and its API calls; ``n_tasks`` must be waiting for it.
    ``settings`` override the bench's service settings.

    Raises:
        RuntimeError: it did not exit 0 after exactly ``n_tasks`` Tasks.
    """
    values = service_settings(deployment, name, str(net.scope)) | settings
    client = deployment.compute_client(name)
    api = TimedAPI(client)
    service = SynchronousComputeService(ComputeServiceSettings(**values), api.as_compute_api())
    try:
        seconds, code = timed(service.run)
    finally:
        client.close()
    if code != 0 or service.tasks_done != n_tasks:
        raise RuntimeError(f"service {name} exited {code} after {service.tasks_done} tasks")
    return seconds, api


@dataclass
class ServiceProcess:
    """One running compute service."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    stderr_path: Path

    def stop(self) -> None:
        """SIGTERM (it releases its tasks and exits); SIGKILL after 30 s."""
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def start_service(deployment: Deployment, name: str, scope: str, **settings: Any) -> ServiceProcess:
    """Write the service's config (``settings`` override the bench's) and start it."""
    work = deployment.work
    log_path = work / f"{name}.log"
    config = service_settings(deployment, name, scope) | {"log_file": str(log_path)} | settings
    config_path = work / f"{name}.yaml"
    config_path.write_text(yaml.safe_dump(config))
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": f"{REPO_ROOT}{os.pathsep}{path}" if path else str(REPO_ROOT)}
    stderr_path = work / f"{name}.stderr"
    command = ["compute", "synchronous", "-c", str(config_path)]
    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "alchemiscale_like", *command],
            cwd=REPO_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            preexec_fn=_die_with_parent,  # safe: no thread of this process forks
        )
    return ServiceProcess(name, proc, log_path, stderr_path)


def wait_all(services: list[ServiceProcess], timeout: float) -> dict[str, int | None]:
    """Wait for every service to exit by itself; stop those still running at ``timeout``.

    Returns each service's exit status (None: it had to be stopped).
    """
    deadline = time.monotonic() + timeout
    codes: dict[str, int | None] = {}
    for service in services:
        try:
            codes[service.name] = service.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            service.stop()
            codes[service.name] = None
    return codes


@dataclass
class FleetLog:
    """What the services' logs say about a run: who claimed, ran and finished what, when."""

    claims: Counter[str] = field(default_factory=Counter)
    done: Counter[str] = field(default_factory=Counter)
    unit_starts: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    tasks_by_service: dict[str, int] = field(default_factory=dict)
    first_claim: dt.datetime | None = None
    last_done: dt.datetime | None = None
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, logs: dict[str, Path]) -> FleetLog:
        """Parse the JSON log of each service (name -> log file; a missing file is empty)."""
        out = cls()
        for name, path in logs.items():
            finished = 0
            lines = path.read_text().splitlines() if path.exists() else []
            for event in (json.loads(line) for line in lines if line):
                kind = event.get("event")
                ts = dt.datetime.fromisoformat(event["ts"])
                if kind == "claim":
                    out.claims[event["task"]] += 1
                    out.first_claim = min(ts, out.first_claim or ts)
                elif kind == "task_done":
                    out.done[event["task"]] += 1
                    out.statuses[event["status"]] += 1
                    out.last_done = max(ts, out.last_done or ts)
                    finished += 1
                elif kind == "unit_start":
                    out.unit_starts[event["unit"]] += 1
                if event.get("level") in ("WARNING", "ERROR", "CRITICAL"):
                    out.warnings.append(f"{name}: {kind or event.get('message')}")
            out.tasks_by_service[name] = finished
        return out

    @property
    def seconds(self) -> float:
        """From the first claim to the last task done (0 if there was none)."""
        if self.first_claim is None or self.last_done is None:
            return 0.0
        return (self.last_done - self.first_claim).total_seconds()
