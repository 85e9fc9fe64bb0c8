"""The quickstart's child processes: start, wait until ready, watch, stop, leave none behind.

Every child runs in its own session (``start_new_session``), so a Ctrl-C in the
terminal reaches only quickstart, which then stops the children in order:
compute services first (SIGTERM: they finish or checkpoint the unit in flight,
release their tasks and deregister while the APIs still answer), then the APIs.
A child still there after its grace period is SIGKILLed with its whole process
group, and every child is reaped. The running processes are recorded in
``processes.json`` so that ``quickstart --stop`` can stop those a
``--keep-running`` quickstart left behind.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from alchemiscale_like.atomicfiles import write_atomic
from alchemiscale_like.cli.quickstart.errors import QuickstartError

Role = Literal["api", "service"]
#: Seconds a compute service gets to stop cleanly, then an API.
SERVICE_GRACE = 15.0
API_GRACE = 10.0


def log_tail(path: Path, lines: int = 25) -> str:
    """The last ``lines`` lines of a log file (empty if there is none)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 16_384))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


@dataclass
class ManagedProcess:
    """One child process of the quickstart, its log file and what it is for."""

    name: str
    role: Role
    argv: list[str]
    log: Path
    popen: subprocess.Popen[bytes]
    url: str | None = None
    expected_exit: bool = False
    """Set when quickstart itself ends the process (a stop, the demo's SIGKILL)."""

    @property
    def pid(self) -> int:
        """The process id (also its process group and session id)."""
        return self.popen.pid

    def alive(self) -> bool:
        """True while the process runs (reaps it once it has exited)."""
        return self.popen.poll() is None

    def died_error(self) -> QuickstartError:
        """An error naming the process, its exit code and the end of its log."""
        return QuickstartError(
            f"{self.name} exited unexpectedly (code {self.popen.returncode}); "
            f"the end of {self.log}:\n{log_tail(self.log)}"
        )

    def kill_group(self) -> None:
        """SIGKILL the process and everything in its process group, then reap it."""
        with contextlib.suppress(ProcessLookupError, PermissionError):  # all gone already
            os.killpg(self.pid, signal.SIGKILL)
        self.popen.wait()


def command(*args: str) -> list[str]:
    """The argv that runs ``alchemiscale-like ARGS`` with this Python."""
    return [sys.executable, "-m", "alchemiscale_like", *args]


