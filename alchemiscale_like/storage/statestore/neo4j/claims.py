"""Compute-service registrations and atomic task claiming in Neo4j."""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

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
from alchemiscale_like.storage.statestore.neo4j.plans import fixed_plan
from alchemiscale_like.storage.statestore.records import ClaimCounter, ComputeServiceRecord
from alchemiscale_like.storage.statestore.rules import (
    check_claim_count,
    claims_last_minute,
    epoch_minute,
)
from alchemiscale_like.storage.statestore.slow_claims import timed_claim

log = logging.getLogger(__name__)

T = TypeVar("T")

REGISTER = fixed_plan(
    """
MERGE (c:ComputeServiceRegistration {identifier: $identifier})
ON CREATE SET c.registered = $now
SET c.heartbeat = $now, c.protocols = $protocols
RETURN c {.*} AS service
"""
)

HEARTBEAT = fixed_plan(
    """
MATCH (c:ComputeServiceRegistration {identifier: $identifier})
SET c.heartbeat = $now RETURN c.identifier AS id
"""
)

GET_SERVICE = fixed_plan(
    """
MATCH (c:ComputeServiceRegistration {identifier: $identifier})
OPTIONAL MATCH (c)-[:CLAIMS]->(t:Task)
RETURN c {.*} AS service, collect(t.scoped_key) AS claimed
"""
)

LIST_SERVICES = """
MATCH (c:ComputeServiceRegistration)
OPTIONAL MATCH (c)-[:CLAIMS]->(t:Task)
WITH c, collect(t.scoped_key) AS claimed
RETURN c {.*} AS service, claimed ORDER BY c.identifier
"""

