"""Setup: one network of a few bench Transformations, its Tasks created but not yet actioned."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from alchemiscale_like.models import (
    AlchemicalNetwork,
    ChemicalSystem,
    Scope,
    ScopedKey,
    SmallMoleculeComponent,
    Transformation,
)
from alchemiscale_like.services.networks import submit_network
from devtools.bench.api.deployment import ORG, Deployment
from devtools.bench.compute.protocol import BenchSleepProtocol, BenchSleepSettings
from devtools.bench.compute.tasks import TASK_BATCH


@dataclass
class LoadNetwork:
    """A submitted network of ``len(transformations)`` bench Transformations in ``scope``."""

    scope: Scope
    network: ScopedKey
    transformations: list[ScopedKey]
    n_units: int

    def create_tasks(self, deployment: Deployment, count: int) -> list[ScopedKey]:
        """Create ``count`` Tasks spread round-robin over the Transformations (not actioned:
        nothing can claim them yet)."""
        statestore = deployment.stores.statestore
        tasks: list[ScopedKey] = []
        for start in range(0, count, TASK_BATCH):
            stop = min(start + TASK_BATCH, count)
            batch = [
                self.transformations[i % len(self.transformations)] for i in range(start, stop)
            ]
            tasks += statestore.create_tasks(batch)
        return tasks

    def action(self, deployment: Deployment, tasks: list[ScopedKey]) -> None:
        """Action ``tasks`` on the network's TaskHub: from here on they are claimable."""
        statestore = deployment.stores.statestore
        for start in range(0, len(tasks), TASK_BATCH):
            statestore.action_tasks(tasks[start : start + TASK_BATCH], self.network)


def load_network(
    deployment: Deployment, campaign: str, n_transformations: int, n_units: int, seconds: float
) -> LoadNetwork:
    """Submit a chain of ``n_transformations`` Transformations (system i -> i + 1), each a
    :class:`BenchSleepProtocol` of ``n_units`` x ``seconds``, in scope ``{ORG}-{campaign}-run``."""
    protocol = BenchSleepProtocol(settings=BenchSleepSettings(n_units=n_units, seconds=seconds))
    systems = [
        ChemicalSystem(
            components={"ligand": SmallMoleculeComponent(smiles="C" * (i + 1))},
            name=f"{campaign}-{i}",
        )
        for i in range(n_transformations + 1)
    ]
    edges = [
        Transformation(
            stateA=systems[i], stateB=systems[i + 1], protocol=protocol, name=f"{campaign}-{i}"
        )
        for i in range(n_transformations)
    ]
    scope = Scope.from_str(f"{ORG}-{campaign}-run")
    chain: Any = json.loads(AlchemicalNetwork(edges=edges, name=campaign).to_json())
    network = submit_network(deployment.stores, chain, scope)
    transformations = deployment.stores.statestore.get_network_transformations(network)
    return LoadNetwork(scope, network, list(transformations), n_units)
