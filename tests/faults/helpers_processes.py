"""Helpers of the process-fault tests: where to land a kill, and what to look at after it.

* :class:`HoldingProxy`: a TCP proxy in front of a compute API that forwards everything
  until one chosen request (``PUT .../unit-results``, ``PUT .../files/...``) arrives,
  then forwards a chosen part of it and holds it there: the request stays in flight
  for as long as the test wants, so a kill lands inside it, not near it. It is a real
  network hop (bytes are forwarded unchanged), not a stand-in for either side.
* :class:`APIProcess`: ``alchemiscale-like compute api`` as its own uvicorn process on a
  fixed port, configured by environment variables only, so it can be SIGKILLed and
  started again on the same port.
* :func:`task_refs`, :func:`task_objects`: what the state store and the object store
  hold for one Task, as plain values to compare before and after a fault.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import neo4j
import requests

from alchemiscale_like.models.scope import ScopedKey
from alchemiscale_like.storage.objectstore import ObjectStore
from alchemiscale_like.storage.objectstore.layout import task_prefix
from tests.compute.service_processes import WAIT, Service, service_env

_CHUNK = 1 << 20
_HEADER_END = b"\r\n\r\n"
_CONTENT_LENGTH = re.compile(rb"^content-length:\s*(\d+)\s*$", re.IGNORECASE | re.MULTILINE)
_CHUNKED = re.compile(rb"^transfer-encoding:.*chunked", re.IGNORECASE | re.MULTILINE)


def wait_until(
    condition: Callable[[], object],
    what: str,
    *,
    alive: Sequence[Service] = (),
    timeout: float = WAIT,
) -> None:
    """Poll ``condition`` until it is true; fail if a service in ``alive`` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        for service in alive:
            if service.process is not None and service.process.poll() is not None:
                raise AssertionError(f"{service.name} exited before {what}\n{service.tail()}")
        time.sleep(0.05)
    tails = "\n".join(s.tail() for s in alive)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{tails}")


# -- a proxy that holds one request in flight ------------------------------------------------


@dataclass
class _Hold:
    """Which request to hold (the ``skip`` first matches pass) and how much of its body to
    forward first (``body_fraction``; None: all of it, and then hold the answer)."""

    request_line: re.Pattern[bytes]
    body_fraction: float | None
    skip: int


@dataclass
class _Connection:
    client: socket.socket
    upstream: socket.socket
    held: bool = False
    done: threading.Event = field(default_factory=threading.Event)

    def close(self) -> None:
        self.done.set()
        for sock in (self.client, self.upstream):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


