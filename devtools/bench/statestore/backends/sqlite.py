"""The SQLite backend: ``SQLiteStateStore`` on a file in a temporary folder, and bare
SQL through stdlib ``sqlite3`` on the same file for the baselines.

The bare connections are set up as the store's are (WAL, ``synchronous=NORMAL``,
autocommit with explicit ``BEGIN IMMEDIATE`` for writes), so a baseline differs from
the store only in the work it does. Scratch tables are named ``bench_*``.
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alchemiscale_like.models import ScopedKey
from alchemiscale_like.storage.statestore.sqlite import SQLiteStateStore
from alchemiscale_like.storage.statestore.sqlite import claims as claim_statements
from alchemiscale_like.storage.statestore.sqlite import networks as network_statements
from alchemiscale_like.storage.statestore.sqlite import tasks as task_statements
from devtools.bench.statestore.backends.base import Backend, BareClaimer

SCRATCH_SCHEMA = {
    "bench_networks": "CREATE TABLE IF NOT EXISTS bench_networks "
    "(scoped_key TEXT PRIMARY KEY, name TEXT NOT NULL)",
    "bench_systems": "CREATE TABLE IF NOT EXISTS bench_systems "
    "(scoped_key TEXT PRIMARY KEY, name TEXT NOT NULL)",
    "bench_transformations": "CREATE TABLE IF NOT EXISTS bench_transformations "
    "(scoped_key TEXT PRIMARY KEY, name TEXT NOT NULL, state_a TEXT NOT NULL, "
    "state_b TEXT NOT NULL)",
    "bench_members": "CREATE TABLE IF NOT EXISTS bench_members (network TEXT NOT NULL, "
    "member TEXT NOT NULL, PRIMARY KEY (network, member)) WITHOUT ROWID",
    "bench_tasks": "CREATE TABLE IF NOT EXISTS bench_tasks (scoped_key TEXT PRIMARY KEY, "
    "transformation TEXT NOT NULL, status TEXT NOT NULL, priority INTEGER NOT NULL, "
    "attempts INTEGER NOT NULL)",
    "bench_actions": "CREATE TABLE IF NOT EXISTS bench_actions (network TEXT NOT NULL, "
    "task TEXT NOT NULL, weight REAL NOT NULL, PRIMARY KEY (network, task)) WITHOUT ROWID",
    "bench_claim_tasks": "CREATE TABLE IF NOT EXISTS bench_claim_tasks "
    "(scoped_key TEXT PRIMARY KEY, status TEXT NOT NULL, claimant TEXT)",
}
SCRATCH_INDEX = "CREATE INDEX IF NOT EXISTS bench_claim_tasks_status ON bench_claim_tasks(status)"

BARE_NETWORK = "INSERT INTO bench_networks (scoped_key, name) VALUES (?, '')"
BARE_SYSTEM = "INSERT INTO bench_systems (scoped_key, name) VALUES (:scoped_key, :name)"
BARE_TRANSFORMATION = (
    "INSERT INTO bench_transformations (scoped_key, name, state_a, state_b) "
    "VALUES (:scoped_key, :name, :state_a, :state_b)"
)
BARE_MEMBER = "INSERT INTO bench_members (network, member) VALUES (?, ?)"
BARE_MEMBERS = "SELECT member FROM network_members WHERE network = ?"
BARE_CREATE_TASK = (
    "INSERT INTO bench_tasks (scoped_key, transformation, status, priority, attempts) "
    "VALUES (:scoped_key, :transformation, 'waiting', 10, 0)"
)
BARE_ACTION = "INSERT INTO bench_actions (network, task, weight) VALUES (?, ?, 0.5)"
BARE_STATUS = """
SELECT t.status, count(*) AS n FROM network_members m JOIN tasks t ON t.transformation = m.member
WHERE m.network = ? GROUP BY t.status
"""
BARE_CLAIM_SETUP = "INSERT INTO bench_claim_tasks (scoped_key, status) VALUES (?, 'waiting')"
BARE_CLAIM_SELECT = "SELECT scoped_key FROM bench_claim_tasks WHERE status = 'waiting' LIMIT ?"
BARE_CLAIM_UPDATE = (
    "UPDATE bench_claim_tasks SET status = 'running', claimant = ? WHERE scoped_key = ?"
)
# The claims table's primary key allows one claim row per task, so a task claimed
# twice shows as attempts > 1 (no task is released and claimed again in the bench).
DOUBLE_CLAIMS = """
SELECT count(*) FROM tasks t
WHERE t.attempts > 1 OR (SELECT count(*) FROM claims c WHERE c.task = t.scoped_key) > 1
"""

BASELINE_QUERIES = {
    "submit_network": "one BEGIN IMMEDIATE transaction: INSERT the network, executemany "
    "INSERT 1,000 systems, 2,000 transformations (state_a, state_b columns) and 3,000 "
    "member rows into scratch tables (primary keys only)",
    "read_network": "SELECT member FROM network_members WHERE network = ? "
    "(the store's table; all 3,000 members in one query)",
    "create_tasks": "BEGIN IMMEDIATE; executemany INSERT of the rows into a scratch "
    "bench_tasks table (primary key only); COMMIT",
    "action_tasks": "BEGIN IMMEDIATE; executemany INSERT (network, task, 0.5) into a "
    "scratch bench_actions table (primary key (network, task)); COMMIT",
    "claims": "8 threads, one connection each, a BEGIN IMMEDIATE transaction per call: "
    "SELECT {count} waiting scratch task(s) ... LIMIT (indexed), UPDATE status and claimant",
    "cold_claims": "8 threads, one connection each, a BEGIN IMMEDIATE transaction per task: "
    "SELECT a waiting scratch task ... LIMIT 1 (indexed), UPDATE it (the slowest call)",
    "network_status": "SELECT t.status, count(*) FROM network_members m JOIN tasks t "
    "ON t.transformation = m.member WHERE m.network = ? GROUP BY t.status",
}


def connect(path: Path) -> sqlite3.Connection:
    """A bare connection set up as the store sets up its own."""
    conn = sqlite3.connect(path, timeout=60.0, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


@contextmanager
def write(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction (the database's write lock held from the start)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def filesystem(folder: Path) -> str:
    """The filesystem type of ``folder`` (SQLite's speed depends on it)."""
    result = subprocess.run(
        ["df", "--output=fstype", str(folder)], capture_output=True, text=True, check=False
    )
    lines = result.stdout.split()
    return lines[-1] if result.returncode == 0 and lines else "unknown"


class SQLiteBackend(Backend):
    """``SQLiteStateStore(path)`` with bare ``sqlite3`` connections on the same file.

    Args:
        path: the database file (created here; its folder must exist).
        profile: record ``EXPLAIN QUERY PLAN`` of the store's hot statements.
    """

    name = "sqlite"
    baseline_queries = BASELINE_QUERIES

    def __init__(self, path: Path, *, profile: bool) -> None:
        super().__init__(SQLiteStateStore(path), profile)
        self.path = path
        self.conn = connect(path)

    def explain(self, name: str, statement: str, params: Sequence[Any]) -> None:
        """Record the ``EXPLAIN QUERY PLAN`` of ``statement`` under ``name``."""
        if not self.profile:
            return
        rows = self.conn.execute("EXPLAIN QUERY PLAN " + statement, params).fetchall()
        depth: dict[int, int] = {0: -1}
        plan = []
        for node, parent, _, detail in rows:
            depth[node] = depth.get(parent, -1) + 1
            plan.append("  " * depth[node] + str(detail))
        self.profiles[name] = {"plan": plan}

    # -- database -------------------------------------------------------------------------

    def new_store(self) -> SQLiteStateStore:
        return SQLiteStateStore(self.path)

    def info(self) -> dict[str, Any]:
        pragma = {
            name: self.conn.execute(f"PRAGMA {name}").fetchone()[0]  # names fixed here
            for name in ("journal_mode", "synchronous", "page_size")
        }
        return {
            "version": sqlite3.sqlite_version,
            "path": str(self.path),
            "filesystem": filesystem(self.path.parent),
            "file_mib": round(self.path.stat().st_size / 2**20, 1),
            **pragma,
        }

    def prepare(self) -> None:
        self.store.initialize()
        with write(self.conn):
            for statement in SCRATCH_SCHEMA.values():
                self.conn.execute(statement)
            self.conn.execute(SCRATCH_INDEX)

    def task_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM tasks").fetchone()[0])

    def double_claims(self) -> int:
        return int(self.conn.execute(DOUBLE_CLAIMS).fetchone()[0])

    def drop_scratch(self) -> None:
        with write(self.conn):
            for table in SCRATCH_SCHEMA:  # fixed names (above), never input
                self.conn.execute(f"DELETE FROM {table}")

    def cleanup(self) -> None:
        """Drop the scratch tables (the file goes with its temporary folder)."""
        try:
            with write(self.conn):
                for table in SCRATCH_SCHEMA:
                    self.conn.execute(f"DROP TABLE IF EXISTS {table}")
        finally:
            self.close()

    def close(self) -> None:
        self.store.close()
        self.conn.close()

    # -- baselines ------------------------------------------------------------------------

    def bare_submit_network(self, params: dict[str, Any]) -> None:
        network = params["network"]
        with write(self.conn) as conn:
            conn.execute(BARE_NETWORK, (network,))
            conn.executemany(BARE_SYSTEM, params["systems"])
            conn.executemany(BARE_TRANSFORMATION, params["transformations"])
            conn.executemany(
                BARE_MEMBER,
                (
                    (network, member["scoped_key"])
                    for kind in ("systems", "transformations")
                    for member in params[kind]
                ),
            )

    def bare_read_network(self, network: ScopedKey) -> int:
        return len(self.conn.execute(BARE_MEMBERS, (str(network),)).fetchall())

    def bare_create_tasks(self, rows: Sequence[dict[str, str]]) -> None:
        with write(self.conn) as conn:
            conn.executemany(BARE_CREATE_TASK, rows)

    def bare_action_tasks(self, network: ScopedKey, tasks: Sequence[str]) -> None:
        with write(self.conn) as conn:
            conn.executemany(BARE_ACTION, ((str(network), task) for task in tasks))

    def bare_network_status(self, network: ScopedKey) -> object:
        return self.conn.execute(BARE_STATUS, (str(network),)).fetchall()

    @contextmanager
    def bare_claimers(self, n_tasks: int, claimers: int) -> Iterator[list[BareClaimer]]:
        """Each claimer has its own connection and, per call, selects waiting scratch
        tasks and marks them in one ``BEGIN IMMEDIATE`` (as the store's claim does)."""
        self.drop_scratch()
        with write(self.conn) as conn:
            conn.executemany(BARE_CLAIM_SETUP, ((f"bench-claim-{i}",) for i in range(n_tasks)))
        connections = [connect(self.path) for _ in range(claimers)]

        def claimer(i: int) -> BareClaimer:
            conn, identifier = connections[i], f"bare-{i}"

            def claim(count: int) -> int:
                with write(conn):
                    got = [row[0] for row in conn.execute(BARE_CLAIM_SELECT, (count,))]
                    conn.executemany(BARE_CLAIM_UPDATE, ((identifier, sk) for sk in got))
                return len(got)

            return claim

        try:
            yield [claimer(i) for i in range(claimers)]
        finally:
            for conn in connections:
                conn.close()
            self.drop_scratch()

    # -- EXPLAIN QUERY PLAN ---------------------------------------------------------------

    def profile_network(self, network: ScopedKey) -> None:
        self.explain(
            "get_network_transformations: MEMBERS",
            network_statements.MEMBERS,
            (str(network), "Transformation"),
        )

    def profile_tasks(
        self, transformations: Sequence[ScopedKey], network: ScopedKey, tasks: Sequence[ScopedKey]
    ) -> None:
        self.explain(
            "action_tasks: IN_NETWORK",
            task_statements.IN_NETWORK,
            (str(network), str(transformations[0])),
        )

    def profile_claims(self, hub: ScopedKey) -> None:
        self.explain("claim_tasks: CLAIMABLE_HUBS", claim_statements.CLAIMABLE_HUBS, ())
        self.explain("claim_tasks: CANDIDATES", claim_statements.CANDIDATES, (str(hub), None, 1))

    def profile_status(self, network: ScopedKey) -> None:
        self.explain(
            "get_network_status: NETWORK_STATUS", task_statements.NETWORK_STATUS, (str(network),)
        )
        self.explain("baseline: BARE_STATUS", BARE_STATUS, (str(network),))
