"""Setup: a one-transformation network of the bench protocol and waiting Tasks on it."""

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

#: Tasks are created and actioned in batches of this many (bulk writes).
TASK_BATCH = 5_000


@dataclass
class BenchNetwork:
    """One submitted network of one bench Transformation, in its own scope."""

    scope: Scope
    network: ScopedKey
    transformation_sk: ScopedKey
    transformation: Transformation

    def add_tasks(self, deployment: Deployment, count: int) -> list[ScopedKey]:
        """Create ``count`` Tasks of the Transformation and action them (in-process)."""
        statestore = deployment.stores.statestore
        tasks: list[ScopedKey] = []
        for start in range(0, count, TASK_BATCH):
            batch = [self.transformation_sk] * min(TASK_BATCH, count - start)
            created = statestore.create_tasks(batch)
            statestore.action_tasks(created, self.network)
            tasks += created
        return tasks


def bench_network(
    deployment: Deployment, campaign: str, n_units: int, seconds: float
) -> BenchNetwork:
    """Submit a network with one Transformation whose DAGs are ``n_units`` x ``seconds``,
    in scope ``{ORG}-{campaign}-run``."""
    protocol = BenchSleepProtocol(settings=BenchSleepSettings(n_units=n_units, seconds=seconds))
    systems = [
        ChemicalSystem(
            components={"ligand": SmallMoleculeComponent(smiles=smiles)}, name=f"{campaign}-{i}"
        )
        for i, smiles in enumerate(("C", "CC"))
    ]
    transformation = Transformation(
        stateA=systems[0], stateB=systems[1], protocol=protocol, name=f"{campaign}-chain"
    )
    scope = Scope.from_str(f"{ORG}-{campaign}-run")
    chain: Any = json.loads(AlchemicalNetwork(edges=[transformation], name=campaign).to_json())
    network = submit_network(deployment.stores, chain, scope)
    (transformation_sk,) = deployment.stores.statestore.get_network_transformations(network)
    return BenchNetwork(scope, network, transformation_sk, transformation)
