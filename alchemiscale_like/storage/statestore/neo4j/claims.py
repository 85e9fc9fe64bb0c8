"""Compute-service registrations and atomic task claiming in Neo4j."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from typing import Any

from neo4j import ManagedTransaction

from alchemiscale_like.errors import NotFound, ValidationError
from alchemiscale_like.models.scope import Scope, ScopedKey
from alchemiscale_like.storage.statestore.base import ClaimStore
from alchemiscale_like.storage.statestore.neo4j.connection import (
    Neo4jConnection,
    now,
    single,
    to_native,
)
from alchemiscale_like.storage.statestore.records import ComputeServiceRecord

REGISTER = """
MERGE (c:ComputeServiceRegistration {identifier: $identifier})
ON CREATE SET c.registered = $now
SET c.heartbeat = $now, c.protocols = $protocols
RETURN c {.*} AS service
"""

HEARTBEAT = """
MATCH (c:ComputeServiceRegistration {identifier: $identifier})
SET c.heartbeat = $now RETURN c.identifier AS id
"""

GET_SERVICE = """
MATCH (c:ComputeServiceRegistration {identifier: $identifier})
OPTIONAL MATCH (c)-[:CLAIMS]->(t:Task)
RETURN c {.*} AS service, collect(t.scoped_key) AS claimed
"""

# Deregistering returns the service's running tasks to waiting: their DAG and
# unit results stay, so the next claimant resumes.
DEREGISTER = """
UNWIND $identifiers AS identifier
MATCH (c:ComputeServiceRegistration {identifier: identifier})
OPTIONAL MATCH (c)-[claim:CLAIMS]->(t:Task)
WITH c, claim, t
FOREACH (_ IN CASE WHEN t.status = 'running' THEN [1] ELSE [] END | SET t.status = 'waiting')
DELETE claim
WITH c, t
CALL (t) {
  MATCH (t)<-[a:ACTIONS]-() WHERE t.status = 'waiting'
  SET a.order = coalesce(a.order, -log(1.0 - rand()) / a.weight)
}
WITH c, collect(t.scoped_key) AS released
DETACH DELETE c
RETURN released
"""

EXPIRED = """
MATCH (c:ComputeServiceRegistration) WHERE c.heartbeat < $older_than
RETURN c.identifier AS id
"""

# One round trip: the registration check and the hubs within the scopes.
CLAIMABLE_HUBS = """
CALL () {
  MATCH (th:TaskHub)-[:PERFORMS]->(n:AlchemicalNetwork {state: 'active'})
  WHERE th.weight > 0 AND ANY(s IN $scopes WHERE
      (s[0] IS NULL OR n.org = s[0]) AND (s[1] IS NULL OR n.campaign = s[1])
      AND (s[2] IS NULL OR n.project = s[2]))
  RETURN collect([th.network, th.weight]) AS hubs
}
RETURN EXISTS { MATCH (:ComputeServiceRegistration {identifier: $identifier}) } AS registered,
       hubs
"""

# Stage 1 seeks the claim-order index (see claim_order.py) for a bounded window
# of waiting tasks; stage 2 applies the per-task checks to that window only,
# then takes each task's write lock (SET) in one global order (no deadlocks
# between multi-task claims) and re-reads its status, so two claimers can
# never both win a task.
CLAIM = """
MATCH ()-[a:ACTIONS]->(t:Task)
USING INDEX a:ACTIONS(network, priority, order)
WHERE a.network = $network AND a.priority IS NOT NULL AND a.order IS NOT NULL
  AND t.status = 'waiting'
WITH a, t ORDER BY a.network, a.priority, a.order LIMIT $candidates
WHERE ($protocols IS NULL OR EXISTS {
        MATCH (t)-[:PERFORMS]->(tf:Transformation) WHERE tf.protocol IN $protocols })
  AND NOT EXISTS { MATCH (t)-[:EXTENDS]->(p:Task) WHERE p.status <> 'complete' }
