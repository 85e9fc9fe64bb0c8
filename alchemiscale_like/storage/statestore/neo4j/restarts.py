"""Task restart patterns in Neo4j."""

from __future__ import annotations

from collections.abc import Sequence

from neo4j import ManagedTransaction

from alchemiscale_like.models.scope import ScopedKey
from alchemiscale_like.storage.statestore.base import RestartPatternStore
from alchemiscale_like.storage.statestore.neo4j.connection import Neo4jConnection, single
from alchemiscale_like.storage.statestore.records import RestartPattern
from alchemiscale_like.storage.statestore.rules import validate_patterns

ADD_PATTERNS = """
MATCH (th:TaskHub {network: $network})
UNWIND $patterns AS pattern
MERGE (p:TaskRestartPattern {uid: th.scoped_key + '/' + pattern})
  ON CREATE SET p.pattern = pattern
SET p.max_retries = $max_retries
MERGE (p)-[:ENFORCES]->(th)
"""

REMOVE_PATTERNS = """
MATCH (th:TaskHub {network: $network})<-[:ENFORCES]-(p:TaskRestartPattern)
WHERE p.pattern IN $patterns
DETACH DELETE p
"""

GET_PATTERNS = """
MATCH (th:TaskHub {network: $network})
OPTIONAL MATCH (th)<-[:ENFORCES]-(p:TaskRestartPattern)
RETURN th.network AS network, collect([p.pattern, p.max_retries]) AS patterns
"""


class Neo4jRestartPatterns(RestartPatternStore):
    """RestartPatternStore on Neo4j."""

    _db: Neo4jConnection

    def _require_hub(self, tx: ManagedTransaction, network: ScopedKey) -> None:
        found = list(
            tx.run(
                "MATCH (th:TaskHub {network: $network}) RETURN th.network AS n",
                network=str(network),
            )
        )
        single(found, f"TaskHub of network {network}")

    def add_task_restart_patterns(
        self, network: ScopedKey, patterns: Sequence[str], max_retries: int
    ) -> None:
        checked = validate_patterns(patterns, max_retries)

        def work(tx: ManagedTransaction) -> None:
            self._require_hub(tx, network)
            tx.run(
                ADD_PATTERNS, network=str(network), patterns=checked, max_retries=max_retries
            ).consume()

        self._db.write(work)

    def remove_task_restart_patterns(self, network: ScopedKey, patterns: Sequence[str]) -> None:
        def work(tx: ManagedTransaction) -> None:
            self._require_hub(tx, network)
            tx.run(REMOVE_PATTERNS, network=str(network), patterns=list(patterns)).consume()

        self._db.write(work)

    def get_task_restart_patterns(self, network: ScopedKey) -> list[RestartPattern]:
        record = single(
            self._db.query(GET_PATTERNS, network=str(network)), f"TaskHub of network {network}"
        )
        return sorted(
            (
                RestartPattern(pattern=p, max_retries=m)
                for p, m in record["patterns"]
                if p is not None
            ),
            key=lambda r: r.pattern,
        )
