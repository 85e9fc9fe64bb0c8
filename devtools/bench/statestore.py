"""Neo4j state store benchmark against its targets; prints JSON.

    python -m devtools.bench.statestore [--url bolt://127.0.0.1:7687] [--profile]

Without ``--url`` a Neo4j 5.26 is started (``devtools.servers.neo4j``) on a free
port in a temporary folder and stopped at the end. With ``--url`` that server's
database must be empty unless ``--wipe`` is given: the run writes ~130k nodes
and resets the database at the end.

Each measurement reports its value, the target, whether it is met,
alchemiscale's published figure, and a baseline measured in the same run: a
bare Cypher statement doing the equivalent minimal work through the same driver,
so that a miss can be told from a slow or busy machine. Store and baseline
repetitions are interleaved and medians reported; the first (cold) call of each
query is timed separately and kept out of the median. ``--profile`` adds PROFILE
summaries (db hits per operator) of the store's queries. Targets (alchemiscale
in brackets):

* ``assemble_network`` of 2,000 transformations over 1,000 chemical systems
  <= 3 s [103 s] (client-side ``network_record_from_chain`` reported apart);
  reading it back (``get_network_transformations`` +
  ``get_network_chemicalsystems``) <= 3 s [71 min];
* ``create_tasks`` of 1,000 tasks <= 0.3 s [4 s]; ``action_tasks`` of 1,000 <= 0.2 s [1.6 s];
* 8 concurrent claimers (threads, one registered service each) on one TaskHub of
  20,000 waiting tasks: >= 300 claims/s with ``count=1``, zero double claims
  (``count=10`` reported as tasks/s);
* ``get_network_status`` of a network with 100,000 tasks <= 100 ms.

Exit status: 0 if every target is met, 1 if one is missed, 2 on refusal.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import neo4j
from neo4j import GraphDatabase, ManagedTransaction

from alchemiscale_like.models import (
    AlchemicalNetwork,
    ChemicalSystem,
    Scope,
    ScopedKey,
    SmallMoleculeComponent,
    Transformation,
)
from alchemiscale_like.models.task import ACTIONABLE, TaskStatus
from alchemiscale_like.protocols import HarmonicTIProtocol, HarmonicTISettings
from alchemiscale_like.storage.statestore.neo4j import Neo4jStateStore
from alchemiscale_like.storage.statestore.neo4j import claims as claim_queries
from alchemiscale_like.storage.statestore.neo4j import networks as network_queries
from alchemiscale_like.storage.statestore.neo4j import tasks as task_queries
from alchemiscale_like.storage.statestore.neo4j.connection import now
from alchemiscale_like.storage.statestore.records import NetworkRecord, network_record_from_chain

T = TypeVar("T")

N_SYSTEMS = 1_000
N_TASKS = 1_000
N_HUB_TASKS = 20_000
N_STATUS_TASKS = 100_000
TASK_BATCH = 5_000  # one transaction of 100k tasks exceeds Neo4j's transaction memory limit
CLAIMERS = 8
CLAIM_SCOPE = Scope.from_str("bench-statestore-claims")

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

BARE_CREATE_NETWORK = """
CREATE (n:BenchNetwork {scoped_key: $network})
WITH n
UNWIND $systems AS s
CREATE (n)-[:CONTAINS]->(:BenchSystem {scoped_key: s.scoped_key, name: s.name})
WITH DISTINCT n
UNWIND $transformations AS t
MATCH (a:BenchSystem {scoped_key: t.state_a}), (b:BenchSystem {scoped_key: t.state_b})
CREATE (n)-[:CONTAINS]->(tf:BenchTransformation {scoped_key: t.scoped_key, name: t.name})
CREATE (tf)-[:STATE_A]->(a), (tf)-[:STATE_B]->(b)
"""

BARE_MEMBERS = """
MATCH (:AlchemicalNetwork {scoped_key: $sk})-[:CONTAINS]->(m)
RETURN m.scoped_key AS sk
"""

BARE_CREATE_TASKS = """
UNWIND $rows AS row
MATCH (tf:Transformation {scoped_key: row.transformation})
CREATE (t:BenchTask {scoped_key: row.scoped_key, status: 'waiting', priority: 10, attempts: 0})
CREATE (t)-[:PERFORMS]->(tf)
"""

BARE_ACTION_TASKS = """
MATCH (th:TaskHub {network: $network})
UNWIND $rows AS sk
MATCH (t:BenchTask {scoped_key: sk})
CREATE (th)-[:BENCH_ACTIONS {weight: 0.5}]->(t)
"""

BARE_CLAIM_SETUP = """
UNWIND range(1, $n) AS i
CREATE (:BenchTask {scoped_key: 'bench-claim-' + toString(i), status: 'waiting'})
"""

BARE_CLAIM = """
MATCH (c:BenchService {identifier: $identifier})
UNWIND $sks AS sk
MATCH (t:BenchTask {scoped_key: sk})
CREATE (c)-[:BENCH_CLAIMS]->(t)
SET t.status = 'running'
"""

BARE_COUNT = """
MATCH (:AlchemicalNetwork {scoped_key: $sk})-[:CONTAINS]->(:Transformation)<-[:PERFORMS]-(t:Task)
RETURN count(*) AS n
"""

DOUBLE_CLAIMS = """
MATCH (t:Task)<-[c:CLAIMS]-()
WITH t, count(c) AS holders WHERE holders > 1
RETURN count(t) AS n
"""


def log(message: str) -> None:
    """Progress on stderr (stdout is the JSON report)."""
    print(message, file=sys.stderr, flush=True)


class BenchTimeout(Exception):
    """The whole benchmark ran past ``--time-limit``."""


@dataclass
class Measurement:
    """One measured figure with its target, baseline and alchemiscale's published figure."""

    value: float
    unit: str
    target: float | None = None
    higher_is_better: bool = False
    alchemiscale: str | None = None
    baseline: float | None = None
    baseline_query: str | None = None
    runs: list[float] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def met(self) -> bool | None:
        """Whether the target is met (None without a target)."""
        if self.target is None:
            return None
        return self.value >= self.target if self.higher_is_better else self.value <= self.target

    def to_json(self) -> dict[str, Any]:
        """The JSON form."""
        target = None
        if self.target is not None:
            target = f"{'>=' if self.higher_is_better else '<='} {self.target} {self.unit}"
        out: dict[str, Any] = {
            "value": round(self.value, 4),
            "unit": self.unit,
            "target": target,
            "met": self.met(),
            "alchemiscale": self.alchemiscale,
            "baseline": None if self.baseline is None else round(self.baseline, 4),
            "baseline_query": self.baseline_query,
        }
        if self.runs:
            out["runs"] = [round(r, 4) for r in self.runs]
        if self.details:
            out["details"] = self.details
        return out


