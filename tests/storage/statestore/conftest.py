"""The state-store conformance suite runs every test against every backend."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import pytest

from alchemiscale_like.models import (
    AlchemicalNetwork,
    ChemicalSystem,
    Scope,
    ScopedKey,
    Transformation,
)
from alchemiscale_like.models.task import TaskStatus
from alchemiscale_like.protocols import HarmonicTIProtocol, HarmonicTISettings
from alchemiscale_like.protocols.testing import SleepProtocol, SleepSettings
from alchemiscale_like.storage.statestore.base import StateStore
from alchemiscale_like.storage.statestore.records import (
    ProtocolDAGRef,
    ProtocolDAGResultRef,
    network_record_from_chain,
)
from alchemiscale_like.storage.statestore.sqlite import SQLiteStateStore
from tests.execution.conftest import make_system

BACKENDS = ["neo4j", "sqlite"]

SCOPE = Scope.from_str("org-campaign-project")


@pytest.fixture(params=BACKENDS)
def statestore(request, tmp_path) -> Iterator[StateStore]:
    """A clean, initialized state store of each backend."""
    if request.param == "neo4j":
        request.getfixturevalue("neo4j_clean_driver")
        yield request.getfixturevalue("neo4j_statestore")
        return
    if request.param == "sqlite":
        store = SQLiteStateStore(tmp_path / "state.sqlite3")
        store.initialize()
        yield store
        store.close()
        return
    raise AssertionError(f"unknown backend {request.param}")


def build_network(
    name: str = "net", n_edges: int = 2, protocol=None, k0: float = 1.0
) -> AlchemicalNetwork:
    protocol = protocol or HarmonicTIProtocol(settings=HarmonicTISettings())
    systems: list[ChemicalSystem] = [make_system(k0 + i) for i in range(n_edges + 1)]
    edges = [
        Transformation(stateA=systems[0], stateB=s, protocol=protocol, name=f"{name}-{i}")
        for i, s in enumerate(systems[1:])
    ]
    return AlchemicalNetwork(edges=edges, name=name)


def mixed_protocol_network() -> AlchemicalNetwork:
    a, b, c = (make_system(k) for k in (1.0, 2.0, 3.0))
    return AlchemicalNetwork(
        name="mixed",
        edges=[
            Transformation(
                stateA=a, stateB=b, protocol=HarmonicTIProtocol(settings=HarmonicTISettings())
            ),
            Transformation(stateA=a, stateB=c, protocol=SleepProtocol(settings=SleepSettings())),
        ],
    )


def submit(
    store: StateStore, network: AlchemicalNetwork, scope: Scope = SCOPE, state: str = "active"
) -> ScopedKey:
    return store.assemble_network(
        network_record_from_chain(json.loads(network.to_json())), scope, state
    )


def dag_ref(n_units: int = 3, tag: str = "a") -> ProtocolDAGRef:
    return ProtocolDAGRef(
        key=f"ProtocolDAG-{tag * 32}", relpath=f"dag-{tag}.json.zst", n_units=n_units
    )


def dag_result_ref(ok: bool, tag: str = "b") -> ProtocolDAGResultRef:
    return ProtocolDAGResultRef(
        key=f"ProtocolDAGResult-{tag * 32}",
        ok=ok,
        relpath=f"results/{tag}.json.zst",
        created=dt.datetime.now(dt.UTC),
    )


class World:
    """A submitted network with actioned tasks and a registered service, for brevity in tests."""

    def __init__(self, store: StateStore, n_tasks: int = 3, service: str = "svc-1") -> None:
        self.store = store
        self.network = submit(store, build_network())
        self.transformations = store.get_network_transformations(self.network)
        self.tasks = store.create_tasks([self.transformations[0]] * n_tasks)
        store.action_tasks(self.tasks, self.network)
        self.service = service
        store.register_computeservice(service)

    def claim_one(self, service: str | None = None) -> ScopedKey:
        (task,) = self.store.claim_tasks(service or self.service, 1)
        return task

    def put_in_status(self, status: TaskStatus) -> ScopedKey:
        """A fresh task of the network driven to ``status`` through legal steps."""
        (task,) = self.store.create_tasks([self.transformations[1]])
        self.store.action_tasks([task], self.network)
        if status == TaskStatus.WAITING:
            return task
        if status in (TaskStatus.INVALID, TaskStatus.DELETED):
            self.store.set_task_status([task], status)
            return task
        self.store.set_task_priority([task], 1)
        claimed = self.claim_one()
        assert claimed == task
        if status == TaskStatus.RUNNING:
            return task
        self.store.set_task_dag(task, self.service, dag_ref())
        self.store.finish_task(task, self.service, dag_result_ref(ok=status == TaskStatus.COMPLETE))
        return task
