"""Network measurements: ``assemble_network`` of 2,000 transformations and reading it back."""

from __future__ import annotations

import functools
import json
import statistics
from typing import Any

from alchemiscale_like.models import (
    AlchemicalNetwork,
    ChemicalSystem,
    Scope,
    ScopedKey,
    SmallMoleculeComponent,
    Transformation,
)
from alchemiscale_like.protocols import HarmonicTIProtocol, HarmonicTISettings
from alchemiscale_like.storage.statestore.records import NetworkRecord, network_record_from_chain
from devtools.bench.statestore.bench import Bench
from devtools.bench.statestore.measurement import Measurement, interleaved, load, timed


def build_network(name: str, n_systems: int, first_k: float = 1.0) -> AlchemicalNetwork:
    """``2 * n_systems`` transformations ``i -> i+1`` and ``i -> i+2`` over a ring of systems."""
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
    ]
    return AlchemicalNetwork(edges=edges, name=name)


def bare_network_params(record: NetworkRecord, scope: Scope) -> dict[str, Any]:
    """The bare baseline's parameters for the same network under ``scope``
    (see ``Backend.bare_submit_network``)."""

    def sk(key: str) -> str:
        return str(ScopedKey.from_key(key, scope))

    return {
        "network": sk(record.key),
        "systems": [{"scoped_key": sk(s.key), "name": s.name} for s in record.chemical_systems],
        "transformations": [
            {
                "scoped_key": sk(t.key),
                "name": t.name,
                "state_a": sk(t.state_a),
                "state_b": sk(t.state_b),
            }
            for t in record.transformations
        ],
    }


def bench_network(bench: Bench, repeats: int = 3) -> None:
    """Submit the 2,000-transformation network (once cold, then ``repeats`` times) and
    read it back. Each submission goes to a fresh scope, so it creates every node."""
    n_systems = bench.sizes.systems
    build_s, network = timed(functools.partial(build_network, "bench-network", n_systems))
    json_s, chain = timed(lambda: json.loads(network.to_json()))
    verify_s, record = timed(functools.partial(network_record_from_chain, chain))
    assert len(record.transformations) == 2 * n_systems
    assert len(record.chemical_systems) == n_systems
    bench.results["client_network_record_from_chain"] = Measurement(
        verify_s,
        "s",
        details={
            "what": "keyed-chain verification and extraction on the client (not the store's time)",
            "building_the_network_objects_s": round(build_s, 4),
            "to_json_and_back_s": round(json_s, 4),
            "chain_entries": len(chain),
        },
    )

    submit_runs: list[float] = []
    bare_runs: list[float] = []
    cold_s = 0.0
    for rep in range(repeats + 1):
        scope = Scope.from_str(f"bench-statestore-net{rep}")
        seconds, sk = timed(functools.partial(bench.store.assemble_network, record, scope))
        params = bare_network_params(record, scope)
        bare_s, _ = timed(functools.partial(bench.backend.bare_submit_network, params))
        if rep == 0:
            cold_s = seconds
        else:
            submit_runs.append(seconds)
            bare_runs.append(bare_s)
        bench.network = sk
    assert bench.network is not None
    network_sk = bench.network
    resubmit_s, again = timed(
        functools.partial(
            bench.store.assemble_network,
            record,
            Scope.from_str(f"bench-statestore-net{repeats}"),
        )
    )
    assert again == network_sk
    bench.results["submit_network"] = Measurement(
        statistics.median(submit_runs),
        "s",
        target=3.0,
        alchemiscale="103 s",
        baseline=statistics.median(bare_runs),
        runs=submit_runs,
        baseline_query=bench.backend.baseline_queries["submit_network"],
        details={
            "transformations": len(record.transformations),
            "chemical_systems": len(record.chemical_systems),
            "cold_first_submission_s": round(cold_s, 4),
            "resubmit_same_network_s": round(resubmit_s, 4),
            "load": load(),
        },
    )

    def read_back() -> int:
        return len(bench.store.get_network_transformations(network_sk)) + len(
            bench.store.get_network_chemicalsystems(network_sk)
        )

    def bare_read_back() -> int:
        return bench.backend.bare_read_network(network_sk)

    cold_read_s, total = timed(read_back)
    assert total == bare_read_back() == len(record.transformations) + n_systems
    read_runs, bare_runs = interleaved(read_back, bare_read_back, 5)
    bench.results["read_network"] = Measurement(
        statistics.median(read_runs),
        "s",
        target=3.0,
        alchemiscale="71 min",
        baseline=statistics.median(bare_runs),
        runs=read_runs,
        baseline_query=bench.backend.baseline_queries["read_network"],
        details={"cold_first_read_s": round(cold_read_s, 4), "load": load()},
    )
    bench.transformations = bench.store.get_network_transformations(network_sk)
    bench.backend.profile_network(network_sk)
