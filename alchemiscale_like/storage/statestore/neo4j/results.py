"""References to a Task's DAG, unit results, files and DAG results in Neo4j."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from neo4j import ManagedTransaction

from alchemiscale_like.errors import ClaimLost, Conflict, NotFound, ValidationError
from alchemiscale_like.models.estimate import ResultEstimate
from alchemiscale_like.models.scope import ScopedKey
from alchemiscale_like.models.task import TaskStatus
from alchemiscale_like.storage.statestore.base import ResultStore
from alchemiscale_like.storage.statestore.neo4j.connection import (
    Neo4jConnection,
    single,
    to_native,
)
from alchemiscale_like.storage.statestore.neo4j.plans import fixed_plan
from alchemiscale_like.storage.statestore.neo4j.tasks import APPLY_STATUS, task_record
from alchemiscale_like.storage.statestore.records import (
    ClaimedTask,
    ProtocolDAGRef,
    ProtocolDAGResultRef,
    ProtocolUnitResultRef,
    ResultFileRef,
    TaskProgress,
)
from alchemiscale_like.storage.statestore.rules import RestartCounter, decide_restart

# Locks the task (write lock via SET) and reports whether ``$identifier`` holds it.
LOCK_AND_CHECK_CLAIM = fixed_plan(
    """
MATCH (t:Task {scoped_key: $task})
SET t._lock = true
REMOVE t._lock
WITH t
OPTIONAL MATCH (c:ComputeServiceRegistration {identifier: $identifier})-[:CLAIMS]->(t)
OPTIONAL MATCH (t)-[:HAS_DAG]->(d:ProtocolDAGRef)
RETURN t.status AS status, t.attempts AS claim, c IS NOT NULL AS holds, d {.*} AS dag
"""
)

CREATE_DAG = fixed_plan(
    """
MATCH (t:Task {scoped_key: $task})-[:PERFORMS]->(tf:Transformation)
CREATE (t)-[:HAS_DAG]->(d:ProtocolDAGRef {task: $task, key: $key, relpath: $relpath,
                                          n_units: $n_units, transformation: tf.scoped_key,
                                          n_done: 0})
"""
)

GET_DAG = fixed_plan(
    """
MATCH (t:Task {scoped_key: $task})
OPTIONAL MATCH (t)-[:HAS_DAG]->(d:ProtocolDAGRef)
RETURN d {.*} AS dag
"""
)

CLAIMED_TASK = fixed_plan(
    """
MATCH (t:Task {scoped_key: $task})-[:PERFORMS]->(tf:Transformation)
OPTIONAL MATCH (t)-[:EXTENDS]->(prev:Task)
OPTIONAL MATCH (c:ComputeServiceRegistration)-[:CLAIMS]->(t)
OPTIONAL MATCH (t)-[:HAS_DAG]->(d:ProtocolDAGRef)
RETURN t {.*} AS task, tf.scoped_key AS transformation, prev.scoped_key AS extends,
       c.identifier AS claimant, d {.*} AS dag
"""
)

ADD_UNIT_RESULT = fixed_plan(
    """
MATCH (d:ProtocolDAGRef {task: $task})
MERGE (u:ProtocolUnitResultRef {uid: $uid})
  ON CREATE SET u.unit_key = $unit_key, u.attempt = $attempt, u.ok = $ok, u.relpath = $relpath,
                u.service = $service, u.started = $started, u.finished = $finished,
                u._fresh = true
MERGE (d)-[:HAS_UNIT_RESULT]->(u)
WITH d, u, u._fresh AS fresh
REMOVE u._fresh
WITH d, u, fresh WHERE fresh
// n_done counts the units with a successful result (see overview.py): a unit's first
// successful attempt adds one, a repeated upload (not fresh) or a second success none.
SET d.n_done = d.n_done + CASE WHEN $ok AND NOT EXISTS {
      MATCH (d)-[:HAS_UNIT_RESULT]->(o:ProtocolUnitResultRef {unit_key: $unit_key})
      WHERE o.ok AND o <> u } THEN 1 ELSE 0 END
