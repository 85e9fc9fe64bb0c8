"""Shared by the security and hostile-input tests: raw HTTP, error shapes, store snapshots, a world.

Everything here talks to the real deployment (uvicorn, Neo4j, S3Proxy):
:func:`snapshot` reads the whole graph and every stored object, so "nothing
changed" means exactly that.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import neo4j
import requests

from alchemiscale_like import ComputeClient, UserClient
from alchemiscale_like.execution.dag_executor import DAGExecutor
from alchemiscale_like.execution.fetcher import FileFetcher
from alchemiscale_like.execution.unit_executor import UnitExecutor
from alchemiscale_like.models import (
    AlchemicalNetwork,
    ChemicalSystem,
    ProtocolUnitResult,
    ResultFile,
    ScopedKey,
    SmallMoleculeComponent,
    SolventComponent,
    Transformation,
)
from alchemiscale_like.models.protocoldag import ProtocolDAG, ProtocolDAGResult
from alchemiscale_like.protocols.testing import FileProtocol, FileSettings
from alchemiscale_like.services import claims
from alchemiscale_like.services.stores import Stores
from alchemiscale_like.storage.objectstore import ObjectStore
from tests.server.conftest import KEYS, SCOPE, Deployment

#: Seconds any one request of these tests may take before it counts as hung.
TIMEOUT = 60


def token(url: str, name: str, key: str | None = None) -> str:
    """An access token of ``name`` from the API at ``url``."""
    answer = requests.post(
        f"{url}/token",
        data={"username": name, "password": KEYS[name] if key is None else key},
        timeout=TIMEOUT,
    )
    assert answer.status_code == 200, answer.text
    jwt: str = answer.json()["access_token"]
    return jwt


def bearer(jwt: str) -> dict[str, str]:
    """The Authorization header of ``jwt``."""
    return {"Authorization": f"Bearer {jwt}"}


def assert_error(response: requests.Response, status: int, error: str | None = None) -> str:
    """Assert ``response`` is the project's JSON error with ``status``; return its detail."""
    assert response.status_code == status, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert set(body) == {"error", "detail"}, body
    assert isinstance(body["error"], str), body
    assert isinstance(body["detail"], str), body
    if error is not None:
        assert body["error"] == error, body
    detail: str = body["detail"]
    return detail


def assert_healthy(deployment: Deployment) -> None:
    """Both apps still answer ``/ping``."""
    for url in (deployment.user_url, deployment.compute_url):
        answer = requests.get(f"{url}/ping", timeout=TIMEOUT)
        assert (answer.status_code, answer.json()) == (200, {"status": "ok"})


# -- snapshots ---------------------------------------------------------------------------------

_NODES = "MATCH (n) RETURN elementId(n) AS id, labels(n) AS labels, properties(n) AS props"
_EDGES = """
MATCH (a)-[r]->(b)
RETURN elementId(a) AS a, type(r) AS type, properties(r) AS props, elementId(b) AS b
"""


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)  # neo4j temporal types


def _props(props: dict[str, Any], ignore: frozenset[str]) -> str:
    kept = {k: _plain(v) for k, v in props.items() if k not in ignore}
    return json.dumps(kept, sort_keys=True)


@dataclass(frozen=True)
class Snapshot:
    """Every node and relationship of the graph and every stored object, comparable."""

    nodes: tuple[str, ...]
    edges: tuple[str, ...]
    objects: tuple[tuple[str, int, str], ...]


def snapshot(
    driver: neo4j.Driver,
    objectstore: ObjectStore,
    ignore: frozenset[str] = frozenset(),
    *,
    digests: bool = True,
) -> Snapshot:
    """The whole state of both stores (node/edge properties named in ``ignore`` left out).

    Nodes are named by their properties, not their element ids, so the snapshot
    says nothing about how the graph was built, only what is in it. Objects are
    listed with their size and (``digests``, one request per object) their sha256.
    """
    with driver.session() as session:
        nodes = {r["id"]: (r["labels"], r["props"]) for r in session.run(_NODES)}
        edges = list(session.run(_EDGES))
    names = {
        node_id: f"{sorted(labels)}{_props(props, ignore)}"
        for node_id, (labels, props) in nodes.items()
    }
    edge_texts = sorted(
        f"{names[e['a']]} -[{e['type']} {_props(e['props'], ignore)}]-> {names[e['b']]}"
        for e in edges
    )
    objects = tuple(
        (o.location, o.stored_size, objectstore.stat(o.location).sha256 if digests else "")
        for o in objectstore.list_objects()
    )
    return Snapshot(tuple(sorted(names.values())), tuple(edge_texts), objects)


# -- a small world: a network, a finished task, a held task, a waiting task ---------------------


def small_systems(name: str, count: int) -> list[ChemicalSystem]:
    """``count`` distinct small ChemicalSystems (a ligand in solvent), named ``{name}-{i}``."""
    solvent = SolventComponent()
    return [
        ChemicalSystem(
            name=f"{name}-{i}",
            components={
                "ligand": SmallMoleculeComponent(name=f"lig{i}", smiles="C" * (i + 1)),
                "solvent": solvent,
            },
        )
        for i in range(count)
    ]


def file_network(name: str = "files") -> AlchemicalNetwork:
    """One cheap Transformation (FileProtocol: a producer of one small file and a consumer)."""
    systems = small_systems(name, 2)
    protocol = FileProtocol(settings=FileSettings(n_producers=1, n_files=1, file_size=64))
    edge = Transformation(
        stateA=systems[0], stateB=systems[1], protocol=protocol, name=f"{name}-edge"
    )
    return AlchemicalNetwork(edges=[edge], nodes=systems, name=name)


