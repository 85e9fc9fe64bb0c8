"""Networks, transformations and chemical systems in Neo4j."""

from __future__ import annotations

from collections.abc import Sequence

from neo4j import ManagedTransaction

from alchemiscale_like.errors import AlreadyExists, NotFound
from alchemiscale_like.models.scope import Scope, ScopedKey
from alchemiscale_like.storage.statestore.base import NetworkStore
from alchemiscale_like.storage.statestore.neo4j.connection import (
    SCOPE_FILTER,
    Neo4jConnection,
    scope_params,
    single,
    sk_props,
    taskhub_key,
)
from alchemiscale_like.storage.statestore.records import NetworkRecord, NetworkState
from alchemiscale_like.storage.statestore.rules import DEFAULT_TASKHUB_WEIGHT, parse_network_state

MERGE_NETWORK = """
MERGE (n:AlchemicalNetwork {scoped_key: $network.scoped_key})
  ON CREATE SET n += $network, n.state = $state
MERGE (th:TaskHub {scoped_key: $hub})
  ON CREATE SET th.network = $network.scoped_key, th.weight = $hub_weight
MERGE (th)-[:PERFORMS]->(n)
"""

MERGE_SYSTEMS = """
MATCH (n:AlchemicalNetwork {scoped_key: $network})
UNWIND $systems AS s
MERGE (c:ChemicalSystem {scoped_key: s.scoped_key})
  ON CREATE SET c += s
MERGE (n)-[:CONTAINS]->(c)
"""

MERGE_TRANSFORMATIONS = """
MATCH (n:AlchemicalNetwork {scoped_key: $network})
UNWIND $transformations AS t
MERGE (tf:Transformation {scoped_key: t.node.scoped_key})
  ON CREATE SET tf += t.node
MERGE (n)-[:CONTAINS]->(tf)
WITH tf, t
MATCH (a:ChemicalSystem {scoped_key: t.state_a}), (b:ChemicalSystem {scoped_key: t.state_b})
MERGE (tf)-[:STATE_A]->(a)
MERGE (tf)-[:STATE_B]->(b)
"""

SET_NETWORK_STATE = """
UNWIND $networks AS sk
MATCH (n:AlchemicalNetwork {scoped_key: sk})
SET n.state = $state
RETURN n.scoped_key AS sk
"""

NETWORK_PROPERTY = (
    "MATCH (n:AlchemicalNetwork {scoped_key: $sk}) RETURN n.state AS state, n.name AS name"
)

QUERY_NETWORKS = f"""
MATCH (n:AlchemicalNetwork)
WHERE {SCOPE_FILTER}
  AND ($name IS NULL OR n.name CONTAINS $name)
  AND ($state IS NULL OR n.state = $state)
RETURN n.scoped_key AS sk ORDER BY sk
"""

QUERY_TRANSFORMATIONS = f"""
MATCH (n:Transformation)
WHERE {SCOPE_FILTER} AND ($name IS NULL OR n.name CONTAINS $name)
RETURN n.scoped_key AS sk ORDER BY sk
"""

NETWORK_MEMBERS = """
MATCH (n:AlchemicalNetwork {scoped_key: $sk})
OPTIONAL MATCH (n)-[:CONTAINS]->(m)
WHERE $label IN labels(m)
RETURN n.scoped_key AS network, collect(m.scoped_key) AS members
"""

TRANSFORMATION_NETWORKS = """
MATCH (tf:Transformation {scoped_key: $sk})
OPTIONAL MATCH (n:AlchemicalNetwork)-[:CONTAINS]->(tf)
RETURN tf.protocol AS protocol, collect(n.scoped_key) AS networks
"""


def _sorted_keys(values: list[str]) -> list[ScopedKey]:
    return [ScopedKey.from_str(v) for v in sorted(values)]


