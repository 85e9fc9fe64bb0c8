"""`Neo4jStateStore`: the production state store, one mixin per concern."""

from __future__ import annotations

import logging

from neo4j import exceptions as neo4j_errors

from alchemiscale_like.errors import StoreUnavailable
from alchemiscale_like.storage.statestore.base import StateStore
from alchemiscale_like.storage.statestore.neo4j.claims import Neo4jClaims
from alchemiscale_like.storage.statestore.neo4j.connection import (
    SCHEMA,
    SCHEMA_INDEX_NAMES,
    Neo4jConnection,
)
from alchemiscale_like.storage.statestore.neo4j.identities import Neo4jIdentities
from alchemiscale_like.storage.statestore.neo4j.networks import Neo4jNetworks
from alchemiscale_like.storage.statestore.neo4j.overview import Neo4jOverview
from alchemiscale_like.storage.statestore.neo4j.restarts import Neo4jRestartPatterns
from alchemiscale_like.storage.statestore.neo4j.results import Neo4jResults
from alchemiscale_like.storage.statestore.neo4j.tasks import Neo4jTasks
from alchemiscale_like.storage.statestore.slow_claims import check_slow_claim_seconds

log = logging.getLogger(__name__)

DROP_BATCH = "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"

#: How long ``initialize()`` waits for new indexes to come online.
INDEX_ONLINE_TIMEOUT_SECONDS = 300
AWAIT_INDEXES = "CALL db.awaitIndexes($seconds)"

# Tasks and DAG references made before they carried their transformation (and the
# references their count of successful units), which the status counts and the
# dashboard's aggregates read through indexes, get them: idempotent, and a no-op
# once every node has them.
BACKFILL_TASKS = """
MATCH (t:Task) WHERE t.transformation IS NULL
CALL (t) {
  MATCH (t)-[:PERFORMS]->(tf:Transformation)
  SET t.transformation = tf.scoped_key
} IN TRANSACTIONS OF 10000 ROWS
"""
BACKFILL_DAG_REFS = """
MATCH (d:ProtocolDAGRef) WHERE d.transformation IS NULL OR d.n_done IS NULL
CALL (d) {
  MATCH (:Task {scoped_key: d.task})-[:PERFORMS]->(tf:Transformation)
  OPTIONAL MATCH (d)-[:HAS_UNIT_RESULT]->(u:ProtocolUnitResultRef) WHERE u.ok
  WITH d, tf, count(DISTINCT u.unit_key) AS done
  SET d.transformation = tf.scoped_key, d.n_done = done
} IN TRANSACTIONS OF 1000 ROWS
"""


class Neo4jStateStore(
    Neo4jNetworks,
    Neo4jTasks,
    Neo4jClaims,
    Neo4jResults,
    Neo4jRestartPatterns,
    Neo4jIdentities,
    Neo4jOverview,
    StateStore,
):
    """The state store on a Neo4j 5 server (official driver, parameterized Cypher only).

    Args:
        url: Bolt URL, e.g. ``bolt://127.0.0.1:7687``.
        user, password: credentials (no password: connect without authentication).
        database: database name (``neo4j`` on Community edition).
        slow_claim_seconds: claims taking this long or longer are logged at WARNING
            (``event=slow_claim``); 0 logs every claim.
        retry_seconds: how long one call waits for a connection and retries transient
            errors (an unreachable server included) before ``StoreUnavailable``. An
            API answers 503 after this long while Neo4j is down; a shorter outage is
            bridged (the call waits, then succeeds).

    Raises:
        ValidationError: ``slow_claim_seconds`` is negative or not a number.
    """

    def __init__(
        self,
        url: str,
        user: str = "neo4j",
        password: str | None = None,
        database: str = "neo4j",
        *,
        slow_claim_seconds: float = 1.0,
        retry_seconds: float = 30.0,
    ) -> None:
        self._slow_claim_seconds = check_slow_claim_seconds(slow_claim_seconds)
        self._db = Neo4jConnection(url, user, password, database, retry_seconds=retry_seconds)
        self._retry_seconds = retry_seconds

    @property
    def retry_seconds(self) -> float:
        """How long one call waits for a connection and retries before ``StoreUnavailable``."""
        return self._retry_seconds

    def initialize(self) -> None:
        """Create the constraints and indexes and wait until every index is online.

        Raises:
            StoreUnavailable: the server is unreachable, or an index is not online
                after ``INDEX_ONLINE_TIMEOUT_SECONDS``.
        """
        for statement in SCHEMA:
            self._db.execute(statement)
        # A query planned while an index is still populating cannot use it, and
        # Neo4j keeps that plan cached for at least 10 s.
        try:
            self._db.run_autocommit(AWAIT_INDEXES, seconds=INDEX_ONLINE_TIMEOUT_SECONDS)
        except neo4j_errors.ClientError as exc:
            raise StoreUnavailable(
                f"the indexes of the Neo4j at {self._db.url} are not online after "
                f"{INDEX_ONLINE_TIMEOUT_SECONDS} s: {exc.message}"
            ) from exc
        self._db.run_autocommit(BACKFILL_TASKS)
        self._db.run_autocommit(BACKFILL_DAG_REFS)
        log.info("event=statestore_initialized backend=neo4j url=%s", self._db.url)

    def check(self) -> None:
        self._db.verify()
        names = {r["name"] for r in self._db.query("SHOW INDEXES YIELD name RETURN name")}
        missing = sorted(SCHEMA_INDEX_NAMES - names)
        if missing:
            # Queries pin some of these indexes: without them they fail, not slow down.
            raise StoreUnavailable(
                f"the Neo4j database is not initialized (missing {', '.join(missing)}); "
                "run 'alchemiscale-like database init'"
            )

    def reset(self) -> None:
        self._db.run_autocommit(DROP_BATCH)
        # Schema names cannot be parameters; these come from the server itself.
        for record in self._db.query("SHOW CONSTRAINTS YIELD name RETURN name"):
            self._db.execute(f"DROP CONSTRAINT `{record['name']}` IF EXISTS")
        for record in self._db.query(
            "SHOW INDEXES YIELD name, type WHERE type <> 'LOOKUP' RETURN name"
        ):
            self._db.execute(f"DROP INDEX `{record['name']}` IF EXISTS")
        log.info("event=statestore_reset backend=neo4j url=%s", self._db.url)

    def close(self) -> None:
        self._db.close()
