"""References to a Task's DAG, unit results, files and DAG results in SQLite."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from alchemiscale_like.errors import ClaimLost, Conflict, NotFound, ValidationError
from alchemiscale_like.models.estimate import ResultEstimate
from alchemiscale_like.models.scope import ScopedKey
from alchemiscale_like.models.task import TaskStatus
from alchemiscale_like.storage.statestore.base import ResultStore
from alchemiscale_like.storage.statestore.records import (
    ClaimedTask,
    ProtocolDAGRef,
    ProtocolDAGResultRef,
    ProtocolUnitResultRef,
    ResultFileRef,
    TaskProgress,
)
from alchemiscale_like.storage.statestore.rules import RestartCounter, decide_restart
from alchemiscale_like.storage.statestore.sqlite.connection import (
    SQLiteConnection,
    from_text,
    single,
    to_text,
)
from alchemiscale_like.storage.statestore.sqlite.tasks import TASK_ROW, apply_status, task_record

CLAIM_CHECK = """
SELECT t.status, t.attempts, c.identifier AS claimant
FROM tasks t LEFT JOIN claims c ON c.task = t.scoped_key WHERE t.scoped_key = ?
"""
DAG_ROW = "SELECT key, relpath, n_units FROM dags WHERE task = ?"
TASK_EXISTS = "SELECT 1 FROM tasks WHERE scoped_key = ?"

INSERT_UNIT_RESULT = """
INSERT INTO unit_results (task, unit_key, attempt, ok, relpath, service, started, finished)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT DO NOTHING
"""
INSERT_FILE = """
INSERT INTO result_files (task, unit_key, attempt, name, size, sha256, location)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""
UNIT_RESULTS = """
SELECT unit_key, attempt, ok, relpath, service, started, finished FROM unit_results
WHERE task = ?1 AND (ok OR NOT ?2) ORDER BY unit_key, attempt
"""
UNIT_FILES = """
SELECT unit_key, attempt, name, size, sha256, location FROM result_files
WHERE task = ? ORDER BY name
"""

RESTART_COUNTERS = """
SELECT p.network, p.pattern, p.max_retries, coalesce(rc.used, 0) AS used
FROM actions a JOIN restart_patterns p ON p.network = a.network
LEFT JOIN restart_counts rc
  ON rc.network = p.network AND rc.pattern = p.pattern AND rc.task = a.task
WHERE a.task = ?
"""
COUNT_RESTART = """
INSERT INTO restart_counts (network, pattern, task, used) VALUES (?, ?, ?, ?)
ON CONFLICT DO UPDATE SET used = excluded.used
"""


def _dag(row: sqlite3.Row | None) -> ProtocolDAGRef | None:
    if row is None:
        return None
    return ProtocolDAGRef(key=row["key"], relpath=row["relpath"], n_units=row["n_units"])


def _dag_result(row: sqlite3.Row) -> ProtocolDAGResultRef:
    created = from_text(row["created"])
    assert created is not None
    return ProtocolDAGResultRef(
        key=row["key"],
        ok=bool(row["ok"]),
        relpath=row["relpath"],
        created=created,
        task=ScopedKey.from_str(row["task"]),
        estimate=stored_estimate(row),
    )


def estimate_columns(
    estimate: ResultEstimate | None,
) -> tuple[float | None, float | None, str | None]:
    """A DAG result's estimate as its three columns."""
    if estimate is None:
        return None, None, None
    return estimate.estimate, estimate.uncertainty, estimate.units


def stored_estimate(row: sqlite3.Row) -> ResultEstimate | None:
    """The estimate in a ``dag_results`` row (with its three columns), if any."""
    if row["estimate"] is None:
        return None
    return ResultEstimate(
        estimate=row["estimate"], uncertainty=row["uncertainty"], units=row["units"]
    )


def _require_claim(
    conn: sqlite3.Connection, task: ScopedKey, identifier: str, claim: int | None = None
) -> ProtocolDAGRef | None:
    """Check ``identifier`` holds ``task`` (and, with ``claim``, that claim); its DAG."""
    row = single(conn.execute(CLAIM_CHECK, (str(task),)).fetchone(), f"task {task}")
    if row["claimant"] != identifier or row["status"] != TaskStatus.RUNNING:
        raise ClaimLost(f"{identifier} does not hold the claim on {task}")
    if claim is not None and row["attempts"] != claim:
        raise ClaimLost(f"claim {claim} on {task} is over (the current one is {row['attempts']})")
    return _dag(conn.execute(DAG_ROW, (str(task),)).fetchone())


