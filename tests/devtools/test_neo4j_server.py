"""The development Neo4j server and its pytest fixtures, tested against the real thing."""

from __future__ import annotations

import ipaddress
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import neo4j
import psutil
import pytest
from neo4j.exceptions import ConstraintError

from devtools.servers import neo4j as neo4j_devserver
from devtools.servers.common import LEAN_JIT_FLAGS, REPO_ROOT, free_port
from tests.fixtures.neo4j_server import Neo4jTestServer


def _count(driver: neo4j.Driver, query: str, **params: object) -> int:
    records, _, _ = driver.execute_query(query, params)
    return int(records[0]["n"])


def test_server_is_neo4j_community_5_26(neo4j_driver: neo4j.Driver) -> None:
    records, _, _ = neo4j_driver.execute_query(
        "CALL dbms.components() YIELD versions, edition RETURN versions[0] AS version, edition"
    )
    assert records[0]["edition"] == "community"
    assert records[0]["version"].startswith("5.26.")


def test_committed_data_is_visible_to_a_new_connection(
    neo4j_server: Neo4jTestServer, neo4j_driver: neo4j.Driver
) -> None:
    key = uuid.uuid4().hex
    neo4j_driver.execute_query("CREATE (:DevtoolsProbe {key: $key})", key=key)
    with neo4j.GraphDatabase.driver(neo4j_server.url, auth=neo4j_server.auth) as other:
        found = _count(other, "MATCH (p:DevtoolsProbe {key: $key}) RETURN count(p) AS n", key=key)
    assert found == 1


def test_clean_driver_removes_all_data_but_keeps_constraints(
    neo4j_driver: neo4j.Driver, request: pytest.FixtureRequest
) -> None:
    neo4j_driver.execute_query(
        "CREATE CONSTRAINT devtools_probe_key IF NOT EXISTS "
        "FOR (p:DevtoolsProbe) REQUIRE p.key IS UNIQUE"
    )
    try:
        # More rows than one wipe batch, with relationships, so DETACH and batching matter.
        neo4j_driver.execute_query(
            "UNWIND range(1, 12000) AS i CREATE (:DevtoolsProbe {key: i})-[:LINKS]->(:Other)"
        )
        clean_driver = request.getfixturevalue("neo4j_clean_driver")

        assert _count(clean_driver, "MATCH (n) RETURN count(n) AS n") == 0
        assert _count(clean_driver, "MATCH ()-[r]->() RETURN count(r) AS n") == 0
        constraints = clean_driver.execute_query("SHOW CONSTRAINTS YIELD name").records
        names = [record["name"] for record in constraints]
        assert "devtools_probe_key" in names
        clean_driver.execute_query("CREATE (:DevtoolsProbe {key: 1})")
        with pytest.raises(ConstraintError):
            clean_driver.execute_query("CREATE (:DevtoolsProbe {key: 1})")
    finally:
        neo4j_driver.execute_query("DROP CONSTRAINT devtools_probe_key IF EXISTS")


def _unmapped(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    address = ipaddress.ip_address(ip.split("%")[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def test_server_listens_on_loopback_only(neo4j_server: Neo4jTestServer) -> None:
    if neo4j_server.process is None:
        pytest.skip("external server: not ours to inspect")
    pid = neo4j_server.process.proc.pid
    listening = [
        conn.laddr
        for conn in psutil.net_connections(kind="tcp")
        if conn.pid == pid and conn.status == psutil.CONN_LISTEN
    ]
    assert listening, "the server process has no listening socket"
    assert all(_unmapped(addr.ip) == ipaddress.IPv4Address("127.0.0.1") for addr in listening), (
        listening
    )

    other_addresses = [
        address.address
        for addresses in psutil.net_if_addrs().values()
        for address in addresses
        if address.family == socket.AF_INET
        and not ipaddress.ip_address(address.address).is_loopback
    ]
    for address in other_addresses:
        with pytest.raises(OSError):  # noqa: PT011 - refused, unreachable or timed out
            socket.create_connection((address, neo4j_server.process.port), timeout=2).close()


def test_the_test_server_runs_with_the_lean_jit(neo4j_server: Neo4jTestServer) -> None:
    if neo4j_server.process is None:
        pytest.skip("external server: not ours to inspect")
    command = psutil.Process(neo4j_server.process.proc.pid).cmdline()
    assert set(LEAN_JIT_FLAGS) <= set(command), command


def test_sigterm_shuts_the_server_down_cleanly(tmp_path: Path) -> None:
    neo4j_devserver.fetch()
    server = neo4j_devserver.start(
        tmp_path / "neo4j", free_port(), exit_with_parent=True, lean_jit=True
    )
    try:
        server.stop(timeout=30)
    finally:
        server.kill()

    assert server.proc.returncode == 0
    log = server.log_path.read_text()
    assert f"{neo4j_devserver.READY_LINE} port={server.port}" in log
    assert neo4j_devserver.STOPPED_LINE in log
    with pytest.raises(OSError):  # noqa: PT011 - connection refused
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()


_START_IN_CHILD = """
import sys, time
from pathlib import Path
from devtools.servers import neo4j
server = neo4j.start(Path(sys.argv[1]), int(sys.argv[2]), exit_with_parent=True, lean_jit=True)
print(server.proc.pid, flush=True)
time.sleep(600)
"""


def _gone(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def test_server_started_for_tests_exits_when_its_parent_is_killed(tmp_path: Path) -> None:
    neo4j_devserver.fetch()
    with subprocess.Popen(
        [sys.executable, "-c", _START_IN_CHILD, str(tmp_path / "neo4j"), str(free_port())],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    ) as parent:
        try:
            assert parent.stdout is not None
            server_pid = int(parent.stdout.readline())
        finally:
            parent.kill()

    deadline = time.monotonic() + 30
    while not _gone(server_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _gone(server_pid)