WITH u
UNWIND $files AS f
CREATE (u)-[:HAS_FILE]->(:ResultFileRef {name: f.name, size: f.size, sha256: f.sha256,
                                         location: f.location})
"""
)

UNIT_RESULTS = fixed_plan(
    """
MATCH (t:Task {scoped_key: $task})
OPTIONAL MATCH (t)-[:HAS_DAG]->(:ProtocolDAGRef)-[:HAS_UNIT_RESULT]->(u:ProtocolUnitResultRef)
WHERE u.ok OR NOT $ok_only
OPTIONAL MATCH (u)-[:HAS_FILE]->(f:ResultFileRef)
WITH t, u, collect(f {.*}) AS files
RETURN t.scoped_key AS task, u {.*} AS unit, files
ORDER BY u.unit_key, u.attempt
"""
)

PROGRESS = fixed_plan(
    """
MATCH (t:Task {scoped_key: $task})
OPTIONAL MATCH (t)-[:HAS_DAG]->(d:ProtocolDAGRef)
OPTIONAL MATCH (d)-[:HAS_UNIT_RESULT]->(u:ProtocolUnitResultRef {ok: true})
RETURN d.n_units AS total, count(DISTINCT u.unit_key) AS done
"""
)

HAS_OK_RESULT = fixed_plan(
    """
MATCH (:ProtocolDAGRef {task: $task})-[:RESULTS_IN]->(r:ProtocolDAGResultRef {ok: true})
RETURN r.key AS key
"""
)

ADD_DAG_RESULT = fixed_plan(
    """
MATCH (d:ProtocolDAGRef {task: $task})
MERGE (r:ProtocolDAGResultRef {uid: $uid})
  ON CREATE SET r.key = $key, r.ok = $ok, r.relpath = $relpath, r.created = $created,
                r.task = $task, r.estimate = $estimate, r.uncertainty = $uncertainty,
                r.units = $units
MERGE (d)-[:RESULTS_IN]->(r)
"""
)

RESTART_PATTERNS_FOR_TASK = fixed_plan(
    """
MATCH (t:Task {scoped_key: $task})<-[:ACTIONS]-(th:TaskHub)<-[:ENFORCES]-(p:TaskRestartPattern)
OPTIONAL MATCH (p)-[ap:APPLIES]->(t)
RETURN p.uid AS uid, p.pattern AS pattern, p.max_retries AS max_retries,
       coalesce(ap.num_retries, 0) AS used, th.network AS network
"""
)

COUNT_RESTART = fixed_plan(
    """
MATCH (p:TaskRestartPattern {uid: $uid}), (t:Task {scoped_key: $task})
MERGE (p)-[ap:APPLIES]->(t)
SET ap.num_retries = $used
"""
)

CANCEL_ON_HUB = fixed_plan(
    """
MATCH (th:TaskHub {network: $network})-[a:ACTIONS]->(:Task {scoped_key: $task})
DELETE a
"""
)

TASK_RESULTS = fixed_plan(
    """
MATCH (t:Task {scoped_key: $task})
OPTIONAL MATCH (t)-[:HAS_DAG]->(:ProtocolDAGRef)-[:RESULTS_IN]->(r:ProtocolDAGResultRef)
RETURN t.scoped_key AS found, r {.*} AS result ORDER BY r.created
"""
)

TRANSFORMATION_RESULTS = """
MATCH (tf:Transformation {scoped_key: $sk})
OPTIONAL MATCH (tf)<-[:PERFORMS]-(:Task)-[:HAS_DAG]->(:ProtocolDAGRef)
               -[:RESULTS_IN]->(r:ProtocolDAGResultRef {ok: true})
