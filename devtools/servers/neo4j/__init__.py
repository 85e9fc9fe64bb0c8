"""Neo4j Community 5.26 LTS for development and tests, without Docker.

The jars of ``org.neo4j:neo4j`` and ``org.neo4j:neo4j-bolt`` come from Maven
Central (``pom.xml`` next to this file); ``Neo4jLauncher.java`` runs them as an
embedded DBMS with the Bolt connector on 127.0.0.1 and authentication off. It
prints ``NEO4J-READY port=<port>`` once the default database is available and
``NEO4J-STOPPED`` after a clean shutdown on SIGTERM (exit status 0).

    fetch()                               # jars + compiled launcher, cached
    server = start(tmp_path / "neo4j", free_port())
    env(server)["NEO4J_URL"]              # "bolt://127.0.0.1:<port>"
    server.stop()
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from devtools.servers.common import (
    LEAN_JIT_FLAGS,
    JavaServer,
    fetch_jars,
    jar_dir,
    start_java,
)

HERE = Path(__file__).resolve().parent
POM = HERE / "pom.xml"
LAUNCHER_SOURCE = HERE / "Neo4jLauncher.java"
LAUNCHER_MAIN = "Neo4jLauncher"
READY_LINE = "NEO4J-READY"
STOPPED_LINE = "NEO4J-STOPPED"
USER = "neo4j"
# Authentication is disabled; drivers still want a user/password pair.
PASSWORD = "password"

# The opens the Neo4j distribution itself passes (its neo4j.conf): Netty and
# Neo4j's off-heap code reflect into these JDK packages.
_JVM_FLAGS = (
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "-Dio.netty.tryReflectionSetAccessible=true",
    # Serial GC: two or three of these servers share two cores with the tests.
    "-XX:+UseSerialGC",
    "-XX:-UsePerfData",  # no hsperfdata files left in /tmp by killed servers
)


def _jars() -> Path:
    return jar_dir("neo4j")


def _launcher_classes() -> Path:
    return jar_dir("neo4j-launcher")


def fetch() -> None:
    """Fetch the Neo4j jars into the cache and compile the launcher against them.

    Both steps are skipped when already done; the launcher is recompiled when its
    source or the jars are newer than the compiled class.

    Raises:
        RuntimeError: Maven failed to resolve the jars, or ``javac`` rejected the launcher.
    """
    jars = fetch_jars("neo4j", POM)
    _compile_launcher(jars)


def _compile_launcher(jars: Path) -> None:
    out = _launcher_classes()
    compiled = out / f"{LAUNCHER_MAIN}.class"
    inputs_changed = max(LAUNCHER_SOURCE.stat().st_mtime, (jars / ".complete").stat().st_mtime)
    if compiled.exists() and compiled.stat().st_mtime >= inputs_changed:
        return
    out.mkdir(parents=True, exist_ok=True)
    # Compile aside and rename into place, so concurrent xdist workers never
    # load a half-written class file.
    staging = Path(tempfile.mkdtemp(prefix=".compile-", dir=out.parent))
    try:
        result = subprocess.run(
            [
                "javac",
                "-XDignore.symbol.file",
                "-nowarn",
                "-cp",
                str(jars / "*"),
                "-d",
                str(staging),
                str(LAUNCHER_SOURCE),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"javac failed for {LAUNCHER_SOURCE}:\n{result.stderr}")
        for class_file in staging.glob("*.class"):
            os.replace(class_file, out / class_file.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def start(
    data_dir: Path,
    port: int,
    *,
    heap: str = "1g",
    exit_with_parent: bool = False,
    ready_timeout: float = 120.0,
    lean_jit: bool = False,
) -> JavaServer:
    """Start Neo4j with Bolt on ``127.0.0.1:port``, its files under ``data_dir``.

    Returns once the launcher printed its ready line and a real ``RETURN 1`` over
    Bolt answered. Call :func:`fetch` first.

    Args:
        data_dir: Neo4j home (``data/``, ``logs/``) and the launcher's ``neo4j.log``.
        port: Bolt port on 127.0.0.1.
        heap: JVM maximum heap. Neo4j caps the memory of all open transactions at
            70 % of it; one transaction creating 100k tasks needs about ``"1g"``.
        exit_with_parent: Shut down when the calling process dies (tests set this so
            a killed test run leaves no server behind; ``devtools.services up`` must not).
        ready_timeout: Seconds to wait for the server to answer.
        lean_jit: Compile with the JVM's C1 compiler only
            (:data:`~devtools.servers.common.LEAN_JIT_FLAGS`): about half the CPU of a
            test server; benchmarks keep the full JIT.

    Raises:
        RuntimeError: The server exited or did not answer in time (the log tail is
            in the message).
    """
    args = [str(data_dir.resolve()), str(port)]
    if exit_with_parent:
        args.append("--exit-with-parent")
    deadline = time.monotonic() + ready_timeout
    server = start_java(
        "neo4j",
        [_launcher_classes(), _jars() / "*"],
        LAUNCHER_MAIN,
        args,
        port=port,
        data_dir=data_dir,
        jvm_flags=[
            *_JVM_FLAGS,
            *(LEAN_JIT_FLAGS if lean_jit else ()),
            "-Xms256m",
            f"-Xmx{heap}",
        ],
        ready_timeout=ready_timeout,
    )
    try:
        _wait_for_ready_line(server, deadline)
        _check_answers(env(server), deadline)
    except (RuntimeError, TimeoutError) as exc:
        server.kill()
        tail = server.log_path.read_text(errors="replace")[-4000:]
        raise RuntimeError(f"neo4j failed to start: {exc}; log tail:\n{tail}") from exc
    return server


def _wait_for_ready_line(server: JavaServer, deadline: float) -> None:
    while time.monotonic() < deadline:
        if READY_LINE in server.log_path.read_text(errors="replace"):
            return
        if server.proc.poll() is not None:
            raise RuntimeError(f"launcher exited with code {server.proc.returncode}")
        time.sleep(0.05)
    raise TimeoutError(f"no {READY_LINE} line in {server.log_path}")


def _check_answers(settings: dict[str, str], deadline: float) -> None:
    # The driver is a server/test dependency; `fetch` must work without it.
    import neo4j
    from neo4j.exceptions import ServiceUnavailable

    auth = (settings["NEO4J_USER"], settings["NEO4J_PASSWORD"])
    with neo4j.GraphDatabase.driver(settings["NEO4J_URL"], auth=auth) as driver:
        while True:
            try:
                records, _, _ = driver.execute_query("RETURN 1 AS one")
            except ServiceUnavailable as exc:
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"Bolt does not answer: {exc}") from exc
                time.sleep(0.1)
                continue
            if records[0]["one"] != 1:
                raise RuntimeError(f"RETURN 1 answered {records!r}")
            return


def env(server: JavaServer) -> dict[str, str]:
    """Environment variables that point the project at ``server``."""
    return {
        "NEO4J_URL": f"bolt://127.0.0.1:{server.port}",
        "NEO4J_USER": USER,
        "NEO4J_PASSWORD": PASSWORD,
    }