def timed(work: Callable[[], T]) -> tuple[float, T]:
    """Seconds taken by ``work()``, and its result."""
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def load() -> float:
    """The 1-minute load average (other processes skew every figure)."""
    return round(os.getloadavg()[0], 2)


def build_network(name: str, first_k: float = 1.0) -> AlchemicalNetwork:
    """``2 * N_SYSTEMS`` transformations ``i -> i+1`` and ``i -> i+2`` over a ring of systems."""
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
        for i in range(N_SYSTEMS)
    ]
    edges = [
        Transformation(
            stateA=systems[i],
            stateB=systems[(i + step) % N_SYSTEMS],
            protocol=protocol,
            name=f"edge-{i}-{step}",
        )
        for step in (1, 2)
        for i in range(N_SYSTEMS)
    ]
    return AlchemicalNetwork(edges=edges, name=name)


def bare_network_params(record: NetworkRecord, scope: Scope) -> dict[str, Any]:
    """Parameters of ``BARE_CREATE_NETWORK`` for the same network under ``scope``."""

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


def run_threads(work: Callable[[int], None], n: int) -> None:
    """Run ``work(i)`` for each ``i`` in ``range(n)`` on its own thread; wait for all."""
    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


class Bench:
    """The measurements, run in order against one server; results land in ``results``."""

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

    # -- networks -------------------------------------------------------------------------

    def bench_network(self, repeats: int = 3) -> None:
        """Submit the 2,000-transformation network (once cold, then ``repeats`` times) and
        read it back. Each submission goes to a fresh scope, so it creates every node."""
        build_s, network = timed(functools.partial(build_network, "bench-network"))
        json_s, chain = timed(lambda: json.loads(network.to_json()))
        verify_s, record = timed(functools.partial(network_record_from_chain, chain))
        assert len(record.transformations) == 2 * N_SYSTEMS
        assert len(record.chemical_systems) == N_SYSTEMS
        self.results["client_network_record_from_chain"] = Measurement(
            verify_s,
            "s",
            details={
                "what": "keyed-chain verification and extraction on the client "
                "(not the store's time)",
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
            seconds, sk = timed(functools.partial(self.store.assemble_network, record, scope))
            params = bare_network_params(record, scope)
            bare_s, _ = timed(functools.partial(self.bare_write, BARE_CREATE_NETWORK, **params))
            if rep == 0:
                cold_s = seconds
            else:
                submit_runs.append(seconds)
                bare_runs.append(bare_s)
            self.network = sk
        assert self.network is not None
        network_sk = self.network
        resubmit_s, again = timed(
            functools.partial(
                self.store.assemble_network,
                record,
                Scope.from_str(f"bench-statestore-net{repeats}"),
            )
        )
        assert again == network_sk
        self.results["submit_network"] = Measurement(
            statistics.median(submit_runs),
            "s",
            target=3.0,
            alchemiscale="103 s",
            baseline=statistics.median(bare_runs),
            runs=submit_runs,
            baseline_query="one transaction: CREATE the network, UNWIND CREATE 1,000 systems "
            "and 2,000 transformations with CONTAINS, STATE_A, STATE_B (indexed lookups)",
            details={
                "transformations": len(record.transformations),
                "chemical_systems": len(record.chemical_systems),
                "cold_first_submission_s": round(cold_s, 4),
                "resubmit_same_network_s": round(resubmit_s, 4),
                "load": load(),
            },
        )

        def read_back() -> int:
            return len(self.store.get_network_transformations(network_sk)) + len(
                self.store.get_network_chemicalsystems(network_sk)
            )

        def bare_read_back() -> int:
            return len(self.bare_read(BARE_MEMBERS, sk=str(network_sk)))

        cold_read_s, total = timed(read_back)
        assert total == bare_read_back() == len(record.transformations) + N_SYSTEMS
        read_runs, bare_runs = self.interleaved(read_back, bare_read_back, 5)
        self.results["read_network"] = Measurement(
            statistics.median(read_runs),
            "s",
            target=3.0,
            alchemiscale="71 min",
            baseline=statistics.median(bare_runs),
            runs=read_runs,
            baseline_query="MATCH (n {scoped_key})-[:CONTAINS]->(m) RETURN m.scoped_key "
            "(all 3,000 members in one query)",
            details={"cold_first_read_s": round(cold_read_s, 4), "load": load()},
        )
        self.transformations = self.store.get_network_transformations(network_sk)
        self.profile_query(
            "get_network_transformations: NETWORK_MEMBERS",
            network_queries.NETWORK_MEMBERS,
            sk=str(network_sk),
            label="Transformation",
        )

    @staticmethod
    def interleaved(
        store: Callable[[], object], bare: Callable[[], object], repeats: int
    ) -> tuple[list[float], list[float]]:
        """Seconds of ``repeats`` alternating calls of ``store`` and ``bare``."""
        store_runs: list[float] = []
        bare_runs: list[float] = []
        for _ in range(repeats):
            store_runs.append(timed(store)[0])
            bare_runs.append(timed(bare)[0])
        return store_runs, bare_runs

    # -- tasks ----------------------------------------------------------------------------

    def bench_tasks(self, repeats: int = 5) -> None:
        """create_tasks and action_tasks of 1,000 fresh tasks, once cold then ``repeats``
        times, interleaved with the bare baselines."""
        assert self.network is not None
        network = self.network
        tfs = self.transformations[:N_TASKS]
        create_runs: list[float] = []
        action_runs: list[float] = []
        bare_create_runs: list[float] = []
        bare_action_runs: list[float] = []
        cold: dict[str, float] = {}
        for rep in range(repeats + 1):
            create_s, tasks = timed(functools.partial(self.store.create_tasks, tfs))
            action_s, actioned = timed(functools.partial(self.store.action_tasks, tasks, network))
            assert len(actioned) == N_TASKS
            self.tasks_created += len(tasks)
            rows = [
                {"scoped_key": f"{sk}-bare", "transformation": str(tf)}
                for sk, tf in zip(tasks, tfs, strict=True)
            ]
            bare_create_s, _ = timed(
                functools.partial(self.bare_write, BARE_CREATE_TASKS, rows=rows)
            )
            bare_action_s, _ = timed(
                functools.partial(
                    self.bare_write,
                    BARE_ACTION_TASKS,
                    network=str(network),
                    rows=[row["scoped_key"] for row in rows],
                )
            )
            if rep == 0:
                cold = {"create_tasks_s": round(create_s, 4), "action_tasks_s": round(action_s, 4)}
                self.first_tasks = tasks
                continue
            create_runs.append(create_s)
            action_runs.append(action_s)
            bare_create_runs.append(bare_create_s)
            bare_action_runs.append(bare_action_s)
        self.drop_baseline_nodes()
        self.results["create_tasks_1000"] = Measurement(
            statistics.median(create_runs),
            "s",
            target=0.3,
            alchemiscale="4 s",
            baseline=statistics.median(bare_create_runs),
            runs=create_runs,
            baseline_query="UNWIND $rows MATCH (tf:Transformation {scoped_key}) "
            "CREATE (:BenchTask {...})-[:PERFORMS]->(tf)",
            details={"cold_first_call_s": cold["create_tasks_s"], "load": load()},
        )
        self.results["action_tasks_1000"] = Measurement(
            statistics.median(action_runs),
            "s",
            target=0.2,
            alchemiscale="1.6 s",
            baseline=statistics.median(bare_action_runs),
            runs=action_runs,
            baseline_query="MATCH (th:TaskHub {network}) UNWIND $rows "
            "MATCH (t:BenchTask {scoped_key}) CREATE (th)-[:BENCH_ACTIONS {weight}]->(t)",
            details={"cold_first_call_s": cold["action_tasks_s"], "load": load()},
        )
        if self.profile:
            keys = sorted(str(t) for t in self.first_tasks)
            self.profile_query(
                "create_tasks: FIND_TRANSFORMATIONS",
                task_queries.FIND_TRANSFORMATIONS,
                sks=sorted(map(str, tfs)),
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

    # -- claims ---------------------------------------------------------------------------

    def bench_claims(self, seconds: float, max_tasks: int) -> None:
        """8 claimer threads on one TaskHub of 20,000 waiting tasks, in four variants."""
        hub = self.claim_hub()
        warmup = ClaimRun("warmup", 1, [self.store])
        warmup.register()
        warmup.go(seconds=1.0, max_tasks=50)
        stores = [Neo4jStateStore(self.url, self.user, self.password) for _ in range(CLAIMERS)]
        shared = [self.store] * CLAIMERS
        try:
            for name, count, run_stores in [
                ("claims_count1_shared_store", 1, shared),
                ("claims_count1_store_per_thread", 1, stores),
                ("claims_count10_shared_store", 10, shared),
                ("claims_count10_store_per_thread", 10, stores),
            ]:
                log(f"bench: {name}")
                baseline = self.bare_claims(count, seconds, max_tasks)
                run = ClaimRun(name, count, run_stores)
                run.register()
                run.go(seconds, max_tasks)
                self.results[name] = Measurement(
                    run.rate,
                    "claims/s" if count == 1 else "tasks/s",
                    target=300.0 if count == 1 else None,
                    higher_is_better=True,
                    baseline=baseline,
                    baseline_query=f"8 threads, each a write transaction per {count} task(s): "
                    "MATCH service and task(s) by index, CREATE claim edge, SET status",
                    details=run.verify(self) | {"load": load()},
                )
        finally:
            for store in stores:
                store.close()
        if self.profile:
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

    def claim_hub(self) -> ScopedKey:
        """A network in its own scope whose TaskHub holds 20,000 waiting tasks."""
        protocol = HarmonicTIProtocol(settings=HarmonicTISettings())
        systems = [
            ChemicalSystem(
                components={
                    "ligand": SmallMoleculeComponent(
                        smiles="C", properties={"spring_constant": 5000.0 + i}
                    )
                }
            )
            for i in range(11)
        ]
        edges = [
            Transformation(stateA=systems[0], stateB=s, protocol=protocol, name=f"c{i}")
            for i, s in enumerate(systems[1:])
        ]
        network = AlchemicalNetwork(edges=edges, name="bench-claims")
        record = network_record_from_chain(json.loads(network.to_json()))
        sk = self.store.assemble_network(record, CLAIM_SCOPE)
        tfs = self.store.get_network_transformations(sk)
        for start in range(0, N_HUB_TASKS, TASK_BATCH):
            tasks = self.store.create_tasks(
                [tfs[i % len(tfs)] for i in range(start, start + TASK_BATCH)]
            )
            self.store.action_tasks(tasks, sk)
        return sk

    def bare_claims(self, count: int, seconds: float, max_tasks: int) -> float:
        """Tasks/s of 8 threads, each one minimal indexed write transaction per ``count`` tasks
        it alone owns (no selection, no contention): the ceiling of this driver and server."""
        self.drop_baseline_nodes()
        self.bare_write(BARE_CLAIM_SETUP, n=max_tasks)
        for i in range(CLAIMERS):
            self.bare_write("CREATE (:BenchService {identifier: $id})", id=f"bare-{i}")
        keys = [f"bench-claim-{i}" for i in range(1, max_tasks + 1)]
        done = [0] * CLAIMERS
        deadline = time.monotonic() + seconds

        def work(i: int) -> None:
            mine = keys[i::CLAIMERS]
            for start in range(0, len(mine), count):
                if time.monotonic() > deadline:
                    return
                self.bare_write(BARE_CLAIM, identifier=f"bare-{i}", sks=mine[start : start + count])
                done[i] += len(mine[start : start + count])

        elapsed, _ = timed(functools.partial(run_threads, work, CLAIMERS))
        self.drop_baseline_nodes()
        return sum(done) / elapsed

    # -- status counts --------------------------------------------------------------------

    def bench_status(self, repeats: int = 9) -> None:
        """get_network_status once the network holds 100,000 tasks (after 3 warm-up calls)."""
        assert self.network is not None
        network = self.network
        fill_s = 0.0
        created = 0
        while self.tasks_created < N_STATUS_TASKS:
            n = min(TASK_BATCH, N_STATUS_TASKS - self.tasks_created)
            batch = [
                self.transformations[(created + i) % len(self.transformations)] for i in range(n)
            ]
            fill_s += timed(functools.partial(self.store.create_tasks, batch))[0]
            created += n
            self.tasks_created += n
        # Two statuses in the counts: invalidate the first tasks.
        self.store.set_task_status(self.first_tasks, TaskStatus.INVALID)
        counts = self.store.get_network_status(network)
        assert sum(counts.values()) == N_STATUS_TASKS, counts

        def store_status() -> object:
            return self.store.get_network_status(network)

        def bare_count() -> object:
            return self.bare_read(BARE_COUNT, sk=str(network))

        self.interleaved(store_status, bare_count, 3)
        status_runs, bare_runs = self.interleaved(store_status, bare_count, repeats)
        self.results["network_status_100k"] = Measurement(
            statistics.median(status_runs) * 1000,
            "ms",
            target=100.0,
            baseline=statistics.median(bare_runs) * 1000,
            runs=[r * 1000 for r in status_runs],
            baseline_query="MATCH (n {scoped_key})-[:CONTAINS]->(:Transformation)"
            "<-[:PERFORMS]-(t:Task) RETURN count(*)",
            details={
                "counts": counts,
                "create_tasks_batch": TASK_BATCH,
                "create_tasks_per_s_in_batches": round(created / fill_s) if fill_s else None,
                "load": load(),
            },
        )
        self.profile_query(
            "get_network_status: NETWORK_STATUS", task_queries.NETWORK_STATUS, sk=str(network)
        )
        self.profile_query("baseline: BARE_COUNT", BARE_COUNT, sk=str(network))


class ClaimRun:
    """One bounded run of concurrent claimers, each with its own registered service."""

    def __init__(self, name: str, count: int, stores: Sequence[Neo4jStateStore]) -> None:
        self.name, self.count, self.stores = name, count, stores
        self.identifiers = [f"{name}-{i}" for i in range(len(stores))]
        self.claimed: list[list[ScopedKey]] = [[] for _ in stores]
        self.latencies: list[float] = []
        self.empty_calls = 0
        self.errors: list[str] = []
        self.elapsed = 0.0
        self._lock = threading.Lock()

    def register(self) -> None:
        """Register every claimer's compute service."""
        for store, identifier in zip(self.stores, self.identifiers, strict=True):
            store.register_computeservice(identifier)

    @property
    def total(self) -> int:
        """Tasks claimed so far."""
        return sum(len(got) for got in self.claimed)

    def go(self, seconds: float, max_tasks: int) -> None:
        """Claim until ``seconds`` pass or ``max_tasks`` tasks are claimed in total."""
        stop = threading.Event()

        def work(i: int) -> None:
            store, identifier = self.stores[i], self.identifiers[i]
            claim = functools.partial(
                store.claim_tasks, identifier, self.count, scopes=[CLAIM_SCOPE]
            )
            try:
                while not stop.is_set():
                    seconds_taken, got = timed(claim)
                    with self._lock:
                        self.latencies.append(seconds_taken)
                        self.claimed[i].extend(got)
                        self.empty_calls += not got
                        if self.total >= max_tasks:
                            stop.set()
            except Exception as exc:  # reported in the JSON; stops the run
                self.errors.append(f"{identifier}: {type(exc).__name__}: {exc}")
                stop.set()

        timer = threading.Timer(seconds, stop.set)
        timer.start()
        try:
            self.elapsed, _ = timed(functools.partial(run_threads, work, len(self.stores)))
        finally:
            timer.cancel()

    @property
    def rate(self) -> float:
        """Tasks claimed per second over the whole run."""
        return self.total / self.elapsed if self.elapsed else 0.0

    def verify(self, bench: Bench) -> dict[str, Any]:
        """Double claims, whether the store's view of each service agrees, latencies."""
        every = [sk for got in self.claimed for sk in got]
        store_agrees = all(
            set(bench.store.get_computeservice(identifier).claimed) == set(got)
            for identifier, got in zip(self.identifiers, self.claimed, strict=True)
        )
        latencies = sorted(self.latencies)
        return {
            "claimers": len(self.stores),
            "count_per_call": self.count,
            "tasks_claimed": len(every),
            "calls": len(latencies),
            "empty_calls": self.empty_calls,
            "seconds": round(self.elapsed, 3),
            "call_ms_median": round(statistics.median(latencies) * 1000, 2) if latencies else None,
            "call_ms_p95": round(latencies[int(0.95 * (len(latencies) - 1))] * 1000, 2)
            if latencies
            else None,
            "double_claims_client": len(every) - len(set(every)),
            "double_claims_store": int(bench.bare_read(DOUBLE_CLAIMS)[0]["n"]),
            "store_view_agrees": store_agrees,
            "errors": self.errors,
        }


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


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise BenchTimeout("the benchmark ran past --time-limit")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--url", help="Bolt URL of a Neo4j 5 server (default: start one here)")
    parser.add_argument("--user", default="neo4j")
    parser.add_argument("--password", default="password")
    parser.add_argument(
        "--wipe",
        action="store_true",
        help="allow a non-empty database at --url (it is reset at the end)",
    )
    parser.add_argument("--heap", default="2g", help="heap of the Neo4j started here")
    parser.add_argument(
        "--claim-seconds", type=float, default=10.0, help="time bound of each claim run"
    )
    parser.add_argument(
        "--claim-max", type=int, default=3000, help="tasks-claimed bound of each claim run"
    )
    parser.add_argument(
        "--profile", action="store_true", help="add PROFILE summaries of the store's queries"
    )
    parser.add_argument(
        "--time-limit", type=int, default=1200, help="abort after this many seconds"
    )
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> tuple[Bench, dict[str, Any]] | None:
    """Run every measurement against the server; None if the database may not be used."""
    with neo4j_server(args.url, args.heap) as (url, how):
        bench = Bench(url, args.user, args.password, args.profile)
        if args.url is not None and not args.wipe and bench.node_count():
            log(f"{url} holds data; pass --wipe to allow resetting it")
            bench.store.close()
            bench.driver.close()
            return None
        try:
            bench.prepare()
            log("bench: networks")
            bench.bench_network()
            log("bench: tasks")
            bench.bench_tasks()
            log("bench: claims")
            bench.bench_claims(args.claim_seconds, args.claim_max)
            log("bench: status counts")
            bench.bench_status()
            server = bench.server_info() | {"server": how}
        finally:
            bench.cleanup(reset=args.url is not None)
    return bench, server


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print its JSON report."""
    args = parse_args(argv)
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(args.time_limit)
    started = time.monotonic()
    load_before = os.getloadavg()
    try:
        outcome = run(args)
    finally:
        signal.alarm(0)
    if outcome is None:
        return 2
    bench, server = outcome
    missed = [name for name, m in bench.results.items() if m.met() is False]
    report: dict[str, Any] = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "neo4j_driver": neo4j.__version__,
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()],
        },
        "neo4j": server,
        "measurements": {name: m.to_json() for name, m in bench.results.items()},
        "targets_missed": missed,
        "seconds": round(time.monotonic() - started, 1),
    }
    if bench.profiles:
        report["profiles"] = bench.profiles
    print(json.dumps(report, indent=2))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