class HoldingProxy:
    """Forward 127.0.0.1:``port`` to 127.0.0.1:``upstream_port``, holding one request on demand.

    HTTP/1.1 requests are framed by ``Content-Length`` (what our clients send), so
    keep-alive connections carrying many requests are followed request by request.
    After :meth:`hold`, the first matching request (after ``skip`` others) is
    forwarded up to the chosen part of its body and then no further byte moves on
    that connection in either direction; :attr:`held` is set. :meth:`cut` then closes
    both ends of it, as a dead peer's kernel would. Other connections go on as usual;
    while the upstream does not listen, new connections are closed at once.
    """

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._hold: _Hold | None = None
        self._connections: list[_Connection] = []
        self._held: _Connection | None = None
        self.held = threading.Event()
        #: The request line of the held request, once held.
        self.held_request = ""
        #: True if a chunked request went by (it would not be framed: tests check this).
        self.saw_chunked = False
        threading.Thread(target=self._accept, name="proxy-accept", daemon=True).start()

    @property
    def url(self) -> str:
        """The proxy's base URL, to use instead of the upstream's."""
        return f"http://127.0.0.1:{self.port}"

    def hold(self, request_line: str, *, body_fraction: float | None = None, skip: int = 0) -> None:
        """Hold the next request whose request line matches ``request_line`` (a regex)."""
        with self._lock:
            self._hold = _Hold(re.compile(request_line.encode()), body_fraction, skip)

    def cut(self) -> None:
        """Close both ends of the held connection (nothing more of it reaches either side)."""
        with self._lock:
            held = self._held
        assert held is not None, "no request is held"
        held.close()

    def close(self) -> None:
        """Stop accepting and close every connection."""
        with suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.close()

    # -- the pumps ---------------------------------------------------------------------------

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream_port), timeout=5)
            except OSError:
                client.close()  # the API is down: the client sees a dropped connection
                continue
            upstream.settimeout(None)
            connection = _Connection(client, upstream)
            with self._lock:
                self._connections.append(connection)
            for target in (self._upward, self._downward):
                threading.Thread(target=target, args=(connection,), daemon=True).start()

    def _downward(self, connection: _Connection) -> None:
        """Answers to the client, unless this connection is held."""
        with suppress(OSError):
            while data := connection.upstream.recv(_CHUNK):
                if connection.held:
                    connection.done.wait()
                    return
                connection.client.sendall(data)
            connection.client.shutdown(socket.SHUT_WR)

    def _upward(self, connection: _Connection) -> None:
        """Requests to the upstream, one by one, until the chosen one is held."""
        try:
            held = self._requests(connection)
        except OSError:  # either side went away mid-request: so does the other
            connection.close()
            return
        if held:
            self.held.set()
            connection.done.wait()

    def _requests(self, connection: _Connection) -> bool:
        """Forward requests until the client closes (False) or one is held (True)."""
        buffer = b""
        while True:
            while _HEADER_END not in buffer:
                data = connection.client.recv(_CHUNK)
                if not data:
                    connection.upstream.shutdown(socket.SHUT_WR)
                    return False
                buffer += data
            head, _, buffer = buffer.partition(_HEADER_END)
            head += _HEADER_END
            if _CHUNKED.search(head):
                self.saw_chunked = True
            found = _CONTENT_LENGTH.search(head)
            length = int(found.group(1)) if found else 0
            limit = self._limit_if_held(connection, head.split(b"\r\n", 1)[0], length)
            connection.upstream.sendall(head)
            buffer = self._forward(connection, buffer, length if limit is None else limit)
            if limit is not None:
                return True

    def _limit_if_held(self, connection: _Connection, line: bytes, length: int) -> int | None:
        """How much of this request's body goes up if it is the one to hold, else None."""
        with self._lock:
            hold = self._hold
            if hold is None or not hold.request_line.search(line):
                return None
            if hold.skip > 0:
                hold.skip -= 1
                return None
            self._hold = None
            self._held = connection
            self.held_request = line.decode("latin-1")
            connection.held = True  # from now on no answer reaches the client
        return length if hold.body_fraction is None else int(length * hold.body_fraction)

    @staticmethod
    def _forward(connection: _Connection, buffer: bytes, count: int) -> bytes:
        """Send ``count`` body bytes up (from ``buffer``, then the client); the rest of
        ``buffer`` is returned."""
        while count > 0:
            if not buffer:
                buffer = connection.client.recv(min(_CHUNK, count))
                if not buffer:
                    raise OSError("client closed mid-body")
            part, buffer = buffer[:count], buffer[count:]
            connection.upstream.sendall(part)
            count -= len(part)
        return buffer


# -- the compute API as its own process ------------------------------------------------------


