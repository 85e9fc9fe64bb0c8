"""Compute services as real subprocesses: config files, start, bounded waits, JSON logs.

Every service runs ``python -m alchemiscale_like compute synchronous -c FILE`` in a
session of its own; :func:`running` kills whatever of it is left when the block ends,
however it ends, so a failing test never leaves a service behind.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
#: Bound of every wait for a service (claim, run a small task, exit): generous, as the
#: machine is shared and slow; a healthy run takes a fraction of it.
WAIT = 240.0
SERVICE_COMMAND = (sys.executable, "-m", "alchemiscale_like", "compute", "synchronous")


@dataclass
class Service:
    """One service's config, log and stderr files, and its process once started."""

    name: str
    config: Path
    log: Path
    stderr: Path
    service_id: str
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Service:
        """Start the service (``--once`` comes from the config)."""
        with self.stderr.open("wb") as sink:
            self.process = subprocess.Popen(
                [*SERVICE_COMMAND, "-c", str(self.config)],
                cwd=self.config.parent,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=sink,
                start_new_session=True,
            )
        return self

    def wait(self, timeout: float = WAIT) -> int:
        """The exit status; fails the test if the service is still running after ``timeout``."""
        assert self.process is not None, f"{self.name} was never started"
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            message = f"{self.name} still running after {timeout}s\n{self.tail()}"
            raise AssertionError(message) from exc

    def kill(self) -> None:
        """SIGKILL the service's process group, if it still runs."""
        if self.process is not None and self.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            with suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)

    def events(self, event: str | None = None) -> list[dict[str, Any]]:
        """The service's JSON log lines (``log_format: json``), optionally one event only."""
        if not self.log.exists():
            return []
        found = [json.loads(line) for line in self.log.read_text().splitlines() if line]
        return found if event is None else [e for e in found if e.get("event") == event]

    def tail(self, lines: int = 40) -> str:
        """The end of the service's stderr and log, for failure messages."""
        parts = [f"--- {self.name} stderr ---"]
        if self.stderr.exists():
            parts += self.stderr.read_text(errors="replace").splitlines()[-lines:]
        parts.append(f"--- {self.name} log ---")
        if self.log.exists():
            parts += self.log.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(parts)


def service_env(pythonpath: tuple[Path, ...] = ()) -> dict[str, str]:
    """This environment without ``ALCHEMISCALE_LIKE_*`` (they would override the YAML file),
    with the repository (for test-only protocol modules) and ``pythonpath`` on the path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALCHEMISCALE_LIKE_")}
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (*pythonpath, ROOT))
    return env


def make_service(
    folder: Path,
    name: str,
    *,
    api_url: str,
    identifier: str,
    key: str,
    env: Mapping[str, str] | None = None,
    **settings: object,
) -> Service:
    """Write ``folder/name.yaml`` (``--once``, JSON log) and return the service, not started."""
    folder.mkdir(parents=True, exist_ok=True)
    key_file = folder / f"{name}.key"
    key_file.write_text(key + "\n")
    key_file.chmod(0o600)
    log = folder / f"{name}.log"
    values: dict[str, object] = {
        "api_url": api_url,
        "identifier": identifier,
        "key_file": str(key_file),
        "service_suffix": name,
        "scratch_dir": str(folder / f"scratch-{name}"),
        "once": True,
        "idle_sleep": 0.1,
        "heartbeat_interval": 2.0,
        "log_level": "INFO",
        "log_format": "json",
        "log_file": str(log),
    }
    config = folder / f"{name}.yaml"
    config.write_text(yaml.safe_dump(values | settings))
    return Service(
        name=name,
        config=config,
        log=log,
        stderr=folder / f"{name}.stderr",
        service_id=f"{identifier}~{name}",
        env=dict(env) if env is not None else service_env(),
    )


@contextmanager
def running(*services: Service) -> Iterator[tuple[Service, ...]]:
    """Start ``services`` together; on exit, kill whatever of them still runs."""
    try:
        for service in services:
            service.start()
        yield services
    finally:
        for service in services:
            service.kill()
