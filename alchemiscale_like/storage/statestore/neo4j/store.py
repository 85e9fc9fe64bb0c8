"""`Neo4jStateStore`: the production state store, one mixin per concern."""

from __future__ import annotations

import logging

from alchemiscale_like.errors import StoreUnavailable
from alchemiscale_like.storage.statestore.base import StateStore
from alchemiscale_like.storage.statestore.neo4j.claims import Neo4jClaims
from alchemiscale_like.storage.statestore.neo4j.connection import SCHEMA, Neo4jConnection
from alchemiscale_like.storage.statestore.neo4j.identities import Neo4jIdentities
from alchemiscale_like.storage.statestore.neo4j.networks import Neo4jNetworks
from alchemiscale_like.storage.statestore.neo4j.restarts import Neo4jRestartPatterns
from alchemiscale_like.storage.statestore.neo4j.results import Neo4jResults
from alchemiscale_like.storage.statestore.neo4j.tasks import Neo4jTasks

log = logging.getLogger(__name__)

DROP_BATCH = "MATCH (n) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"


class Neo4jStateStore(
    Neo4jNetworks,
    Neo4jTasks,
    Neo4jClaims,
    Neo4jResults,
    Neo4jRestartPatterns,
    Neo4jIdentities,
    StateStore,
):
    """The state store on a Neo4j 5 server (official driver, parameterized Cypher only).

    Args:
        url: Bolt URL, e.g. ``bolt://127.0.0.1:7687``.
        user, password: credentials (no password: connect without authentication).
        database: database name (``neo4j`` on Community edition).
    """

    def __init__(
        self, url: str, user: str = "neo4j", password: str | None = None, database: str = "neo4j"
    ) -> None:
        self._db = Neo4jConnection(url, user, password, database)

    def initialize(self) -> None:
        for statement in SCHEMA:
            self._db.execute(statement)
        log.info("event=statestore_initialized backend=neo4j url=%s", self._db.url)

    def check(self) -> None:
        self._db.verify()
        names = {r["name"] for r in self._db.query("SHOW CONSTRAINTS YIELD name RETURN name")}
        if "task_sk" not in names:
            raise StoreUnavailable(
                "the Neo4j database is not initialized (run 'alchemiscale-like database init')"
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
