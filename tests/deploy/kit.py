"""Helpers for the HPC kit tests: run its scripts, own every process they start, read logs.

A job is started in a session of its own (``start_new_session=True``); the kit puts each
service in its own process group inside that session, so :func:`kill_session` (every
process whose session id is the job's) is what removes all of them, on any way out.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[2]
KIT = ROOT / "compute"
RUN_SERVICES = KIT / "run-services.sh"
SHELL_FILES = ("run-services.sh", "slurm.sbatch", "pbs.pbs", "lsf.bsub", "htcondor-job.sh")

#: Variables of the outer environment a job must not inherit (it sets its own).
_FOREIGN = ("ALCHEMISCALE_LIKE_", "SLURM_", "PBS_", "LSB_", "LS_", "_CONDOR_")


def clean_env(**values: str) -> dict[str, str]:
    """This process's environment without scheduler or kit variables, plus ``values``.

    The interpreter running the tests comes first on ``PATH``, so ``alchemiscale-like``
    is the console script installed with it.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN)}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(values)
    return env


def bash_function(
    name: str, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Source run-services.sh (which then runs nothing) and call one of its functions."""
    return subprocess.run(
        ["bash", "-c", 'source "$1" && shift && "$@"', "bash", str(RUN_SERVICES), name, *args],
        env=clean_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def session_processes(sid: int) -> list[int]:
    """Pids of every live process in session ``sid``."""
    found = []
    for pid in psutil.pids():
        with suppress(ProcessLookupError, PermissionError):
            if os.getsid(pid) == sid:
                found.append(pid)
    return found


def kill_session(sid: int, timeout: float = 10.0) -> None:
    """SIGKILL every process of session ``sid`` until none is left (bounded)."""
    deadline = time.monotonic() + timeout
    while (pids := session_processes(sid)) and time.monotonic() < deadline:
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)


@dataclass
class Job:
    """A job script running under bash, its output file and log folder."""

    process: subprocess.Popen[bytes]
    output: Path
    log_dir: Path

    def text(self) -> str:
        """Everything the job script and its services wrote to the job's output."""
        return self.output.read_text(errors="replace") if self.output.exists() else ""

    def tail(self, lines: int = 60) -> str:
        """The end of the job's output and of each service log, for failure messages."""
        parts = ["--- job output ---", *self.text().splitlines()[-lines:]]
        for log in sorted(self.log_dir.glob("*.log")):
            parts += [f"--- {log.name} ---", *log.read_text(errors="replace").splitlines()[-20:]]
        return "\n".join(parts)

    def wait(self, timeout: float) -> int | None:
        """The exit status, or None if the job is still running after ``timeout`` seconds."""
        try:
            return self.process.wait(timeout=max(timeout, 0.0))
        except subprocess.TimeoutExpired:
            return None

    def script_events(self, event: str) -> list[dict[str, str]]:
        """The job script's own ``event=...`` lines, as key/value dicts."""
        found = []
        for line in self.text().splitlines():
            if "logger=run-services" in line:
                fields = dict(item.split("=", 1) for item in shlex.split(line) if "=" in item)
                if fields.get("event") == event:
                    found.append(fields)
        return found

    def service_events(self) -> dict[str, list[dict[str, Any]]]:
        """Each service's JSON log (``log_format: json``) by file name, one dict a line."""
        logs = {}
        for log in sorted(self.log_dir.glob("*.log")):
            logs[log.stem] = [
                json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")
            ]
        return logs


@contextmanager
def running_job(script: Path, *, env: Mapping[str, str], cwd: Path) -> Iterator[Job]:
    """Run ``bash script`` in its own session; on exit, kill whatever of it is left."""
    output = cwd / "job.out"
    log_dir = Path(env["ALCHEMISCALE_LIKE_LOG_DIR"])
    with output.open("wb") as sink:
        process = subprocess.Popen(
            ["bash", str(script)],
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield Job(process, output, log_dir)
    finally:
        kill_session(process.pid)
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)


def wait_until(condition: Any, timeout: float, what: str, job: Job) -> None:
    """Poll ``condition()`` until true; fail naming ``what`` if ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if job.process.poll() is not None:
            raise AssertionError(
                f"the job exited ({job.process.returncode}) before {what}\n{job.tail()}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout}s\n{job.tail()}")
        time.sleep(0.2)


# -- HTCondor submit files (condor_submit is not installed here) ----------------------------

_MACRO = re.compile(r"\$\((\w+)\)")


def parse_submit(text: str) -> tuple[dict[str, str], list[str]]:
    """``key = value`` commands (keys lower-cased, own macros expanded) and queue statements.

    Follows the submit-description rules the kit uses: ``#`` comments, a trailing
    backslash continues a line, ``$(name)`` is replaced by a command defined in the file
    (HTCondor's own, such as ``$(ClusterId)``, are kept).
    """
    commands: dict[str, str] = {}
    queues: list[str] = []
    for raw in text.replace("\\\n", " ").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if re.fullmatch(r"queue(\s.*)?", line, flags=re.IGNORECASE):
            queues.append(line)
            continue
        key, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"\+?[A-Za-z_][\w.]*", key.strip()):
            raise ValueError(f"not a submit command: {raw!r}")
        commands[key.strip().lower()] = value.strip()

    def expand(value: str) -> str:
        return _MACRO.sub(lambda m: commands.get(m.group(1).lower(), m.group(0)), value)

    return {k: expand(v) for k, v in commands.items()}, queues