class SQLiteResults(ResultStore):
    """ResultStore on SQLite."""

    _db: SQLiteConnection

    def set_task_dag(self, task: ScopedKey, identifier: str, dag: ProtocolDAGRef) -> ProtocolDAGRef:
        if dag.n_units < 1:
            raise ValidationError("a ProtocolDAG has at least one unit")

        def work(conn: sqlite3.Connection) -> ProtocolDAGRef:
            existing = _require_claim(conn, task, identifier)
            if existing is not None:
                return existing
            conn.execute(
                "INSERT INTO dags (task, key, relpath, n_units) VALUES (?, ?, ?, ?)",
                (str(task), dag.key, dag.relpath, dag.n_units),
            )
            return dag

        return self._db.write(work)

    def get_task_dag(self, task: ScopedKey) -> ProtocolDAGRef | None:
        def work(conn: sqlite3.Connection) -> ProtocolDAGRef | None:
            single(conn.execute(TASK_EXISTS, (str(task),)).fetchone(), f"task {task}")
            return _dag(conn.execute(DAG_ROW, (str(task),)).fetchone())

        return self._db.read(work)

    def get_claimed_task(self, task: ScopedKey, identifier: str) -> ClaimedTask:
        def work(conn: sqlite3.Connection) -> ClaimedTask:
            row = single(conn.execute(TASK_ROW, (str(task),)).fetchone(), f"task {task}")
            record = task_record(row)
            claim = conn.execute("SELECT identifier FROM claims WHERE task = ?", (str(task),))
            holder = claim.fetchone()
            if record.status != TaskStatus.RUNNING or holder is None or holder[0] != identifier:
                raise ClaimLost(f"{identifier} does not hold the claim on {task}")
            return ClaimedTask(
                record=record, dag=_dag(conn.execute(DAG_ROW, (str(task),)).fetchone())
            )

        return self._db.read(work)

    def add_unit_result(
        self,
        task: ScopedKey,
        identifier: str,
        result: ProtocolUnitResultRef,
        claim: int | None = None,
    ) -> None:
        if result.attempt < 1:
            raise ValidationError("attempt numbers start at 1")
        unit = (str(task), result.unit_key, result.attempt)

        def work(conn: sqlite3.Connection) -> None:
            if _require_claim(conn, task, identifier, claim) is None:
                raise NotFound(f"task {task} has no ProtocolDAG yet")
            inserted = conn.execute(
                INSERT_UNIT_RESULT,
                (
                    *unit,
                    result.ok,
                    result.relpath,
                    result.service,
                    to_text(result.started),
                    to_text(result.finished),
                ),
            )
            if inserted.rowcount:  # idempotent: a repeat records no second set of files
                conn.executemany(
                    INSERT_FILE,
                    [(*unit, f.name, f.size, f.sha256, f.location) for f in result.files],
                )

        self._db.write(work)

    def get_unit_results(
        self, task: ScopedKey, ok_only: bool = False
    ) -> list[ProtocolUnitResultRef]:
        def work(conn: sqlite3.Connection) -> list[ProtocolUnitResultRef]:
            single(conn.execute(TASK_EXISTS, (str(task),)).fetchone(), f"task {task}")
            files: dict[tuple[str, int], list[ResultFileRef]] = {}
            for f in conn.execute(UNIT_FILES, (str(task),)):
                files.setdefault((f["unit_key"], f["attempt"]), []).append(
                    ResultFileRef(
                        name=f["name"], size=f["size"], sha256=f["sha256"], location=f["location"]
                    )
                )
            return [
                ProtocolUnitResultRef(
                    unit_key=r["unit_key"],
                    attempt=r["attempt"],
                    ok=bool(r["ok"]),
                    relpath=r["relpath"],
                    files=tuple(files.get((r["unit_key"], r["attempt"]), ())),
                    service=r["service"],
                    started=from_text(r["started"]),
                    finished=from_text(r["finished"]),
                )
                for r in conn.execute(UNIT_RESULTS, (str(task), ok_only))
            ]

        return self._db.read(work)

    def get_task_progress(self, task: ScopedKey) -> TaskProgress:
        def work(conn: sqlite3.Connection) -> TaskProgress:
            single(conn.execute(TASK_EXISTS, (str(task),)).fetchone(), f"task {task}")
            dag = _dag(conn.execute(DAG_ROW, (str(task),)).fetchone())
            done = conn.execute(
                "SELECT count(DISTINCT unit_key) FROM unit_results WHERE task = ? AND ok",
                (str(task),),
            ).fetchone()[0]
            return TaskProgress(done=done, total=dag.n_units if dag is not None else 0)

        return self._db.read(work)

    def get_task_files(self, task: ScopedKey) -> list[ResultFileRef]:
        return [f for u in self.get_unit_results(task) for f in u.files]

    def finish_task(
        self,
        task: ScopedKey,
        identifier: str,
        result: ProtocolDAGResultRef,
        tracebacks: Sequence[str] = (),
    ) -> TaskStatus:
        def work(conn: sqlite3.Connection) -> TaskStatus:
            if _require_claim(conn, task, identifier) is None:
                raise NotFound(f"task {task} has no ProtocolDAG yet")
            has_ok = conn.execute(
                "SELECT 1 FROM dag_results WHERE task = ? AND ok", (str(task),)
            ).fetchone()
            if result.ok and has_ok is not None:
                raise Conflict(f"task {task} already has a successful ProtocolDAGResult")
            conn.execute(
                "INSERT INTO dag_results (task, key, ok, relpath, created, estimate, "
                "uncertainty, units) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    str(task),
                    result.key,
                    result.ok,
                    result.relpath,
                    to_text(result.created),
                    *estimate_columns(result.estimate),
                ),
            )
            if result.ok:
                status = TaskStatus.COMPLETE
            else:
                status = self._restart_or_error(conn, task, tracebacks)
            apply_status(conn, [str(task)], status, drop_actions=status == TaskStatus.COMPLETE)
            return status

        return self._db.write(work)

    @staticmethod
    def _restart_or_error(
        conn: sqlite3.Connection, task: ScopedKey, tracebacks: Sequence[str]
    ) -> TaskStatus:
        counters = [
            RestartCounter(
                uid=f"{r['network']}/{r['pattern']}",
                pattern=r["pattern"],
                max_retries=r["max_retries"],
                used=r["used"],
                network=r["network"],
            )
            for r in conn.execute(RESTART_COUNTERS, (str(task),))
        ]
        by_uid = {c.uid: c for c in counters}
        decision = decide_restart(counters, tracebacks)
        for uid, used in decision.used.items():
            counter = by_uid[uid]
            conn.execute(COUNT_RESTART, (counter.network, counter.pattern, str(task), used))
        for network in decision.cancel_on:
            conn.execute("DELETE FROM actions WHERE network = ? AND task = ?", (network, str(task)))
        return decision.status

    def get_task_results(self, task: ScopedKey) -> list[ProtocolDAGResultRef]:
        def work(conn: sqlite3.Connection) -> list[ProtocolDAGResultRef]:
            single(conn.execute(TASK_EXISTS, (str(task),)).fetchone(), f"task {task}")
            rows = conn.execute(
                "SELECT key, ok, relpath, created, task, estimate, uncertainty, units "
                "FROM dag_results WHERE task = ? "
                "ORDER BY created",
                (str(task),),
            )
            return [_dag_result(r) for r in rows]

        return self._db.read(work)

    def get_transformation_results(self, transformation: ScopedKey) -> list[ProtocolDAGResultRef]:
        def work(conn: sqlite3.Connection) -> list[ProtocolDAGResultRef]:
            single(
                conn.execute(
                    "SELECT 1 FROM transformations WHERE scoped_key = ?", (str(transformation),)
                ).fetchone(),
                f"transformation {transformation}",
            )
            rows = conn.execute(
                "SELECT r.key, r.ok, r.relpath, r.created, r.task, r.estimate, r.uncertainty, "
                "r.units FROM tasks t "
                "JOIN dag_results r ON r.task = t.scoped_key "
                "WHERE t.transformation = ? AND r.ok ORDER BY r.created",
                (str(transformation),),
            )
            return [_dag_result(r) for r in rows]

        return self._db.read(work)
