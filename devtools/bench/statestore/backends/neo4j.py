"""The Neo4j backend: a server (given or started here), ``Neo4jStateStore`` and bare
Cypher through the same driver (``neo4j_cypher.py``) for the baselines."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import neo4j
from neo4j import GraphDatabase, ManagedTransaction

from alchemiscale_like.models import ScopedKey
from alchemiscale_like.models.task import ACTIONABLE
from alchemiscale_like.storage.statestore.neo4j import Neo4jStateStore
from alchemiscale_like.storage.statestore.neo4j import claims as claim_queries
from alchemiscale_like.storage.statestore.neo4j import networks as network_queries
from alchemiscale_like.storage.statestore.neo4j import tasks as task_queries
from alchemiscale_like.storage.statestore.neo4j.connection import now
from devtools.bench.statestore.backends import neo4j_cypher as cypher
from devtools.bench.statestore.backends.base import Backend, BareClaimer


class Neo4jBackend(Backend):
    """``Neo4jStateStore`` on one server, with a bare driver for the baselines and
    PROFILE summaries (db hits per operator).

    Args:
        url, user, password: the server.
        how: how the server came to be (``external`` when given by ``--url``: its
            database must then be empty unless ``wipe``, and it is reset at the end).
        wipe: allow an external database that holds data.
        profile: record PROFILE summaries of the store's queries.
    """

    name = "neo4j"
    baseline_queries = cypher.BASELINE_QUERIES

    def __init__(
        self, url: str, user: str, password: str, *, how: str, wipe: bool, profile: bool
    ) -> None:
        super().__init__(Neo4jStateStore(url, user, password), profile)
        self.url, self.user, self.password = url, user, password
        self.how, self.wipe = how, wipe
        self.driver = GraphDatabase.driver(url, auth=(user, password))

    # -- plumbing -------------------------------------------------------------------------

    def bare_write(self, statement: str, **params: Any) -> list[neo4j.Record]:
        """Run one statement in a managed write transaction, as the store does."""

        def work(tx: ManagedTransaction) -> list[neo4j.Record]:
            return list(tx.run(statement, params))

        with self.driver.session() as session:
            return session.execute_write(work)

    def bare_read(self, statement: str, **params: Any) -> list[neo4j.Record]:
        """Run one statement in a managed read transaction, as the store does."""

        def work(tx: ManagedTransaction) -> list[neo4j.Record]:
            return list(tx.run(statement, params))

        with self.driver.session() as session:
            return session.execute_read(work)

    def autocommit(self, statement: str) -> None:
        """Run a schema or ``CALL ... IN TRANSACTIONS`` statement."""
        with self.driver.session() as session:
            session.run(statement).consume()

    def profile_query(self, name: str, statement: str, **params: Any) -> None:
        """Record a PROFILE summary of ``statement`` under ``name``; writes are rolled back."""
        if not self.profile:
            return
        with self.driver.session() as session, session.begin_transaction() as tx:
            summary = tx.run("PROFILE " + statement, params).consume()
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

    # -- database -------------------------------------------------------------------------

    def new_store(self) -> Neo4jStateStore:
        return Neo4jStateStore(self.url, self.user, self.password)

    def info(self) -> dict[str, Any]:
        record = self.bare_read(
            "CALL dbms.components() YIELD versions, edition RETURN versions[0] AS version, edition"
        )[0]
        return {"version": record["version"], "edition": record["edition"], "server": self.how}

    def refusal(self) -> str | None:
        if self.how == "external" and not self.wipe and self.node_count():
            return f"{self.url} holds data; pass --wipe to allow resetting it"
        return None

    def node_count(self) -> int:
        """Nodes in the database."""
        return int(self.bare_read("MATCH (n) RETURN count(n) AS n")[0]["n"])

    def prepare(self) -> None:
        self.store.initialize()
        for statement in cypher.BASELINE_SCHEMA:
            self.autocommit(statement)
        self.autocommit("CALL db.awaitIndexes(60)")

    def task_count(self) -> int:
        return int(self.bare_read("MATCH (t:Task) RETURN count(t) AS n")[0]["n"])

    def double_claims(self) -> int:
        return int(self.bare_read(cypher.DOUBLE_CLAIMS)[0]["n"])

    def drop_scratch(self) -> None:
        self.autocommit(cypher.DROP_BASELINE_NODES)

    def cleanup(self) -> None:
        """Drop the scratch nodes and indexes; reset an external server's database."""
        try:
            self.drop_scratch()
            for statement in cypher.DROP_BASELINE_SCHEMA:
                self.autocommit(statement)
            if self.how == "external":
                self.store.reset()
        finally:
            self.close()

    def close(self) -> None:
        self.store.close()
        self.driver.close()

    # -- baselines ------------------------------------------------------------------------

    def bare_submit_network(self, params: dict[str, Any]) -> None:
        self.bare_write(cypher.BARE_CREATE_NETWORK, **params)

    def bare_read_network(self, network: ScopedKey) -> int:
        return len(self.bare_read(cypher.BARE_MEMBERS, sk=str(network)))

    def bare_create_tasks(self, rows: Sequence[dict[str, str]]) -> None:
        self.bare_write(cypher.BARE_CREATE_TASKS, rows=rows)

    def bare_action_tasks(self, network: ScopedKey, tasks: Sequence[str]) -> None:
        self.bare_write(cypher.BARE_ACTION_TASKS, network=str(network), rows=tasks)

    def bare_network_status(self, network: ScopedKey) -> object:
        return self.bare_read(cypher.BARE_COUNT, sk=str(network))

    @contextmanager
    def bare_claimers(self, n_tasks: int, claimers: int) -> Iterator[list[BareClaimer]]:
        """Each claimer owns every ``claimers``-th scratch task (no selection, no
        contention) and makes one indexed write per call: the driver's ceiling."""
        self.drop_scratch()
        self.bare_write(cypher.BARE_CLAIM_SETUP, n=n_tasks)
        for i in range(claimers):
            self.bare_write("CREATE (:BenchService {identifier: $id})", id=f"bare-{i}")
        keys = [f"bench-claim-{i}" for i in range(1, n_tasks + 1)]

        def claimer(i: int) -> BareClaimer:
            mine, position = keys[i::claimers], 0

            def claim(count: int) -> int:
                nonlocal position
                batch = mine[position : position + count]
                if batch:
                    position += len(batch)
                    self.bare_write(cypher.BARE_CLAIM, identifier=f"bare-{i}", sks=batch)
                return len(batch)

            return claim

        try:
            yield [claimer(i) for i in range(claimers)]
        finally:
            self.drop_scratch()

    # -- PROFILE summaries ----------------------------------------------------------------

    def profile_network(self, network: ScopedKey) -> None:
        self.profile_query(
            "get_network_transformations: NETWORK_MEMBERS",
            network_queries.NETWORK_MEMBERS,
            sk=str(network),
            label="Transformation",
        )

    def profile_tasks(
        self, transformations: Sequence[ScopedKey], network: ScopedKey, tasks: Sequence[ScopedKey]
    ) -> None:
        keys = sorted(str(t) for t in tasks)
        self.profile_query(
            "create_tasks: FIND_TRANSFORMATIONS",
            task_queries.FIND_TRANSFORMATIONS,
            sks=sorted(map(str, transformations)),
        )
        self.profile_query(
            "action_tasks: TASK_NETWORK_MEMBERSHIP",
            task_queries.TASK_NETWORK_MEMBERSHIP,
            network=str(network),
            tasks=keys,
        )
        self.profile_query(
            "action_tasks: ACTION_TASKS",
            task_queries.ACTION_TASKS,
            network=str(network),
            tasks=keys,
            weight=None,
            default_weight=task_queries.DEFAULT_ACTION_WEIGHT,
            actionable=[str(s) for s in ACTIONABLE],
        )

    def profile_claims(self, hub: ScopedKey) -> None:
        if not self.profile:
            return
        self.store.register_computeservice("bench-profile")
        self.profile_query(
            "claim_tasks: GET_SERVICE (service holding ~400 tasks)",
            claim_queries.GET_SERVICE,
            identifier="claims_count1_store_per_thread-0",
        )
        self.profile_query(
            "claim_tasks: CLAIM",
            claim_queries.CLAIM,
            network=str(hub),
            identifier="bench-profile",
            count=1,
            candidates=8 * 1 + 32,
            now=now(),
            protocols=None,
        )

    def profile_status(self, network: ScopedKey) -> None:
        self.profile_query(
            "get_network_status: NETWORK_STATUS", task_queries.NETWORK_STATUS, sk=str(network)
        )
        self.profile_query("baseline: BARE_COUNT", cypher.BARE_COUNT, sk=str(network))


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
