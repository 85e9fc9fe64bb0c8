"""The Neo4j server of a run, and :class:`Bench`: the connections, bare Cypher, setup and
cleanup, and the state the measurements share."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import neo4j
from neo4j import GraphDatabase, ManagedTransaction

from alchemiscale_like.models import ScopedKey
from alchemiscale_like.storage.statestore.neo4j import Neo4jStateStore
from devtools.bench.statestore.measurement import Measurement, timed

# Scratch schema and labels of the baselines; all dropped at the end.
BASELINE_SCHEMA = [
    "CREATE INDEX bench_system_sk IF NOT EXISTS FOR (n:BenchSystem) ON (n.scoped_key)",
    "CREATE INDEX bench_task_sk IF NOT EXISTS FOR (n:BenchTask) ON (n.scoped_key)",
    "CREATE INDEX bench_service_id IF NOT EXISTS FOR (n:BenchService) ON (n.identifier)",
]
DROP_BASELINE_NODES = (
    "MATCH (n) WHERE n:BenchNetwork OR n:BenchSystem OR n:BenchTransformation "
    "OR n:BenchTask OR n:BenchService CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS"
)
DROP_BASELINE_SCHEMA = [
    "DROP INDEX bench_system_sk IF EXISTS",
    "DROP INDEX bench_task_sk IF EXISTS",
    "DROP INDEX bench_service_id IF EXISTS",
]


class Bench:
    """One run against one server: the store, a bare driver for the baselines and PROFILE
    summaries, and what the measurements share (the network and its tasks); each
    measurement lands in ``results``."""

    def __init__(self, url: str, user: str, password: str, profile: bool) -> None:
        self.url, self.user, self.password = url, user, password
        self.store = Neo4jStateStore(url, user, password)
        self.driver = GraphDatabase.driver(url, auth=(user, password))
        self.profile = profile
        self.results: dict[str, Measurement] = {}
        self.profiles: dict[str, Any] = {}
        self.network: ScopedKey | None = None
        self.transformations: list[ScopedKey] = []
        self.tasks_created = 0
        self.first_tasks: list[ScopedKey] = []

    # -- plumbing -------------------------------------------------------------------------

    def bare_write(self, cypher: str, **params: Any) -> list[neo4j.Record]:
        """Run one statement in a managed write transaction, as the store does."""

        def work(tx: ManagedTransaction) -> list[neo4j.Record]:
            return list(tx.run(cypher, params))

        with self.driver.session() as session:
            return session.execute_write(work)

    def bare_read(self, cypher: str, **params: Any) -> list[neo4j.Record]:
        """Run one statement in a managed read transaction, as the store does."""

        def work(tx: ManagedTransaction) -> list[neo4j.Record]:
            return list(tx.run(cypher, params))

        with self.driver.session() as session:
            return session.execute_read(work)

    def autocommit(self, cypher: str) -> None:
        """Run a schema or ``CALL ... IN TRANSACTIONS`` statement."""
        with self.driver.session() as session:
            session.run(cypher).consume()

    def profile_query(self, name: str, cypher: str, **params: Any) -> None:
        """Record a PROFILE summary of ``cypher`` under ``name``; writes are rolled back."""
        if not self.profile:
            return
        with self.driver.session() as session, session.begin_transaction() as tx:
            summary = tx.run("PROFILE " + cypher, params).consume()
            tx.rollback()
        operators: list[dict[str, Any]] = []

        def walk(node: dict[str, Any]) -> None:
            operators.append(
                {
                    "operator": str(node.get("operatorType", "")).split("@")[0],
                    "db_hits": node.get("dbHits", 0),
                    "rows": node.get("rows", 0),
                    "details": str(node.get("args", {}).get("Details", ""))[:160],
                }
            )
            for child in node.get("children", []):
                walk(child)

        walk(summary.profile or {})
        self.profiles[name] = {
            "total_db_hits": sum(op["db_hits"] for op in operators),
            "operators": [op for op in operators if op["db_hits"] or op["rows"]],
        }

    # -- setup ----------------------------------------------------------------------------

    def server_info(self) -> dict[str, Any]:
        """Neo4j version and edition."""
        record = self.bare_read(
            "CALL dbms.components() YIELD versions, edition RETURN versions[0] AS version, edition"
        )[0]
        return {"version": record["version"], "edition": record["edition"]}

    def node_count(self) -> int:
        """Nodes in the database."""
        return int(self.bare_read("MATCH (n) RETURN count(n) AS n")[0]["n"])

    def prepare(self) -> None:
        """Create the store's schema and the baselines' scratch indexes."""
        self.store.initialize()
        for statement in BASELINE_SCHEMA:
            self.autocommit(statement)
        self.autocommit("CALL db.awaitIndexes(60)")

    def reset(self) -> float:
        """``database reset``, then the schema of the store and the baselines again;
        returns the seconds the reset took."""
        seconds, _ = timed(self.store.reset)
        self.prepare()
        return seconds

    def task_count(self) -> int:
        """Task nodes in the database."""
        return int(self.bare_read("MATCH (t:Task) RETURN count(t) AS n")[0]["n"])

    def drop_baseline_nodes(self) -> None:
        """Delete the baselines' scratch nodes (so they do not slow the store's queries)."""
        self.autocommit(DROP_BASELINE_NODES)

    def cleanup(self, reset: bool) -> None:
        """Drop the baselines' scratch data; reset the whole store if ``reset``."""
        self.drop_baseline_nodes()
        for statement in DROP_BASELINE_SCHEMA:
            self.autocommit(statement)
        if reset:
            self.store.reset()
        self.store.close()
        self.driver.close()


@contextmanager
def neo4j_server(url: str | None, heap: str) -> Iterator[tuple[str, str]]:
    """Yield ``(url, how)``: the given server, or one started here and stopped after."""
    if url is not None:
        yield url, "external"
        return
    from devtools.servers import neo4j as neo4j_servers
    from devtools.servers.common import free_port

    neo4j_servers.fetch()
    with tempfile.TemporaryDirectory(prefix="bench-statestore-") as data_dir:
        server = neo4j_servers.start(Path(data_dir), free_port(), heap=heap, exit_with_parent=True)
        try:
            yield f"bolt://127.0.0.1:{server.port}", f"started here, heap {heap}"
        finally:
            server.stop()