class Neo4jNetworks(NetworkStore):
    """NetworkStore on Neo4j."""

    _db: Neo4jConnection

    def assemble_network(
        self, network: NetworkRecord, scope: Scope, state: str = "active"
    ) -> ScopedKey:
        scope.require_specific()
        checked = parse_network_state(state)
        sk = ScopedKey.from_key(network.key, scope)
        systems = [
            sk_props(ScopedKey.from_key(s.key, scope)) | {"name": s.name}
            for s in network.chemical_systems
        ]
        transformations = [
            {
                "node": sk_props(ScopedKey.from_key(t.key, scope))
                | {"name": t.name, "protocol": t.protocol, "qualname": t.qualname},
                "state_a": str(ScopedKey.from_key(t.state_a, scope)),
                "state_b": str(ScopedKey.from_key(t.state_b, scope)),
            }
            for t in network.transformations
        ]

        def work(tx: ManagedTransaction) -> None:
            tx.run(
                MERGE_NETWORK,
                network=sk_props(sk) | {"name": network.name},
                hub=taskhub_key(sk),
                state=checked.value,
                hub_weight=DEFAULT_TASKHUB_WEIGHT,
            ).consume()
            tx.run(MERGE_SYSTEMS, network=str(sk), systems=systems).consume()
            tx.run(
                MERGE_TRANSFORMATIONS, network=str(sk), transformations=transformations
            ).consume()

        try:
            self._db.write(work)
        except AlreadyExists:
            # A concurrent submission of an overlapping network won the race to
            # create a shared node; MERGE now finds it, so one more pass succeeds.
            self._db.write(work)
        return sk

    def set_network_state(self, networks: Sequence[ScopedKey], state: str) -> None:
        checked = parse_network_state(state)
        wanted = sorted({str(n) for n in networks})

        def work(tx: ManagedTransaction) -> list[str]:
            found = [
                r["sk"]
                for r in tx.run(
                    "UNWIND $networks AS sk MATCH (n:AlchemicalNetwork {scoped_key: sk}) RETURN sk",
                    networks=wanted,
                )
            ]
            missing = set(wanted) - set(found)
            if missing:
                raise NotFound(f"unknown networks: {sorted(missing)}")
            return [
                r["sk"] for r in tx.run(SET_NETWORK_STATE, networks=wanted, state=checked.value)
            ]

        self._db.write(work)

    def get_network_state(self, network: ScopedKey) -> NetworkState:
        record = single(self._db.query(NETWORK_PROPERTY, sk=str(network)), f"network {network}")
        return NetworkState(record["state"])

    def get_network_name(self, network: ScopedKey) -> str:
        record = single(self._db.query(NETWORK_PROPERTY, sk=str(network)), f"network {network}")
        return str(record["name"])

    def query_networks(
        self, name: str | None = None, scope: Scope | None = None, state: str | None = "active"
    ) -> list[ScopedKey]:
        wanted = None if state is None else parse_network_state(state).value
        records = self._db.query(QUERY_NETWORKS, name=name, state=wanted, **scope_params(scope))
        return [ScopedKey.from_str(r["sk"]) for r in records]

    def query_transformations(
        self, name: str | None = None, scope: Scope | None = None
    ) -> list[ScopedKey]:
        records = self._db.query(QUERY_TRANSFORMATIONS, name=name, **scope_params(scope))
        return [ScopedKey.from_str(r["sk"]) for r in records]

    def _members(self, network: ScopedKey, label: str) -> list[ScopedKey]:
        record = single(
            self._db.query(NETWORK_MEMBERS, sk=str(network), label=label), f"network {network}"
        )
        return _sorted_keys(record["members"])

    def get_network_transformations(self, network: ScopedKey) -> list[ScopedKey]:
        return self._members(network, "Transformation")

    def get_network_chemicalsystems(self, network: ScopedKey) -> list[ScopedKey]:
        return self._members(network, "ChemicalSystem")

    def get_transformation_networks(self, transformation: ScopedKey) -> list[ScopedKey]:
        record = single(
            self._db.query(TRANSFORMATION_NETWORKS, sk=str(transformation)),
            f"transformation {transformation}",
        )
        return _sorted_keys(record["networks"])

    def get_transformation_protocol(self, transformation: ScopedKey) -> str:
        record = single(
            self._db.query(TRANSFORMATION_NETWORKS, sk=str(transformation)),
            f"transformation {transformation}",
        )
        return str(record["protocol"])