# Deregistering returns the service's running tasks to waiting: their DAG and
# unit results stay, so the next claimant resumes.
DEREGISTER = fixed_plan(
    """
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
)

EXPIRED = """
MATCH (c:ComputeServiceRegistration) WHERE c.heartbeat < $older_than
RETURN c.identifier AS id
"""

# One round trip: the registration check, the heartbeat a claim counts as, and
# the hubs within the scopes (SET on a missing registration does nothing). The
# hubs are found from the active networks (pinned to the state index, so the
# plan is the same at any size: see plans.py).
CLAIMABLE_HUBS = fixed_plan(
    """
OPTIONAL MATCH (c:ComputeServiceRegistration {identifier: $identifier})
SET c.heartbeat = $now
WITH c
CALL () {
  MATCH (th:TaskHub)-[:PERFORMS]->(n:AlchemicalNetwork)
  USING INDEX n:AlchemicalNetwork(state)
  WHERE n.state = 'active' AND th.weight > 0 AND ANY(s IN $scopes WHERE
      (s[0] IS NULL OR n.org = s[0]) AND (s[1] IS NULL OR n.campaign = s[1])
      AND (s[2] IS NULL OR n.project = s[2]))
  RETURN collect([th.network, th.weight]) AS hubs
}
RETURN c IS NOT NULL AS registered, hubs
"""
)

# Stage 1 seeks the claim-order index (see claim_order.py) for a bounded window
# of waiting tasks; stage 2 applies the per-task checks to that window only,
# then takes each task's write lock (SET) in one global order (no deadlocks
# between multi-task claims) and re-reads its status, so two claimers can
# never both win a task.
#
# The plan must not depend on index statistics: right after a bulk fill (or a
# reset) the index samples still describe the empty database until Neo4j's
# background sampler catches up (every 10 s), and a plan stays cached for at
# least 10 s. With a `:Task` label on `p` the planner then answered the
# prerequisite check by scanning the Task(status) index for every candidate
# (4.8M db hits instead of ~300 on a 20,000-task hub: claims took 10-25 s).
# Nodes reached from `t` carry no label, so they can only be expanded from `t`
# (ACTIONS, PERFORMS and EXTENDS lead only to Tasks and Transformations), and
# INDEX SEEK forbids the index scan the same statistics allow.
CLAIM = fixed_plan(
    """
MATCH ()-[a:ACTIONS]->(t)
USING INDEX SEEK a:ACTIONS(network, priority, order)
WHERE a.network = $network AND a.priority IS NOT NULL AND a.order IS NOT NULL
  AND t.status = 'waiting'
WITH a, t ORDER BY a.network, a.priority, a.order LIMIT $candidates
WHERE ($protocols IS NULL OR EXISTS {
        MATCH (t)-[:PERFORMS]->(tf) WHERE tf.protocol IN $protocols })
  AND NOT EXISTS { MATCH (t)-[:EXTENDS]->(p) WHERE p.status <> 'complete' }
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
WITH c, t, priority, draw
CALL (t) { MATCH (t)<-[x:ACTIONS]-() REMOVE x.order }
WITH c, t ORDER BY priority ASC, draw DESC
WITH c, collect(t.scoped_key) AS claimed
// rules.count_claims, in Cypher: two one-minute buckets (each item reads the
// values before this SET changes them, as the items are applied in order).
SET c.claims_last_minute = CASE coalesce(c.claims_minute, 0)
        WHEN $minute THEN c.claims_last_minute WHEN $minute - 1 THEN c.claims_this_minute
        ELSE 0 END,
    c.claims_this_minute = CASE coalesce(c.claims_minute, 0)
        WHEN $minute THEN c.claims_this_minute ELSE 0 END + size(claimed),
    c.claims_minute = $minute,
    c.claims_total = coalesce(c.claims_total, 0) + size(claimed)
RETURN claimed
"""
)

CLAIMANT = fixed_plan(
    """
MATCH (t:Task {scoped_key: $sk})
OPTIONAL MATCH (c:ComputeServiceRegistration)-[:CLAIMS]->(t)
RETURN c.identifier AS id
"""
)


def _service(props: dict[str, Any], claimed: list[str]) -> ComputeServiceRecord:
    protocols = props.get("protocols")
    counter = ClaimCounter(
        total=props.get("claims_total", 0),
        minute=props.get("claims_minute", 0),
        this_minute=props.get("claims_this_minute", 0),
        last_minute=props.get("claims_last_minute", 0),
    )
    return ComputeServiceRecord(
        identifier=props["identifier"],
        registered=to_native(props["registered"]),
        heartbeat=to_native(props["heartbeat"]),
        protocols=tuple(protocols) if protocols is not None else None,
        claimed=tuple(ScopedKey.from_str(sk) for sk in sorted(claimed)),
        claims_total=counter.total,
        claims_last_minute=claims_last_minute(counter, now()),
    )


def _claimed(result: Any) -> list[str]:
    """The tasks one run of ``CLAIM`` claimed (it answers no row when it claimed none)."""
    record = result.single()
    return [] if record is None else list(record["claimed"])


def _weighted_order(hubs: list[tuple[str, float]]) -> list[str]:
    # Efraimidis-Spirakis: a weighted random permutation in one sort.
    rng = random.SystemRandom()
    return [
        net for net, w in sorted(hubs, key=lambda h: rng.random() ** (1.0 / h[1]), reverse=True)
    ]


def _window(count: int) -> int:
    """How many of a hub's first tasks a claim of ``count`` looks at first."""
    return 8 * count + 32


def _claim_params(
    network: str, identifier: str, count: int, protocols: Sequence[str] | None
) -> dict[str, Any]:
    moment = now()
    return {
        "network": network,
        "identifier": identifier,
        "count": count,
        "now": moment,
        "minute": epoch_minute(moment),
        "protocols": sorted(protocols) if protocols is not None else None,
    }


class _Attempts:
    """Counts a claim's transactions and how often the driver ran each one."""

    def __init__(self) -> None:
        self._calls: list[int] = []

    def counted(self, work: Callable[..., T]) -> Callable[..., T]:
        """``work`` for one managed transaction; the driver calls it again on each retry."""
        index = len(self._calls)
        self._calls.append(0)

        def run(tx: ManagedTransaction, *args: Any) -> T:
            self._calls[index] += 1
            return work(tx, *args)

        return run

    @property
    def transactions(self) -> int:
        """Transactions handed to the driver."""
        return len(self._calls)

    @property
    def retries(self) -> int:
        """Calls beyond the first of each transaction (retries that failed before
        reaching the function, e.g. while connecting, are not seen here)."""
        return sum(max(calls - 1, 0) for calls in self._calls)


class Neo4jClaims(ClaimStore):
    """ClaimStore on Neo4j.

    Every claim taking ``_slow_claim_seconds`` or longer is logged at WARNING
    (``event=slow_claim``) with its parameters and the driver's retry count: the
    compute API shares one store across its request threads, so a stalled claim
    stalls every compute node at once.
    """

    _db: Neo4jConnection
    _slow_claim_seconds: float

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

    def list_computeservices(self) -> list[ComputeServiceRecord]:
        return [_service(r["service"], r["claimed"]) for r in self._db.query(LIST_SERVICES)]

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
        check_claim_count(count, limit=None)
        attempts = _Attempts()
        with timed_claim(
            log,
            self._slow_claim_seconds,
            identifier=identifier,
            count=count,
            scopes=scopes,
            protocols=protocols,
            attempts=lambda: (attempts.retries, attempts.transactions),
        ) as claimed:
            claimed.extend(self._claim(identifier, count, scopes, protocols, attempts))
        return [ScopedKey.from_str(sk) for sk in claimed]

    def _claim(
        self,
        identifier: str,
        count: int,
        scopes: Sequence[Scope],
        protocols: Sequence[str] | None,
        attempts: _Attempts,
    ) -> list[str]:
        scope_lists = [[None if f == "*" else f for f in scope.to_tuple()] for scope in scopes]
        window = _window(count)

        def first_work(tx: ManagedTransaction) -> tuple[bool, list[str], list[str]]:
            # The heartbeat, the hub lookup and the first look into the first hub are
            # one transaction: one commit instead of two on every claim.
            record = tx.run(
                CLAIMABLE_HUBS, identifier=identifier, scopes=scope_lists, now=now()
            ).single(strict=True)
            if not record["registered"]:
                return False, [], []
            order = _weighted_order([(network, float(w)) for network, w in record["hubs"]])
            if not order:
                return True, [], []
            params = _claim_params(order[0], identifier, count, protocols)
            return True, order, _claimed(tx.run(CLAIM, candidates=window, **params))

        registered, order, claimed = self._db.write(attempts.counted(first_work))
        if not registered:
            raise NotFound(f"compute service {identifier} not found")
        for i, network in enumerate(order):
            while len(claimed) < count:
                if i == 0 and not claimed:
                    # The first look found nothing: look again, then at the whole hub.
                    got = self._claim_from_hub(
                        network, identifier, count, protocols, attempts, looks=(window, 2**62)
                    )
                else:
                    got = self._claim_from_hub(
                        network, identifier, count - len(claimed), protocols, attempts
                    )
                claimed.extend(got)
                if not got:
                    break
            if len(claimed) >= count:
                break
        return claimed

    def _claim_from_hub(
        self,
        network: str,
        identifier: str,
        count: int,
        protocols: Sequence[str] | None,
        attempts: _Attempts,
        looks: Sequence[int] | None = None,
    ) -> list[str]:
        """Claim up to ``count`` tasks of one hub, one transaction per look.

        By default the first ``_window(count)`` candidates are looked at twice (an
        empty window is usually a race lost to another claimer), then every task of
        the hub (the window may hold only unclaimable tasks: other protocols,
        unfinished prerequisites).
        """
        params = _claim_params(network, identifier, count, protocols)

        def work(tx: ManagedTransaction, candidates: int) -> list[str]:
            return _claimed(tx.run(CLAIM, candidates=candidates, **params))

        window = _window(count)
        for candidates in looks if looks is not None else (window, window, 2**62):
            got: list[str] = self._db.write(attempts.counted(work), candidates)
            if got:
                return got
        return []

    def get_task_claimant(self, task: ScopedKey) -> str | None:
        record = single(self._db.query(CLAIMANT, sk=str(task)), f"task {task}")
        identifier: str | None = record["id"]
        return identifier
