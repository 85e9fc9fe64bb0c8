"""Network submission: ``UserClient.create_network`` of 2,000 transformations."""

from __future__ import annotations

import functools
import json

from alchemiscale_like.models import (
    AlchemicalNetwork,
    ChemicalSystem,
    Scope,
    SmallMoleculeComponent,
    Transformation,
)
from alchemiscale_like.protocols import HarmonicTIProtocol, HarmonicTISettings
from alchemiscale_like.services.networks import submit_network
from devtools.bench.api.deployment import ORG, Deployment
from devtools.bench.api.measurement import Measurement, load, median, timed
from devtools.bench.api.report import log


def build_network(n_transformations: int, first_k: float, name: str) -> AlchemicalNetwork:
    """``n_transformations`` edges ``i -> i+1`` and ``i -> i+2`` over a ring of
    ``ceil(n/2)`` systems (at least 3); ``first_k`` makes every key of the network new."""
    n_systems = max(3, -(-n_transformations // 2))
    protocol = HarmonicTIProtocol(settings=HarmonicTISettings())
    systems = [
        ChemicalSystem(
            components={
                "ligand": SmallMoleculeComponent(
                    smiles="C", properties={"spring_constant": first_k + i}
                )
            },
            name=f"system-{i}",
        )
        for i in range(n_systems)
    ]
    edges = [
        Transformation(
            stateA=systems[i],
            stateB=systems[(i + step) % n_systems],
            protocol=protocol,
            name=f"edge-{i}-{step}",
        )
        for step in (1, 2)
        for i in range(n_systems)
    ][:n_transformations]
    return AlchemicalNetwork(edges=edges, name=name)


def bench_submission(
    deployment: Deployment, n_transformations: int, repeats: int
) -> dict[str, Measurement]:
    """Submit a fresh network (new content, new scope) through the client and, in turn, the
    same way in-process; once cold each, then ``repeats`` times each, interleaved."""
    client = deployment.user_client()
    api_runs: list[float] = []
    base_runs: list[float] = []
    cold: dict[str, float] = {}
    client_side: list[float] = []
    chain_bytes = 0
    try:
        for rep in range(repeats + 1):
            # Distinct spring constants: every object is new to both stores each time.
            api_net = build_network(n_transformations, 1.0 + 2 * rep * 10_000, f"api-{rep}")
            base_net = build_network(n_transformations, 1.0 + (2 * rep + 1) * 10_000, f"base-{rep}")
            to_json_s, text = timed(api_net.to_json)
            client_side.append(to_json_s)
            chain_bytes = len(text.encode())
            api_scope = Scope.from_str(f"{ORG}-net-api{rep}")
            base_scope = Scope.from_str(f"{ORG}-net-base{rep}")
            api_s, _ = timed(functools.partial(client.create_network, api_net, api_scope))
            chain = json.loads(base_net.to_json())
            base_s, _ = timed(
                functools.partial(submit_network, deployment.stores, chain, base_scope)
            )
            log(f"submit {rep}: api {api_s:.2f} s, in-process {base_s:.2f} s")
            if rep == 0:
                cold = {"api_s": round(api_s, 3), "in_process_s": round(base_s, 3)}
                continue
            api_runs.append(api_s)
            base_runs.append(base_s)
        last_scope = Scope.from_str(f"{ORG}-net-api{repeats}")
        resubmit_s, _ = timed(functools.partial(client.create_network, api_net, last_scope))
    finally:
        client.close()
    measurement = Measurement(
        median(api_runs),
        "s",
        baseline=median(base_runs),
        baseline_call="services.networks.submit_network(stores, chain, scope) in-process "
        "(chain already decoded; a different fresh network each time)",
        target=3.0,
        runs=api_runs,
        baseline_runs=base_runs,
        details={
            "what": "UserClient.create_network end to end (to_json, request, verify, "
            "object store, state store), a fresh network and scope each time",
            "transformations": n_transformations,
            "chain_json_bytes": chain_bytes,
            "client_to_json_s_median": round(median(client_side), 4),
            "cold_first": cold,
            "resubmit_same_network_s": round(resubmit_s, 4),
            "load": load(),
        },
    )
    return {"submit_network": measurement}
