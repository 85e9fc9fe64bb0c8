"""Network submission: ``UserClient.create_network`` of 2,000 transformations."""

from __future__ import annotations

import functools
import json
import time

from alchemiscale_like.models import (
    AlchemicalNetwork,
    ChemicalSystem,
    Scope,
    SmallMoleculeComponent,
    Transformation,
)
from alchemiscale_like.protocols import HarmonicTIProtocol, HarmonicTISettings
from alchemiscale_like.services.networks import begin_submission, store_members
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
    members_after: list[float] = []
    base_members: list[float] = []
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
            # The server stores the transformations' own objects after answering: wait
            # for them, so that they do not overlap the baseline, and report the time.
            members_s, _ = timed(functools.partial(_wait_for_objects, deployment, api_net))
            chain = json.loads(base_net.to_json())
            base_s, submission = timed(
                functools.partial(begin_submission, deployment.stores, chain, base_scope)
            )
            base_members_s, _ = timed(
                functools.partial(store_members, deployment.stores, submission)
            )
            log(
                f"submit {rep}: api {api_s:.2f} s (+{members_s:.2f} s members), "
                f"in-process {base_s:.2f} s (+{base_members_s:.2f} s members)"
            )
            if rep == 0:
                cold = {"api_s": round(api_s, 3), "in_process_s": round(base_s, 3)}
                continue
            api_runs.append(api_s)
            base_runs.append(base_s)
            members_after.append(members_s)
            base_members.append(base_members_s)
        last_scope = Scope.from_str(f"{ORG}-net-api{repeats}")
        resubmit_s, _ = timed(functools.partial(client.create_network, api_net, last_scope))
    finally:
        client.close()
    measurement = Measurement(
        median(api_runs),
        "s",
        baseline=median(base_runs),
        baseline_call="services.networks.begin_submission(stores, chain, scope) in-process "
        "(the work the API does before answering; chain already decoded; a different "
        "fresh network each time)",
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
            "members_stored_after_answer_s_median": round(median(members_after), 3),
            "members_note": "the transformations' own objects are stored after the answer "
            "(a read before that takes one from the network and stores it)",
            "in_process_store_members_s_median": round(median(base_members), 3),
            "resubmit_same_network_s": round(resubmit_s, 4),
            "load": load(),
        },
    )
    return {"submit_network": measurement}


#: How long the server may take to store a network's members after answering.
_MEMBERS_TIMEOUT = 300.0


def _wait_for_objects(deployment: Deployment, network: AlchemicalNetwork) -> None:
    """Until every transformation of ``network`` has its own stored object."""
    store = deployment.stores.objectstore
    deadline = time.monotonic() + _MEMBERS_TIMEOUT
    for transformation in reversed(network.edges):
        while not store.has_object(transformation.key):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{transformation.key} not stored after {_MEMBERS_TIMEOUT} s")
            time.sleep(0.05)