@dataclass
class Supervisor:
    """Starts and watches the quickstart's processes; :meth:`stop_all` ends them all.

    Args:
        processes_file: where the running processes are recorded.
        cwd: the children's working directory.
    """

    processes_file: Path
    cwd: Path
    processes: list[ManagedProcess] = field(default_factory=list)
    hurry: bool = False
    """Set by a second Ctrl-C during :meth:`stop_all`: skip the grace periods."""
    stopped: bool = False
    """Set once :meth:`stop_all` has stopped every process."""

    def start(
        self,
        name: str,
        role: Role,
        argv: Sequence[str],
        env: dict[str, str],
        log: Path,
        url: str | None = None,
    ) -> ManagedProcess:
        """Start ``argv`` in a new session, output to ``log``; recorded at once."""
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            popen = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.cwd,
                start_new_session=True,
            )
        process = ManagedProcess(name, role, list(argv), log, popen, url)
        self.processes.append(process)
        self.record()
        return process

    def check_alive(self) -> None:
        """Raise :class:`QuickstartError` (with its log tail) if a process died on its own."""
        for process in self.processes:
            if not process.expected_exit and not process.alive():
                raise process.died_error()

    def wait_ready(
        self, process: ManagedProcess, ready: Callable[[], bool], timeout: float
    ) -> None:
        """Poll ``ready()`` until it is true; fail clearly if the process dies or time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            if ready():
                return
            if time.monotonic() > deadline:
                raise QuickstartError(
                    f"{process.name} was not ready after {timeout:.0f} s; "
                    f"the end of {process.log}:\n{log_tail(process.log)}"
                )
            time.sleep(0.2)

    def kill(self, process: ManagedProcess) -> None:
        """SIGKILL ``process`` (and its group) on purpose: the demo of a node lost."""
        process.expected_exit = True
        process.kill_group()
        self.record()

    def stop_all(self) -> None:
        """Stop every process: services, then APIs; SIGTERM, a grace period, SIGKILL.

        Signals that arrive meanwhile do not interrupt it: a second Ctrl-C only
        shortens the grace periods (:attr:`hurry`). The record file is removed.
        """

        def hurry(signum: int, frame: object) -> None:
            self.hurry = True

        previous = {sig: signal.signal(sig, hurry) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            for role, grace in (("service", SERVICE_GRACE), ("api", API_GRACE)):
                self._stop([p for p in self.processes if p.role == role and p.alive()], grace)
            self.processes_file.unlink(missing_ok=True)
            self.stopped = True
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, group: list[ManagedProcess], grace: float) -> None:
        for process in group:
            process.expected_exit = True
            with contextlib.suppress(ProcessLookupError):
                process.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        while any(p.alive() for p in group) and time.monotonic() < deadline and not self.hurry:
            time.sleep(0.05)
        for process in group:
            # Also after a clean exit: members of its group the leader left behind.
            process.kill_group()

    def record(self) -> None:
        """Write the running processes to :attr:`processes_file` (for ``--stop``)."""
        body: dict[str, Any] = {
            "quickstart_pid": os.getpid(),
            "processes": [
                {
                    "name": p.name,
                    "role": p.role,
                    "pid": p.pid,
                    "argv": p.argv,
                    "log": str(p.log),
                    "url": p.url,
                }
                for p in self.processes
                if not p.expected_exit
            ],
        }
        write_atomic(self.processes_file, json.dumps(body, indent=2).encode())


# -- stopping what a --keep-running quickstart left --------------------------------------


def _state(pid: int) -> str | None:
    """The process's state letter from /proc (None: no such process, or no /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[0]


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _state(pid) not in ("Z", "X")  # a zombie has exited (its parent reaps it)


def _is_recorded_process(pid: int, argv: list[str]) -> bool:
    """Whether ``pid`` is still the process recorded (not a new one that got its pid)."""
    if not _running(pid):
        return False
    try:
        if os.getpgid(pid) != pid:  # every quickstart child leads its own group
            return False
    except ProcessLookupError:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc (macOS): the group check above is what we have
    return cmdline.split(b"\0")[:-1] == [arg.encode() for arg in argv]


def _recorded(processes_file: Path) -> list[dict[str, Any]]:
    """The processes recorded in ``processes_file`` (none if it is missing)."""
    if not processes_file.exists():
        return []
    try:
        recorded = json.loads(processes_file.read_text())["processes"]
        return [
            {"name": str(p["name"]), "role": p["role"], "pid": int(p["pid"]), "argv": p["argv"]}
            for p in recorded
        ]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise QuickstartError(f"cannot read {processes_file}: {exc}") from exc


def running_recorded(processes_file: Path) -> list[str]:
    """The names of the processes recorded in ``processes_file`` that still run.

    Raises:
        QuickstartError: the file is unreadable.
    """
    return [
        p["name"] for p in _recorded(processes_file) if _is_recorded_process(p["pid"], p["argv"])
    ]


def stop_recorded(processes_file: Path, grace: float = SERVICE_GRACE) -> list[str]:
    """Stop the processes recorded in ``processes_file``: services first, then APIs.

    Returns the names of the processes stopped (none if the file is missing: nothing
    is running); removes the file.

    Raises:
        QuickstartError: the file is unreadable.
    """
    recorded = _recorded(processes_file)
    stopped = []
    for role in ("service", "api"):
        group = [
            (p["name"], p["pid"])
            for p in recorded
            if p["role"] == role and _is_recorded_process(p["pid"], p["argv"])
        ]
        for _, pid in group:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while any(_running(pid) for _, pid in group) and time.monotonic() < deadline:
            time.sleep(0.05)
        for name, pid in group:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            stopped.append(name)
    processes_file.unlink(missing_ok=True)
    return stopped
