"""The quickstart's process supervision, on small stand-in processes (no servers)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import psutil
import pytest

from alchemiscale_like.cli.quickstart import processes
from alchemiscale_like.cli.quickstart.errors import QuickstartError
from alchemiscale_like.cli.quickstart.kill import EventLog
from alchemiscale_like.cli.quickstart.processes import Supervisor, running_recorded, stop_recorded

# Ignores SIGTERM and leaves a grandchild in its process group that ignores it too.
STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
print("ready", flush=True)
time.sleep(600)
"""


def _group(pid: int) -> list[psutil.Process]:
    """The live members of process group ``pid`` other than its leader."""
    found = []
    for process in psutil.process_iter():
        try:
            member = process.pid != pid and os.getpgid(process.pid) == pid
            if member and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
        except (psutil.NoSuchProcess, ProcessLookupError):
            continue
    return found


def test_a_process_that_dies_fails_with_its_log_tail(tmp_path):
    supervisor = Supervisor(tmp_path / "processes.json", tmp_path)
    code = "import sys; print('cannot bind the port'); sys.exit(3)"
    dying = supervisor.start(
        "user-api", "api", [sys.executable, "-c", code], {}, tmp_path / "api.log"
    )
    with pytest.raises(QuickstartError, match="user-api exited unexpectedly \\(code 3\\)") as err:
        supervisor.wait_ready(dying, lambda: False, timeout=30)
    assert "cannot bind the port" in str(err.value)
    supervisor.stop_all()
    assert not (tmp_path / "processes.json").exists()


def test_stop_all_sigkills_what_ignores_sigterm_with_its_group(tmp_path, monkeypatch):
    monkeypatch.setattr(processes, "SERVICE_GRACE", 0.5)
    supervisor = Supervisor(tmp_path / "processes.json", tmp_path)
    log = tmp_path / "service.log"
    stubborn = supervisor.start("service-1", "service", [sys.executable, "-c", STUBBORN], {}, log)
    supervisor.wait_ready(stubborn, lambda: "ready" in log.read_text(), timeout=30)
    deadline = time.monotonic() + 30
    while len(_group(stubborn.pid)) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    members = _group(stubborn.pid)
    assert len(members) == 1  # the grandchild
    started = time.monotonic()
    supervisor.stop_all()
    assert time.monotonic() - started < 10
    assert not stubborn.alive()
    assert stubborn.popen.returncode == -9
    psutil.wait_procs(members, timeout=10)
    assert not any(m.is_running() and m.status() != psutil.STATUS_ZOMBIE for m in members)


def test_stop_recorded_stops_what_a_finished_quickstart_left(tmp_path, monkeypatch):
    supervisor = Supervisor(tmp_path / "processes.json", tmp_path)
    sleeper = [sys.executable, "-c", "import time; time.sleep(600)"]
    first = supervisor.start("service-1", "service", sleeper, {}, tmp_path / "s.log")
    second = supervisor.start("user-api", "api", sleeper, {}, tmp_path / "a.log")
    recorded = json.loads((tmp_path / "processes.json").read_text())["processes"]
    assert [p["pid"] for p in recorded] == [first.pid, second.pid]
    assert running_recorded(tmp_path / "processes.json") == ["service-1", "user-api"]
    # A recorded pid now held by another program is left alone.
    stranger = {
        "name": "compute-api",
        "role": "api",
        "pid": 1,
        "argv": ["x"],
        "log": "",
        "url": None,
    }
    body = json.loads((tmp_path / "processes.json").read_text())
    body["processes"].append(stranger)
    (tmp_path / "processes.json").write_text(json.dumps(body))

    assert stop_recorded(tmp_path / "processes.json", grace=10) == ["service-1", "user-api"]
    assert first.popen.wait(timeout=10) == -15  # SIGTERM was enough
    assert second.popen.wait(timeout=10) == -15
    assert not (tmp_path / "processes.json").exists()
    assert stop_recorded(tmp_path / "processes.json") == []


def test_event_log_reads_whole_lines_as_they_come(tmp_path):
    path = tmp_path / "service.log"
    log = EventLog(path)
    assert log.new_events() == []
    with path.open("w") as handle:
        handle.write('{"event": "claim", "task": "T"}\nTraceback (not JSON)\n{"event": "unit_')
        handle.flush()
        assert log.new_events() == [{"event": "claim", "task": "T"}]
        handle.write('start", "unit": "U"}\n')
        handle.flush()
        assert log.new_events() == [{"event": "unit_start", "unit": "U"}]
    assert [e["event"] for e in log.all_events()] == ["claim", "unit_start"]


def test_no_processes_file_means_nothing_runs(tmp_path: Path):
    assert running_recorded(tmp_path / "processes.json") == []