RETURN tf.scoped_key AS found, r {.*} AS result ORDER BY r.created
"""


def _dag(props: dict[str, Any] | None) -> ProtocolDAGRef | None:
    if props is None:
        return None
    return ProtocolDAGRef(key=props["key"], relpath=props["relpath"], n_units=props["n_units"])


def estimate_params(estimate: ResultEstimate | None) -> dict[str, Any]:
    """A DAG result's estimate as the flat properties it is stored in."""
    if estimate is None:
        return {"estimate": None, "uncertainty": None, "units": None}
    return estimate.model_dump()


def stored_estimate(props: dict[str, Any]) -> ResultEstimate | None:
    """The estimate stored in a DAG result's properties, if it has one."""
    if props.get("estimate") is None:
        return None
    return ResultEstimate(
        estimate=props["estimate"], uncertainty=props.get("uncertainty"), units=props.get("units")
    )


def _dag_result(props: dict[str, Any]) -> ProtocolDAGResultRef:
    return ProtocolDAGResultRef(
        key=props["key"],
        ok=props["ok"],
        relpath=props["relpath"],
        created=to_native(props["created"]),
        task=ScopedKey.from_str(props["task"]),
        estimate=stored_estimate(props),
    )


def _lock_claimed(
    tx: ManagedTransaction, task: ScopedKey, identifier: str, claim: int | None = None
) -> Any:
    record = single(
        list(tx.run(LOCK_AND_CHECK_CLAIM, task=str(task), identifier=identifier)), f"task {task}"
    )
    if not record["holds"] or record["status"] != TaskStatus.RUNNING:
        raise ClaimLost(f"{identifier} does not hold the claim on {task}")
    if claim is not None and record["claim"] != claim:
        raise ClaimLost(f"claim {claim} on {task} is over (the current one is {record['claim']})")
    return record


