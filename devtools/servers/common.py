"""Shared plumbing for the Java servers: fetch jars with Maven, start, wait, stop.

Jars are resolved by Maven from a small ``pom.xml`` per server and copied to a
project-local cache (``.cache/jars/<name>/``, git-ignored). Maven's own
``~/.m2`` cache makes a second fetch fast, but nothing depends on either cache
existing: a fresh machine fetches everything.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = Path(os.environ.get("ALCHEMISCALE_LIKE_DEVTOOLS_CACHE", REPO_ROOT / ".cache"))
_fetch_lock = threading.Lock()


def jar_dir(name: str) -> Path:
    """Where the jars of server ``name`` are cached."""
    return CACHE_DIR / "jars" / name


def fetch_jars(name: str, pom: Path) -> Path:
    """Resolve the dependencies of ``pom`` into the cache (once) and return that folder.

    A marker file is written only after Maven succeeded, so an interrupted fetch
    is redone rather than half-used. Concurrent callers (xdist workers) serialize
    on a lock file.
    """
    target = jar_dir(name)
    marker = target / ".complete"
    if marker.exists() and marker.read_text() == pom.read_text():
        return target
    with _fetch_lock:
        target.parent.mkdir(parents=True, exist_ok=True)
        lock_path = target.parent / f".{name}.lock"
        with open(lock_path, "w") as lock:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                if marker.exists() and marker.read_text() == pom.read_text():
                    return target
                tmp = target.with_name(f".{name}.tmp")
                shutil.rmtree(tmp, ignore_errors=True)
                _run_logged(
                    [
                        "mvn",
                        "-q",
                        "-B",
                        "-Dstyle.color=never",
                        "-f",
                        str(pom),
                        "dependency:copy-dependencies",
                        f"-DoutputDirectory={tmp}",
                        "-DincludeScope=runtime",
                    ],
                    target.parent / f"{name}-fetch.log",
                )
                shutil.rmtree(target, ignore_errors=True)
                tmp.rename(target)
                marker.write_text(pom.read_text())
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
    return target


def _run_logged(cmd: Sequence[str], log_path: Path) -> None:
    """Run ``cmd`` with its output in ``log_path``, never on our stdout.

    Benchmarks print JSON on stdout, and Maven writes ANSI escapes there even
    with ``-q -B``. On failure the log's tail goes into the exception.
    """
    with open(log_path, "wb") as log:
        result = subprocess.run(
            cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False
        )
    if result.returncode != 0:
        tail = log_path.read_text(errors="replace")[-4000:]
        raise RuntimeError(
            f"{cmd[0]} exited with {result.returncode} (log: {log_path}); its tail:\n{tail}"
        )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Block until 127.0.0.1:``port`` accepts connections, or raise ``TimeoutError``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


@dataclass
class JavaServer:
    """A running Java server process started by :func:`start_java`."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path
    extra: dict[str, str] = field(default_factory=dict)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM and wait; SIGKILL if it does not exit in ``timeout`` seconds."""
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL the server (fault tests)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


#: JVM flags of a lean JIT: the quick C1 compiler only, no C2. A test Neo4j is short
#: lived and runs many distinct queries a few times each: C2's compilations cost it
#: about half its CPU (under the state store tests: 84-95 s of CPU with C2, 44-51 s
#: without) and pay back only in a long steady state, which benchmarks measure and
#: tests do not. S3Proxy, which streams and hashes large bodies, needs C2 (the same
#: flag made it use 40 % more CPU under the object store tests).
LEAN_JIT_FLAGS = ("-XX:TieredStopAtLevel=1",)


def start_java(
    name: str,
    classpath: Sequence[Path],
    main: str | None,
    args: Sequence[str],
    *,
    port: int,
    data_dir: Path,
    jvm_flags: Sequence[str] = (),
    ready_timeout: float = 120.0,
) -> JavaServer:
    """Start ``java`` with ``classpath`` and wait until ``port`` listens on 127.0.0.1.

    ``main`` may be ``None`` when ``args`` starts with ``-jar``. Output goes to
    ``data_dir/<name>.log``.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / f"{name}.log"
    cmd = ["java", *jvm_flags]
    if classpath:
        cmd += ["-cp", os.pathsep.join(str(p) for p in classpath)]
    if main:
        cmd.append(main)
    cmd += list(args)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    server = JavaServer(name=name, port=port, proc=proc, data_dir=data_dir, log_path=log_path)
    try:
        wait_for_port(port, ready_timeout, proc)
    except BaseException:
        server.kill()
        tail = log_path.read_text(errors="replace")[-4000:]
        raise RuntimeError(f"{name} failed to start; log tail:\n{tail}") from None
    return server