def user(deployment: Deployment, name: str = "alice") -> UserClient:
    """A user client of ``name``."""
    return UserClient(deployment.user_url, name, KEYS[name], backoff=0.01)


def compute(deployment: Deployment, name: str = "worker", suffix: str = "a") -> ComputeClient:
    """A compute client of identity ``name`` running service ``{name}~{suffix}``."""
    return ComputeClient(
        deployment.compute_url, name, KEYS[name], service_id=f"{name}~{suffix}", backoff=0.01
    )


@dataclass
class LocalRun:
    """A whole DAG run locally (nothing uploaded): its results and their local files."""

    dag: ProtocolDAG
    results: list[ProtocolUnitResult]
    files: dict[str, Path]
    dag_result: ProtocolDAGResult


def run_locally(dag: ProtocolDAG, claim: int, workdir: Path) -> LocalRun:
    """Execute ``dag`` on this machine as claim number ``claim`` would, uploading nothing."""
    results: list[ProtocolUnitResult] = []
    files: dict[str, Path] = {}

    def keep(result: ProtocolUnitResult, produced: dict[str, Path]) -> None:
        results.append(result)
        files.update(produced)

    units = UnitExecutor(
        workdir / "work", workdir / "checkpoints", FileFetcher(workdir / "c"), claim
    )
    dag_result = DAGExecutor(units).execute(dag, [], on_unit_result=keep)
    return LocalRun(dag, results, files, dag_result)


def claimed_with_dag(
    d: Deployment, name: str, suffix: str
) -> tuple[ScopedKey, ComputeClient, Transformation, ProtocolDAG]:
    """Alice's one-task network ``name``; service ``worker~suffix`` claims the task and
    stores its DAG (seed 7), so the compute API remembers the claim."""
    alice = user(d)
    network = alice.create_network(file_network(name), SCOPE)
    (transformation,) = alice.get_network_transformations(network)
    (task,) = alice.create_tasks(transformation)
    alice.action_tasks([task], network)
    service = compute(d, suffix=suffix)
    service.register()
    assert service.claim_tasks() == [task]
    model = service.get_task_transformation(task)
    _, dag = service.set_task_dag(task, model.create(seed=7))
    return task, service, model, dag


#: The lease of :func:`expire_lease` (any length: time is driven past it).
LEASE_SECONDS = 300.0


def expire_lease(d: Deployment, service: ComputeClient) -> None:
    """Run the server's lease rule with a ``now`` past the lease: ``service`` is out."""
    stores = Stores(d.statestore, d.objectstore, lease_seconds=LEASE_SECONDS)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2 * LEASE_SECONDS)
    assert claims.expire_leases(stores, now=later) == [service.service_id]


def upload_run(client: ComputeClient, task: ScopedKey, run: LocalRun, count: int) -> None:
    """Upload the files and results of the first ``count`` units of ``run``."""
    for result in run.results[:count]:
        for ref in result.files:
            stored = client.upload_result_file(
                task, result.source_key, result.attempt, ref.name, run.files[ref.location]
            )
            assert stored == ref
        client.upload_unit_result(task, result)


@dataclass
class World:
    """Alice's objects in SCOPE, each route family's path parameters filled from them.

    ``held_run`` is the held task's whole DAG run locally: valid payloads for its
    remaining uploads (the consumer's result, the DAG result).
    """

    network: ScopedKey
    transformation: ScopedKey
    chemical_system: ScopedKey
    done: ScopedKey
    held: ScopedKey
    waiting: ScopedKey
    pdr_key: str
    file: ResultFile
    held_file: ResultFile
    unit_key: str
    checkpoint: str
    service_id: str
    file_bytes: bytes
    held_run: LocalRun


def seed_world(deployment: Deployment, workdir: Path) -> World:
    """Alice's network with three tasks: one complete, one held by ``worker~a``, one waiting.

    The held task has its DAG, its producer's result and file, and a checkpoint.
    """
    alice = user(deployment)
    network = alice.create_network(file_network(), SCOPE)
    (transformation,) = alice.get_network_transformations(network)
    tasks = alice.create_tasks(transformation, count=3)
    alice.action_tasks(tasks, network)
    alice.add_task_restart_patterns(network, ["never-matches"], 1)
    worker = compute(deployment)
    worker.register()

    (done,) = worker.claim_tasks()
    model = worker.get_task_transformation(done)
    _, dag = worker.set_task_dag(done, model.create(seed=5))
    run = run_locally(dag, worker.get_task(done).attempts, workdir / "done")
    upload_run(worker, done, run, len(run.results))
    ref, _ = worker.finish_task(done, run.dag_result)

    (held,) = worker.claim_tasks()
    _, held_dag = worker.set_task_dag(held, model.create(seed=6))
    held_run = run_locally(held_dag, worker.get_task(held).attempts, workdir / "held")
    upload_run(worker, held, held_run, 1)
    producer = held_run.results[0]
    checkpoint = workdir / "state.json"
    checkpoint.write_bytes(b'{"step": 1}')
    worker.upload_checkpoint(held, producer.source_key, "state.json", checkpoint)

    (waiting,) = [t for t in tasks if t not in (done, held)]
    (file_ref,) = run.results[0].files
    file_bytes = run.files[file_ref.location].read_bytes()
    assert hashlib.sha256(file_bytes).hexdigest() == file_ref.sha256
    (system, *_) = alice.get_network_chemicalsystems(network)
    return World(
        network=network,
        transformation=transformation,
        chemical_system=system,
        done=done,
        held=held,
        waiting=waiting,
        pdr_key=ref.key,
        file=file_ref,
        held_file=producer.files[0],
        unit_key=producer.source_key,
        checkpoint="state.json",
        service_id=worker.service_id,
        file_bytes=file_bytes,
        held_run=held_run,
    )