class Neo4jResults(ResultStore):
    """ResultStore on Neo4j."""

    _db: Neo4jConnection

    def set_task_dag(self, task: ScopedKey, identifier: str, dag: ProtocolDAGRef) -> ProtocolDAGRef:
        if dag.n_units < 1:
            raise ValidationError("a ProtocolDAG has at least one unit")

        def work(tx: ManagedTransaction) -> ProtocolDAGRef:
            record = _lock_claimed(tx, task, identifier)
            existing = _dag(record["dag"])
            if existing is not None:
                return existing
            tx.run(
                CREATE_DAG, task=str(task), key=dag.key, relpath=dag.relpath, n_units=dag.n_units
            ).consume()
            return dag

        return self._db.write(work)

    def get_task_dag(self, task: ScopedKey) -> ProtocolDAGRef | None:
        record = single(self._db.query(GET_DAG, task=str(task)), f"task {task}")
        return _dag(record["dag"])

    def get_claimed_task(self, task: ScopedKey, identifier: str) -> ClaimedTask:
        row = single(self._db.query(CLAIMED_TASK, task=str(task)), f"task {task}")
        record = task_record(row)
        if record.status != TaskStatus.RUNNING or row["claimant"] != identifier:
            raise ClaimLost(f"{identifier} does not hold the claim on {task}")
        return ClaimedTask(record=record, dag=_dag(row["dag"]))

    def add_unit_result(
        self,
        task: ScopedKey,
        identifier: str,
        result: ProtocolUnitResultRef,
        claim: int | None = None,
    ) -> None:
        if result.attempt < 1:
            raise ValidationError("attempt numbers start at 1")

        def work(tx: ManagedTransaction) -> None:
            record = _lock_claimed(tx, task, identifier, claim)
            if record["dag"] is None:
                raise NotFound(f"task {task} has no ProtocolDAG yet")
            tx.run(
                ADD_UNIT_RESULT,
                task=str(task),
                uid=f"{task}/{result.unit_key}/{result.attempt}",
                unit_key=result.unit_key,
                attempt=result.attempt,
                ok=result.ok,
                relpath=result.relpath,
                service=result.service,
                started=result.started,
                finished=result.finished,
                files=[f.model_dump() for f in result.files],
            ).consume()

        self._db.write(work)

    def get_unit_results(
        self, task: ScopedKey, ok_only: bool = False
    ) -> list[ProtocolUnitResultRef]:
        records = self._db.query(UNIT_RESULTS, task=str(task), ok_only=ok_only)
        single(records, f"task {task}")
        return [
            ProtocolUnitResultRef(
                unit_key=r["unit"]["unit_key"],
                attempt=r["unit"]["attempt"],
                ok=r["unit"]["ok"],
                relpath=r["unit"]["relpath"],
                files=tuple(sorted((ResultFileRef(**f) for f in r["files"]), key=lambda f: f.name)),
                service=r["unit"].get("service"),
                started=to_native(r["unit"].get("started")),
                finished=to_native(r["unit"].get("finished")),
            )
            for r in records
            if r["unit"] is not None
        ]

    def get_task_progress(self, task: ScopedKey) -> TaskProgress:
        record = single(self._db.query(PROGRESS, task=str(task)), f"task {task}")
        return TaskProgress(done=record["done"], total=record["total"] or 0)

    def get_task_files(self, task: ScopedKey) -> list[ResultFileRef]:
        return [f for u in self.get_unit_results(task) for f in u.files]

    def finish_task(
        self,
        task: ScopedKey,
        identifier: str,
        result: ProtocolDAGResultRef,
        tracebacks: Sequence[str] = (),
    ) -> TaskStatus:
        def work(tx: ManagedTransaction) -> TaskStatus:
            record = _lock_claimed(tx, task, identifier)
            if record["dag"] is None:
                raise NotFound(f"task {task} has no ProtocolDAG yet")
            if result.ok and list(tx.run(HAS_OK_RESULT, task=str(task))):
                raise Conflict(f"task {task} already has a successful ProtocolDAGResult")
            tx.run(
                ADD_DAG_RESULT,
                task=str(task),
                uid=f"{task}/{result.key}",
                key=result.key,
                ok=result.ok,
                relpath=result.relpath,
                created=result.created,
                **estimate_params(result.estimate),
            ).consume()
            if result.ok:
                status = TaskStatus.COMPLETE
            else:
                status = self._restart_or_error(tx, task, tracebacks)
            tx.run(
                APPLY_STATUS,
                tasks=[str(task)],
                status=str(status),
                drop_actions=status == TaskStatus.COMPLETE,
            ).consume()
            return status

        return self._db.write(work)

    @staticmethod
    def _restart_or_error(
        tx: ManagedTransaction, task: ScopedKey, tracebacks: Sequence[str]
    ) -> TaskStatus:
        counters = [
            RestartCounter(
                uid=r["uid"],
                pattern=r["pattern"],
                max_retries=r["max_retries"],
                used=r["used"],
                network=r["network"],
            )
            for r in tx.run(RESTART_PATTERNS_FOR_TASK, task=str(task))
        ]
        decision = decide_restart(counters, tracebacks)
        for uid, used in decision.used.items():
            tx.run(COUNT_RESTART, uid=uid, task=str(task), used=used).consume()
        for network in decision.cancel_on:
            tx.run(CANCEL_ON_HUB, network=network, task=str(task)).consume()
        return decision.status

    def get_task_results(self, task: ScopedKey) -> list[ProtocolDAGResultRef]:
        records = self._db.query(TASK_RESULTS, task=str(task))
        single(records, f"task {task}")
        return [_dag_result(r["result"]) for r in records if r["result"] is not None]

    def get_transformation_results(self, transformation: ScopedKey) -> list[ProtocolDAGResultRef]:
        records = self._db.query(TRANSFORMATION_RESULTS, sk=str(transformation))
        single(records, f"transformation {transformation}")
        return [_dag_result(r["result"]) for r in records if r["result"] is not None]
