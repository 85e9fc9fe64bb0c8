"""Store servers of a fault test's own, stopped and restarted on the same data and port.

The per-worker Neo4j and S3Proxy of ``tests/fixtures`` are shared by every test of a
worker: stopping them would break the others. A fault test starts its own with
:func:`own_neo4j` / :func:`own_s3proxy` (a :class:`RestartableServer`), stops it for
the outage and starts it again on the same data folder and the same port, so the
stores the APIs hold keep their URL and find every object they wrote before.
:func:`own_deployment` serves both APIs (in-process uvicorn, as ``tests/server``
does) on stores pointing at those servers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from alchemiscale_like.server.settings import APISettings
from alchemiscale_like.storage.objectstore import ObjectStore, build_objectstore
from alchemiscale_like.storage.objectstore.settings import ObjectStoreSettings
from alchemiscale_like.storage.statestore import StateStore
from alchemiscale_like.storage.statestore.neo4j import Neo4jStateStore
from devtools.servers import neo4j as neo4j_devserver
from devtools.servers import s3proxy as s3proxy_devserver
from devtools.servers.common import JavaServer, free_port
from tests.server.conftest import KEYS, SCOPE, Deployment, deploy

__all__ = [
    "KEYS",
    "SCOPE",
    "WAIT",
    "RestartableServer",
    "neo4j_statestore",
    "own_deployment",
    "own_neo4j",
    "own_s3proxy",
    "s3_settings",
    "wait_until",
]

T = TypeVar("T")

#: Bound of every wait of a fault test (a healthy run takes a fraction of it).
WAIT = 120.0


@dataclass
class RestartableServer:
    """A Java server that can be stopped and started again on the same data and port."""

    name: str
    data_dir: Path
    port: int
    launch: Callable[[Path, int], JavaServer]
    server: JavaServer | None = field(default=None)

    @property
    def running(self) -> bool:
        """True while the server process is alive."""
        return self.server is not None and self.server.proc.poll() is None

    def start(self) -> RestartableServer:
        """Start the server (again) on :attr:`data_dir` and :attr:`port`; return once it answers."""
        assert not self.running, f"{self.name} is already running"
        self.server = self.launch(self.data_dir, self.port)
        return self

    def stop(self) -> None:
        """Stop the server cleanly (SIGTERM; SIGKILL if it does not exit in time)."""
        if self.server is not None:
            self.server.stop()

    def kill(self) -> None:
        """SIGKILL the server if it still runs (the ``finally`` of every test)."""
        if self.server is not None:
            self.server.kill()


def _start_neo4j(data_dir: Path, port: int) -> JavaServer:
    # A restart on a busy two-core machine has taken a minute: wait up to four.
    return neo4j_devserver.start(
        data_dir, port, heap="512m", exit_with_parent=True, ready_timeout=240.0, lean_jit=True
    )


def _start_s3proxy(data_dir: Path, port: int) -> JavaServer:
    return s3proxy_devserver.start(data_dir, port, exit_with_parent=True)


@contextmanager
def own_neo4j(data_dir: Path) -> Iterator[RestartableServer]:
    """A Neo4j of this test's own, on a free port; killed when the block ends."""
    neo4j_devserver.fetch()
    server = RestartableServer("neo4j", data_dir, free_port(), _start_neo4j).start()
    try:
        yield server
    finally:
        server.kill()


@contextmanager
def own_s3proxy(data_dir: Path) -> Iterator[RestartableServer]:
    """An S3Proxy of this test's own, on a free port; killed when the block ends."""
    s3proxy_devserver.fetch()
    server = RestartableServer("s3proxy", data_dir, free_port(), _start_s3proxy).start()
    try:
        yield server
    finally:
        server.kill()


def neo4j_statestore(server: RestartableServer, *, retry_seconds: float) -> Neo4jStateStore:
    """An initialized store on ``server`` whose calls give up after ``retry_seconds``."""
    store = Neo4jStateStore(
        f"bolt://127.0.0.1:{server.port}",
        neo4j_devserver.USER,
        neo4j_devserver.PASSWORD,
        retry_seconds=retry_seconds,
    )
    store.initialize()
    return store


def s3_settings(server: RestartableServer, **overrides: object) -> ObjectStoreSettings:
    """Object store settings for ``server``'s default bucket (no prefix)."""
    assert server.server is not None
    env = s3proxy_devserver.env(server.server)
    values: dict[str, object] = {
        "backend": "s3",
        "endpoint_url": env["ALCHEMISCALE_LIKE_OBJECTSTORE_ENDPOINT_URL"],
        "bucket": env["ALCHEMISCALE_LIKE_OBJECTSTORE_BUCKET"],
        "region": env["ALCHEMISCALE_LIKE_OBJECTSTORE_REGION"],
        "access_key_id": env["ALCHEMISCALE_LIKE_OBJECTSTORE_ACCESS_KEY_ID"],
        "secret_access_key": env["ALCHEMISCALE_LIKE_OBJECTSTORE_SECRET_ACCESS_KEY"],
        **overrides,
    }
    return ObjectStoreSettings(**values)  # type: ignore[arg-type]


@contextmanager
def own_deployment(
    statestore: StateStore,
    objectstore_settings: ObjectStoreSettings,
    *,
    close_store: bool = True,
    **api_settings: object,
) -> Iterator[Deployment]:
    """Both APIs (identities of ``tests/server``: alice, worker, ...) on the given stores.

    ``statestore`` is closed at the end unless ``close_store`` is false (a session's store).
    """
    objectstore: ObjectStore = build_objectstore(objectstore_settings)
    with ExitStack() as stack:
        if close_store:
            stack.callback(statestore.close)
        settings = APISettings(**api_settings)  # type: ignore[arg-type]
        yield stack.enter_context(deploy(statestore, objectstore, settings))


def wait_until(condition: Callable[[], T], what: str, timeout: float = WAIT) -> T:
    """Poll ``condition`` until it returns something truthy (returned); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