@dataclass
class APIProcess:
    """``python -m alchemiscale_like compute api`` on 127.0.0.1:``port``, killable at will."""

    port: int
    env: dict[str, str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The API's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = WAIT) -> APIProcess:
        """Start it and wait until ``/ping`` answers."""
        command = [sys.executable, "-m", "alchemiscale_like", "compute", "api"]
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                [*command, "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"compute API exited: {self.log.read_text()[-3000:]}")
            with suppress(requests.RequestException):
                if requests.get(f"{self.url}/ping", timeout=2).ok:
                    return self
            time.sleep(0.1)
        raise AssertionError(f"compute API did not answer in {timeout}s")

    def kill(self) -> None:
        """SIGKILL it (no shutdown of any kind), if it runs."""
        if self.process is not None and self.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


def compute_api_env(
    neo4j: tuple[str, str, str], objectstore: Mapping[str, Any], jwt_secret: str
) -> dict[str, str]:
    """The environment of a compute API on ``neo4j`` (url, user, password) and the S3
    store of ``objectstore`` (ObjectStoreSettings fields), signing with ``jwt_secret``."""
    url, user, password = neo4j
    env = service_env()
    env |= {
        "ALCHEMISCALE_LIKE_STATESTORE_BACKEND": "neo4j",
        "ALCHEMISCALE_LIKE_STATESTORE_NEO4J_URL": url,
        "ALCHEMISCALE_LIKE_STATESTORE_NEO4J_USER": user,
        "ALCHEMISCALE_LIKE_STATESTORE_NEO4J_PASSWORD": password,
        "ALCHEMISCALE_LIKE_JWT_SECRET_KEY": jwt_secret,
        "ALCHEMISCALE_LIKE_LOG_LEVEL": "WARNING",
    }
    for name, value in objectstore.items():
        if value is not None:
            env[f"ALCHEMISCALE_LIKE_OBJECTSTORE_{name.upper()}"] = str(value)
    return env


# -- what the stores hold for one task -------------------------------------------------------

_TASK_REFS = """
MATCH (t:Task {scoped_key: $task})
OPTIONAL MATCH (t)-[:HAS_DAG]->(d:ProtocolDAGRef)
OPTIONAL MATCH (d)-[:HAS_UNIT_RESULT]->(u:ProtocolUnitResultRef)
OPTIONAL MATCH (u)-[:HAS_FILE]->(f:ResultFileRef)
WITH t, d, u, collect(f {.name, .size, .sha256, .location}) AS files
WITH t, d, collect(CASE WHEN u IS NULL THEN NULL ELSE
                   {unit_key: u.unit_key, attempt: u.attempt, ok: u.ok, relpath: u.relpath,
                    files: files} END) AS units
OPTIONAL MATCH (d)-[:RESULTS_IN]->(r:ProtocolDAGResultRef)
RETURN t.status AS status, units,
       collect(r {.key, .ok, .relpath}) AS results
"""


@dataclass(frozen=True)
class TaskRefs:
    """A Task's status and every reference the state store holds for it."""

    status: str
    units: tuple[tuple[str, int, bool, str, tuple[tuple[str, int, str, str], ...]], ...]
    results: tuple[tuple[str, bool, str], ...]

    def attempts(self) -> Counter[tuple[str, int]]:
        """How many refs each (unit key, attempt) has (1 each, if writes are idempotent)."""
        return Counter((unit, attempt) for unit, attempt, *_ in self.units)

    def ok_units(self) -> set[str]:
        """Unit keys with a successful recorded result."""
        return {unit for unit, _, ok, *_ in self.units if ok}

    def files(self) -> list[tuple[str, int, str, str]]:
        """Every recorded file: (name, size, sha256, location in the task's folder)."""
        return [f for *_, files in self.units for f in files]


def _file(ref: Mapping[str, Any]) -> tuple[str, int, str, str]:
    return (ref["name"], ref["size"], ref["sha256"], ref["location"])


def task_refs(driver: neo4j.Driver, task: ScopedKey) -> TaskRefs:
    """What the state store holds for ``task``, read straight from Neo4j (no dedup)."""
    # Notifications off: a graph without files (yet) has no HAS_FILE, which Neo4j warns of.
    with driver.session(notifications_min_severity=neo4j.NotificationMinimumSeverity.OFF) as s:
        records = list(s.run(_TASK_REFS, {"task": str(task)}))
    assert len(records) == 1, f"{task} has {len(records)} ProtocolDAGRefs"
    (row,) = records
    units = tuple(
        sorted(
            (
                u["unit_key"],
                u["attempt"],
                u["ok"],
                u["relpath"],
                tuple(sorted(_file(f) for f in u["files"])),
            )
            for u in row["units"]
        )
    )
    results = tuple(sorted((r["key"], r["ok"], r["relpath"]) for r in row["results"]))
    return TaskRefs(row["status"], units, results)


def task_objects(objectstore: ObjectStore, task: ScopedKey) -> dict[str, tuple[int, str]]:
    """Every object in the task's folder: relative path -> (size, sha256) as the store says."""
    prefix = task_prefix(task)
    found = {}
    for listed in objectstore.list_objects(prefix):
        info = objectstore.stat(listed.location)
        found[listed.location.removeprefix(prefix)] = (info.size, info.sha256)
    return found