// A fresh weighted draw within the window spreads concurrent claimers apart.
WITH t, a.priority AS priority, rand() ^ (1.0 / a.weight) AS draw
ORDER BY priority ASC, draw DESC LIMIT $count
WITH t, priority, draw ORDER BY elementId(t)
SET t._lock = true
REMOVE t._lock
WITH t, priority, draw WHERE t.status = 'waiting' AND NOT EXISTS { MATCH (t)<-[:CLAIMS]-() }
MATCH (c:ComputeServiceRegistration {identifier: $identifier})
CREATE (c)-[:CLAIMS {since: $now}]->(t)
SET t.status = 'running', t.attempts = t.attempts + 1
WITH t, priority, draw
CALL (t) { MATCH (t)<-[x:ACTIONS]-() REMOVE x.order }
RETURN t.scoped_key AS sk ORDER BY priority ASC, draw DESC
"""

CLAIMANT = """
MATCH (t:Task {scoped_key: $sk})
OPTIONAL MATCH (c:ComputeServiceRegistration)-[:CLAIMS]->(t)
RETURN c.identifier AS id
"""


def _service(props: dict[str, Any], claimed: list[str]) -> ComputeServiceRecord:
    protocols = props.get("protocols")
    return ComputeServiceRecord(
        identifier=props["identifier"],
        registered=to_native(props["registered"]),
        heartbeat=to_native(props["heartbeat"]),
        protocols=tuple(protocols) if protocols is not None else None,
        claimed=tuple(ScopedKey.from_str(sk) for sk in sorted(claimed)),
    )


def _weighted_order(hubs: list[tuple[str, float]]) -> list[str]:
    # Efraimidis-Spirakis: a weighted random permutation in one sort.
    rng = random.SystemRandom()
    return [
        net for net, w in sorted(hubs, key=lambda h: rng.random() ** (1.0 / h[1]), reverse=True)
    ]


class Neo4jClaims(ClaimStore):
    """ClaimStore on Neo4j."""

    _db: Neo4jConnection

    def register_computeservice(
        self, identifier: str, protocols: Sequence[str] | None = None
    ) -> ComputeServiceRecord:
        if not identifier:
            raise ValidationError("a compute service needs a non-empty identifier")
        record = self._db.execute(
            REGISTER,
            identifier=identifier,
            now=now(),
            protocols=sorted(protocols) if protocols is not None else None,
        )[0]
        return _service(record["service"], [])

    def heartbeat_computeservice(self, identifier: str) -> None:
        single(
            self._db.execute(HEARTBEAT, identifier=identifier, now=now()),
            f"compute service {identifier}",
        )

    def deregister_computeservice(self, identifier: str) -> list[ScopedKey]:
        records = self._db.execute(DEREGISTER, identifiers=[identifier])
        released = single(records, f"compute service {identifier}")["released"]
        return [ScopedKey.from_str(sk) for sk in sorted(released)]

    def get_computeservice(self, identifier: str) -> ComputeServiceRecord:
        record = single(
            self._db.query(GET_SERVICE, identifier=identifier), f"compute service {identifier}"
        )
        return _service(record["service"], record["claimed"])

    def expire_computeservices(self, older_than: dt.datetime) -> list[str]:
        expired = [r["id"] for r in self._db.query(EXPIRED, older_than=older_than)]
        if expired:
            self._db.execute(DEREGISTER, identifiers=expired)
        return sorted(expired)

    def claim_tasks(
        self,
        identifier: str,
        count: int = 1,
        scopes: Sequence[Scope] = (Scope(),),
        protocols: Sequence[str] | None = None,
    ) -> list[ScopedKey]:
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValidationError(f"claim count must be a positive integer, got {count!r}")
        scope_lists = [[None if f == "*" else f for f in scope.to_tuple()] for scope in scopes]
        record = self._db.query(CLAIMABLE_HUBS, identifier=identifier, scopes=scope_lists)[0]
        if not record["registered"]:
            raise NotFound(f"compute service {identifier} not found")
        hubs = [(network, float(weight)) for network, weight in record["hubs"]]
        claimed: list[str] = []
        for network in _weighted_order(hubs):
            while len(claimed) < count:
                got = self._claim_from_hub(network, identifier, count - len(claimed), protocols)
                claimed.extend(got)
                if not got:
                    break
            if len(claimed) >= count:
                break
        return [ScopedKey.from_str(sk) for sk in claimed]

    def _claim_from_hub(
        self, network: str, identifier: str, count: int, protocols: Sequence[str] | None
    ) -> list[str]:
        params: dict[str, Any] = {
            "network": network,
            "identifier": identifier,
            "count": count,
            "now": now(),
            "protocols": sorted(protocols) if protocols is not None else None,
        }

        def work(tx: ManagedTransaction, candidates: int) -> list[str]:
            return [r["sk"] for r in tx.run(CLAIM, candidates=candidates, **params)]

        window = 8 * count + 32
        # An empty window is usually a race lost to another claimer, so look
        # again once; then it may hold only unclaimable tasks (other protocols,
        # unfinished prerequisites), so look at every task of the hub.
        return (
            self._db.write(work, window)
            or self._db.write(work, window)
            or self._db.write(work, 2**62)
        )

    def get_task_claimant(self, task: ScopedKey) -> str | None:
        record = single(self._db.query(CLAIMANT, sk=str(task)), f"task {task}")
        identifier: str | None = record["id"]
        return identifier
