"""The deployment a run measures: Neo4j, S3Proxy, and both APIs as separate uvicorn processes.

Everything listens on 127.0.0.1 on free ports and logs to files in the run's work
folder. The APIs are started with the real command line (``python -m alchemiscale_like
api`` / ``compute api``) and configured by environment variables only, so each is
its own process whose RSS can be sampled. The benchmark keeps its own in-process
:class:`Stores` on the same servers for the baselines and for setup.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import neo4j
import requests

from alchemiscale_like.client import ComputeClient, UserClient
from alchemiscale_like.security.identity import IdentityKind
from alchemiscale_like.services import identities
from alchemiscale_like.services.stores import Stores
from alchemiscale_like.storage.objectstore import ObjectStoreSettings
from alchemiscale_like.storage.objectstore.s3 import S3ObjectStore
from alchemiscale_like.storage.statestore.neo4j import Neo4jStateStore
from devtools.bench.api.report import log
from devtools.servers import neo4j as neo4j_servers
from devtools.servers import s3proxy
from devtools.servers.common import free_port

USER = "bench-user"
COMPUTE = "bench-compute"
#: Every object of a run lives under this scope organisation.
ORG = "benchapi"
_PR_SET_PDEATHSIG = 1
_API_START_TIMEOUT = 120.0


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the benchmark dies (Linux)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class APIServer:
    """One API served by its own ``python -m alchemiscale_like ...`` process."""

    name: str
    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        """The server's process id (with more than one worker, they are its children)."""
        return self.proc.pid

    def wait_ready(self) -> None:
        """Wait until ``/ping`` answers. Raises RuntimeError if it exits or never answers."""
        deadline = time.monotonic() + _API_START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}; log tail:\n{tail}"
                )
            try:
                if requests.get(f"{self.url}/ping", timeout=2).ok:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} did not answer /ping in {_API_START_TIMEOUT}s")
            time.sleep(0.1)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM and wait; SIGKILL if it does not exit in ``timeout`` seconds."""
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


def start_api(name: str, command: list[str], env: dict[str, str], work: Path) -> APIServer:
    """Start one API on a free port (call :meth:`APIServer.wait_ready` before using it)."""
    port = free_port()
    log_path = work / f"{name}.log"
    cmd = [sys.executable, "-m", "alchemiscale_like", *command]
    cmd += ["--host", "127.0.0.1", "--port", str(port)]
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=_die_with_parent,  # safe: called before any thread of ours starts
        )
    return APIServer(name, f"http://127.0.0.1:{port}", proc, log_path)


@dataclass
class Deployment:
    """The servers of a run, the in-process stores on them, and the bench identities."""

    stores: Stores
    driver: neo4j.Driver
    user_api: APIServer
    compute_api: APIServer
    keys: dict[str, str]
    s3_settings: ObjectStoreSettings
    work: Path
    neo4j_version: str
    api_workers: int = 1

    def user_client(self) -> UserClient:
        """A new client of the user API."""
        return UserClient(self.user_api.url, USER, self.keys[USER])

    def compute_client(self, suffix: str) -> ComputeClient:
        """A new client of the compute API, for service ``bench-compute~<suffix>``."""
        return ComputeClient(
            self.compute_api.url, COMPUTE, self.keys[COMPUTE], service_id=f"{COMPUTE}~{suffix}"
        )

    def bare_read(self, cypher: str, **params: Any) -> list[neo4j.Record]:
        """A read query through a bare driver (for checks the store does not offer)."""
        records, _, _ = self.driver.execute_query(
            cypher, params, routing_=neo4j.RoutingControl.READ
        )
        return list(records)

    def servers(self) -> dict[str, Any]:
        """What served the run, for the report."""
        return {
            "neo4j": self.neo4j_version,
            "objectstore": f"s3proxy, part_size {self.s3_settings.part_size // (1 << 20)} MiB, "
            f"max_concurrency {self.s3_settings.max_concurrency}",
            "apis": f"uvicorn, {self.api_workers} worker process(es) each, separate "
            "deployments (python -m alchemiscale_like ... --workers N)",
        }


def add_deployment_options(parser: argparse.ArgumentParser) -> None:
    """The options of :func:`deploy` (and the run's scratch folder and time limit)."""
    parser.add_argument("--heap", help="heap of the Neo4j started here (2g)")
    parser.add_argument(
        "--api-workers",
        type=int,
        default=1,
        help="uvicorn worker processes of each API (1)",
    )
    parser.add_argument(
        "--servers-from-env",
        action="store_true",
        help="use the Neo4j (NEO4J_URL, ...) and S3 (ALCHEMISCALE_LIKE_OBJECTSTORE_*) servers "
        "named by the environment instead of starting them; the run's data is left there",
    )
    parser.add_argument("--work-dir", type=Path, help="parent of the scratch folder (a temp dir)")
    parser.add_argument(
        "--time-limit", type=int, default=1800, help="abort after this many seconds"
    )


def _start_servers(
    stack: ExitStack, work: Path, heap: str
) -> tuple[dict[str, str], dict[str, str]]:
    """Start Neo4j and S3Proxy in ``work`` (stopped by ``stack``); their environments."""
    log("deploy: neo4j and s3proxy")
    neo4j_servers.fetch()
    s3proxy.fetch()
    graph = neo4j_servers.start(work / "neo4j", free_port(), heap=heap, exit_with_parent=True)
    stack.callback(graph.stop)
    blobs = s3proxy.start(work / "s3proxy", free_port(), exit_with_parent=True)
    stack.callback(blobs.stop)
    return neo4j_servers.env(graph), s3proxy.env(blobs)


#: What ``servers_from_env`` reads: the Neo4j server, then the S3 object store.
SERVER_VARIABLES = (
    ("NEO4J_URL", "NEO4J_USER", "NEO4J_PASSWORD"),
    tuple(
        f"ALCHEMISCALE_LIKE_OBJECTSTORE_{name}"
        for name in (
            "BACKEND",
            "ENDPOINT_URL",
            "BUCKET",
            "REGION",
            "ACCESS_KEY_ID",
            "SECRET_ACCESS_KEY",
        )
    ),
)


def _servers_from_env() -> tuple[dict[str, str], dict[str, str]]:
    """The environments of the servers named by :data:`SERVER_VARIABLES`."""
    missing = [name for group in SERVER_VARIABLES for name in group if not os.environ.get(name)]
    if missing:
        raise RuntimeError(f"--servers-from-env: {', '.join(missing)} not set")
    log("deploy: neo4j and s3 from the environment")
    graph_vars, s3_vars = SERVER_VARIABLES
    return (
        {name: os.environ[name] for name in graph_vars},
        {name: os.environ[name] for name in s3_vars},
    )


@contextmanager
def deploy(
    work: Path, heap: str, *, servers_from_env: bool = False, api_workers: int = 1
) -> Iterator[Deployment]:
    """Start everything in ``work``; stop it all on exit.

    With ``servers_from_env`` the Neo4j and S3 servers named by the environment are
    used instead of starting new ones (see :data:`SERVER_VARIABLES`): the run adds
    its data there and leaves it behind, so point it only at servers you can wipe.
    Each API runs ``api_workers`` uvicorn worker processes.
    """
    with ExitStack() as stack:
        graph_env, s3_env = (
            _servers_from_env() if servers_from_env else _start_servers(stack, work, heap)
        )
        s3_env["ALCHEMISCALE_LIKE_OBJECTSTORE_PREFIX"] = f"bench-api-{secrets.token_hex(4)}"
        prefix = "ALCHEMISCALE_LIKE_OBJECTSTORE_"
        fields: dict[str, Any] = {k.removeprefix(prefix).lower(): v for k, v in s3_env.items()}
        s3_settings = ObjectStoreSettings(**fields)
        statestore = Neo4jStateStore(
            graph_env["NEO4J_URL"], graph_env["NEO4J_USER"], graph_env["NEO4J_PASSWORD"]
        )
        stack.callback(statestore.close)
        statestore.initialize()
        objectstore = S3ObjectStore.from_settings(s3_settings)
        objectstore.check()
        driver = neo4j.GraphDatabase.driver(
            graph_env["NEO4J_URL"], auth=(graph_env["NEO4J_USER"], graph_env["NEO4J_PASSWORD"])
        )
        stack.callback(driver.close)
        keys = {USER: secrets.token_hex(16), COMPUTE: secrets.token_hex(16)}
        identities.add_identity(statestore, IdentityKind.USER, USER, keys[USER], [ORG])
        identities.add_identity(statestore, IdentityKind.COMPUTE, COMPUTE, keys[COMPUTE], [ORG])
        env = {
            **os.environ,
            **graph_env,
            **s3_env,
            "ALCHEMISCALE_LIKE_JWT_SECRET_KEY": secrets.token_urlsafe(32),
            "ALCHEMISCALE_LIKE_LOG_LEVEL": "WARNING",
        }
        log("deploy: user API and compute API (uvicorn processes)")
        workers = ["--workers", str(api_workers)]
        # Both start at once: most of their start-up is importing, on separate cores.
        user_api = start_api("user-api", ["api", *workers], env, work)
        stack.callback(user_api.stop)
        compute_api = start_api("compute-api", ["compute", "api", *workers], env, work)
        stack.callback(compute_api.stop)
        user_api.wait_ready()
        compute_api.wait_ready()
        version = driver.execute_query(
            "CALL dbms.components() YIELD versions, edition RETURN versions[0] + ' ' + edition AS v"
        ).records[0]["v"]
        yield Deployment(
            stores=Stores(statestore, objectstore),
            driver=driver,
            user_api=user_api,
            compute_api=compute_api,
            keys=keys,
            s3_settings=s3_settings,
            work=work,
            neo4j_version=str(version),
            api_workers=api_workers,
        )
