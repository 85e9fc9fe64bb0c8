"""Tasks, TaskHubs, priorities and status transitions in Neo4j."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from neo4j import ManagedTransaction

from alchemiscale_like.errors import NotFound, ValidationError
from alchemiscale_like.models.scope import ScopedKey
from alchemiscale_like.models.task import (
    ACTIONABLE,
    CASCADING,
    USER_TRANSITIONS,
    TaskStatus,
    new_task_key,
)
from alchemiscale_like.storage.statestore.base import TaskStore
from alchemiscale_like.storage.statestore.neo4j.claim_order import SYNC_CLAIM_ORDER
from alchemiscale_like.storage.statestore.neo4j.connection import (
    Neo4jConnection,
    now,
    single,
    to_native,
)
from alchemiscale_like.storage.statestore.neo4j.plans import fixed_plan
from alchemiscale_like.storage.statestore.records import TaskRecord
from alchemiscale_like.storage.statestore.rules import (
    DEFAULT_ACTION_WEIGHT,
    DEFAULT_PRIORITY,
    check_priority,
    check_user_status,
    check_user_transitions,
    check_weight,
)

FIND_TRANSFORMATIONS = """
UNWIND $sks AS sk
MATCH (tf:Transformation {scoped_key: sk})
RETURN DISTINCT tf.scoped_key AS sk
"""

FIND_EXTENDED = """
UNWIND $sks AS sk
MATCH (t:Task {scoped_key: sk})-[:PERFORMS]->(tf:Transformation)
RETURN t.scoped_key AS sk, tf.scoped_key AS transformation, t.status AS status
"""

CREATE_TASKS = """
UNWIND $tasks AS spec
MATCH (tf:Transformation {scoped_key: spec.transformation})
CREATE (t:Task)
SET t += spec.node, t.status = 'waiting', t.priority = $priority, t.created = $created,
    t.creator = $creator, t.attempts = 0, t.transformation = tf.scoped_key
CREATE (t)-[:PERFORMS]->(tf)
WITH t, spec WHERE spec.extends IS NOT NULL
MATCH (prev:Task {scoped_key: spec.extends})
CREATE (t)-[:EXTENDS]->(prev)
"""

GET_TASK = fixed_plan(
    """
MATCH (t:Task {scoped_key: $sk})-[:PERFORMS]->(tf:Transformation)
OPTIONAL MATCH (t)-[:EXTENDS]->(prev:Task)
RETURN t {.*} AS task, tf.scoped_key AS transformation, prev.scoped_key AS extends
"""
)

TRANSFORMATION_TASKS = """
MATCH (tf:Transformation {scoped_key: $sk})
OPTIONAL MATCH (t:Task)-[:PERFORMS]->(tf)
WHERE $status IS NULL OR t.status = $status
RETURN tf.scoped_key AS tf, collect(t.scoped_key) AS tasks
"""

NETWORK_TASKS = """
MATCH (n:AlchemicalNetwork {scoped_key: $sk})
OPTIONAL MATCH (n)-[:CONTAINS]->(:Transformation)<-[:PERFORMS]-(t:Task)
WHERE $status IS NULL OR t.status = $status
RETURN n.scoped_key AS network, collect(t.scoped_key) AS tasks
"""

TASK_NETWORK_MEMBERSHIP = """
OPTIONAL MATCH (n:AlchemicalNetwork {scoped_key: $network})
CALL (n) {
  UNWIND $tasks AS sk
  OPTIONAL MATCH (t:Task {scoped_key: sk})
  WITH sk, t
  WHERE t IS NULL OR NOT EXISTS { (t)-[:PERFORMS]->(:Transformation)<-[:CONTAINS]-(n) }
  RETURN collect(CASE WHEN t IS NULL THEN sk END) AS unknown,
         collect(CASE WHEN t IS NOT NULL THEN sk END) AS foreign
}
RETURN n IS NOT NULL AS found, unknown, foreign
"""

# ``IN $tasks`` rather than UNWIND + per-row lookup: on a young database the
# planner may pick the status index for a per-row lookup (rows x tasks reads);
# here the worst plan is one linear pass.
ACTION_TASKS = """
MATCH (th:TaskHub {network: $network})
MATCH (t:Task) WHERE t.scoped_key IN $tasks AND t.status IN $actionable
MERGE (th)-[a:ACTIONS]->(t)
  ON CREATE SET a.weight = coalesce($weight, $default_weight)
SET a.weight = coalesce($weight, a.weight), a.network = th.network, a.priority = t.priority,
    a.order = CASE WHEN t.status <> 'waiting' THEN null
                   WHEN $weight IS NULL AND a.order IS NOT NULL THEN a.order
                   ELSE -log(1.0 - rand()) / coalesce($weight, a.weight) END
RETURN collect(t.scoped_key) AS actioned
"""

CANCEL_TASKS = """
MATCH (th:TaskHub {network: $network})
UNWIND $tasks AS sk
MATCH (th)-[a:ACTIONS]->(t:Task {scoped_key: sk})
DELETE a
RETURN t.scoped_key AS sk
"""

TASKHUB_TASKS = """
MATCH (th:TaskHub {network: $network})
OPTIONAL MATCH (th)-[a:ACTIONS]->(t:Task)
RETURN th.weight AS weight, collect([t.scoped_key, a.weight]) AS tasks
"""

SET_TASKHUB_WEIGHT = """
MATCH (th:TaskHub {network: $network}) SET th.weight = $weight RETURN th.weight AS weight
"""

SET_PRIORITY = """
UNWIND $tasks AS sk
MATCH (t:Task {scoped_key: sk})
SET t.priority = $priority
WITH t
OPTIONAL MATCH ()-[a:ACTIONS]->(t)
SET a.priority = $priority
"""

GET_STATUS = fixed_plan(
    """
UNWIND $tasks AS sk
MATCH (t:Task {scoped_key: sk}) RETURN t.scoped_key AS sk, t.status AS status
"""
)

# Setting a property takes the node's write lock; reading after it sees the
# latest committed status, so the transition check cannot race another writer.
LOCK_TASKS = fixed_plan(
    """
UNWIND $tasks AS sk
MATCH (t:Task {scoped_key: sk})
SET t._lock = true
REMOVE t._lock
RETURN t.scoped_key AS sk, t.status AS status
"""
)

EXTENDING_TASKS = fixed_plan(
    """
UNWIND $tasks AS sk
MATCH (:Task {scoped_key: sk})<-[:EXTENDS*1..]-(e:Task)
SET e._lock = true
REMOVE e._lock
RETURN DISTINCT e.scoped_key AS sk, e.status AS status
"""
)

APPLY_STATUS = fixed_plan(
    """
UNWIND $tasks AS sk
MATCH (t:Task {scoped_key: sk})
SET t.status = $status
WITH t
OPTIONAL MATCH (t)<-[c:CLAIMS]-()
DELETE c
WITH DISTINCT t
OPTIONAL MATCH (t)<-[a:ACTIONS]-()
WHERE $drop_actions
DELETE a
"""
    + SYNC_CLAIM_ORDER
)

# Counted from the (transformation, status) index: each task's status comes with its
# index entry, so no task's properties are read (100,000 tasks: ~85 ms, where walking
# the graph and reading each status took ~190). Tasks carry their transformation's
# scoped key for this (set when created; backfilled by initialize()).
NETWORK_STATUS = """
MATCH (n:AlchemicalNetwork {scoped_key: $sk})
OPTIONAL MATCH (n)-[:CONTAINS]->(tf:Transformation)
WITH n, collect(tf.scoped_key) AS transformations
OPTIONAL MATCH (t:Task) USING INDEX t:Task(transformation, status)
WHERE t.transformation IN transformations AND t.status IS NOT NULL
RETURN n.scoped_key AS found, t.status AS status, count(t) AS n
"""

TRANSFORMATION_STATUS = """
MATCH (tf:Transformation {scoped_key: $sk})
OPTIONAL MATCH (t:Task) USING INDEX t:Task(transformation, status)
WHERE t.transformation = tf.scoped_key AND t.status IS NOT NULL
RETURN tf.scoped_key AS found, t.status AS status, count(t) AS n
"""


def _keys(values: list[str]) -> list[ScopedKey]:
    return [ScopedKey.from_str(v) for v in sorted(values)]


def _counts(records: list[Any], what: str) -> dict[str, int]:
    single(records, what)
    return {r["status"]: r["n"] for r in records if r["status"] is not None}


def task_record(record: Any) -> TaskRecord:
    """The :class:`TaskRecord` of a row with ``task`` (properties), ``transformation``
    and ``extends`` (scoped keys)."""
    props = record["task"]
    return TaskRecord(
        scoped_key=ScopedKey.from_str(props["scoped_key"]),
        status=TaskStatus(props["status"]),
        priority=props["priority"],
        created=to_native(props["created"]),
        creator=props.get("creator"),
        attempts=props["attempts"],
        extends=ScopedKey.from_str(record["extends"]) if record["extends"] else None,
        transformation=ScopedKey.from_str(record["transformation"]),
    )


class Neo4jTasks(TaskStore):
    """TaskStore on Neo4j."""

    _db: Neo4jConnection

    def create_tasks(
        self,
        transformations: Sequence[ScopedKey],
        extends: Sequence[ScopedKey | None] | None = None,
        creator: str | None = None,
    ) -> list[ScopedKey]:
        if extends is not None and len(extends) != len(transformations):
            raise ValidationError("extends must have one entry per transformation")
        extends = list(extends) if extends is not None else [None] * len(transformations)
        keys = [new_task_key(tf.scope) for tf in transformations]
        specs = [
            {
                "node": {
                    "scoped_key": str(sk),
                    "org": sk.org,
                    "campaign": sk.campaign,
                    "project": sk.project,
                },
                "transformation": str(tf),
                "extends": str(ext) if ext is not None else None,
            }
            for sk, tf, ext in zip(keys, transformations, extends, strict=True)
        ]
        wanted_tfs = sorted({str(tf) for tf in transformations})
        wanted_ext = sorted({str(e) for e in extends if e is not None})

        def work(tx: ManagedTransaction) -> None:
            found = {r["sk"] for r in tx.run(FIND_TRANSFORMATIONS, sks=wanted_tfs)}
            missing = set(wanted_tfs) - found
            if missing:
                raise NotFound(f"unknown transformations: {sorted(missing)}")
            extended = {r["sk"]: r for r in tx.run(FIND_EXTENDED, sks=wanted_ext)}
            for spec in specs:
                ext = spec["extends"]
                if ext is None:
                    continue
                if ext not in extended:
                    raise NotFound(f"task to extend {ext} does not exist")
                if extended[ext]["transformation"] != spec["transformation"]:
                    raise ValidationError(f"{ext} is a task of another transformation")
                if extended[ext]["status"] in (TaskStatus.INVALID, TaskStatus.DELETED):
                    raise ValidationError(f"cannot extend {ext}: it is {extended[ext]['status']}")
            tx.run(
                CREATE_TASKS, tasks=specs, priority=DEFAULT_PRIORITY, created=now(), creator=creator
            ).consume()

        if specs:
            self._db.write(work)
        return keys

    def get_task(self, task: ScopedKey) -> TaskRecord:
        return task_record(single(self._db.query(GET_TASK, sk=str(task)), f"task {task}"))

    def get_transformation_tasks(
        self, transformation: ScopedKey, status: TaskStatus | None = None
    ) -> list[ScopedKey]:
        record = single(
            self._db.query(
                TRANSFORMATION_TASKS, sk=str(transformation), status=str(status) if status else None
            ),
            f"transformation {transformation}",
        )
        return _keys(record["tasks"])

    def get_network_tasks(
        self, network: ScopedKey, status: TaskStatus | None = None
    ) -> list[ScopedKey]:
        record = single(
            self._db.query(NETWORK_TASKS, sk=str(network), status=str(status) if status else None),
            f"network {network}",
        )
        return _keys(record["tasks"])

    def _check_members(self, tx: ManagedTransaction, tasks: list[str], network: ScopedKey) -> None:
        record = tx.run(TASK_NETWORK_MEMBERSHIP, network=str(network), tasks=tasks).single()
        if record is None or not record["found"]:
            raise NotFound(f"network {network} not found")
        if record["unknown"]:
            raise NotFound(f"unknown tasks: {sorted(record['unknown'])}")
        foreign = sorted(record["foreign"])
        if foreign:
            raise ValidationError(f"tasks not in network {network}: {foreign}")

    def action_tasks(
        self, tasks: Sequence[ScopedKey], network: ScopedKey, weight: float | None = None
    ) -> list[ScopedKey]:
        if weight is not None:
            weight = check_weight(weight, "action")
        wanted = sorted({str(t) for t in tasks})

        def work(tx: ManagedTransaction) -> list[str]:
            self._check_members(tx, wanted, network)
            record = tx.run(
                ACTION_TASKS,
                network=str(network),
                tasks=wanted,
                weight=weight,
                default_weight=DEFAULT_ACTION_WEIGHT,
                actionable=[str(s) for s in ACTIONABLE],
            ).single()
            return list(record["actioned"]) if record is not None else []

        return _keys(self._db.write(work))

    def cancel_tasks(self, tasks: Sequence[ScopedKey], network: ScopedKey) -> list[ScopedKey]:
        wanted = sorted({str(t) for t in tasks})

        def work(tx: ManagedTransaction) -> list[str]:
            self._check_members(tx, wanted, network)
            return [r["sk"] for r in tx.run(CANCEL_TASKS, network=str(network), tasks=wanted)]

        return _keys(self._db.write(work))

    def _hub(self, network: ScopedKey) -> Any:
        return single(
            self._db.query(TASKHUB_TASKS, network=str(network)), f"TaskHub of network {network}"
        )

    def get_taskhub_tasks(self, network: ScopedKey) -> list[ScopedKey]:
        return _keys([sk for sk, _ in self._hub(network)["tasks"] if sk is not None])

    def get_task_weights(self, network: ScopedKey) -> dict[ScopedKey, float]:
        return {
            ScopedKey.from_str(sk): w for sk, w in self._hub(network)["tasks"] if sk is not None
        }

    def set_taskhub_weight(self, network: ScopedKey, weight: float) -> None:
        weight = check_weight(weight, "TaskHub")
        single(
            self._db.execute(SET_TASKHUB_WEIGHT, network=str(network), weight=weight),
            f"TaskHub of network {network}",
        )

    def get_taskhub_weight(self, network: ScopedKey) -> float:
        return float(self._hub(network)["weight"])

    def set_task_priority(self, tasks: Sequence[ScopedKey], priority: int) -> None:
        check_priority(priority)
        wanted = sorted({str(t) for t in tasks})

        def work(tx: ManagedTransaction) -> None:
            found = {r["sk"] for r in tx.run(GET_STATUS, tasks=wanted)}
            if set(wanted) - found:
                raise NotFound(f"unknown tasks: {sorted(set(wanted) - found)}")
            tx.run(SET_PRIORITY, tasks=wanted, priority=priority).consume()

        self._db.write(work)

    def get_task_status(self, tasks: Sequence[ScopedKey]) -> dict[ScopedKey, TaskStatus]:
        wanted = sorted({str(t) for t in tasks})
        found = {r["sk"]: TaskStatus(r["status"]) for r in self._db.query(GET_STATUS, tasks=wanted)}
        missing = set(wanted) - found.keys()
        if missing:
            raise NotFound(f"unknown tasks: {sorted(missing)}")
        return {ScopedKey.from_str(sk): status for sk, status in found.items()}

    def set_task_status(self, tasks: Sequence[ScopedKey], status: TaskStatus) -> list[ScopedKey]:
        status = check_user_status(status)
        wanted = sorted({str(t) for t in tasks})

        def work(tx: ManagedTransaction) -> list[str]:
            current = {r["sk"]: TaskStatus(r["status"]) for r in tx.run(LOCK_TASKS, tasks=wanted)}
            missing = set(wanted) - current.keys()
            if missing:
                raise NotFound(f"unknown tasks: {sorted(missing)}")
            check_user_transitions(current, status)
            changed = list(wanted)
            if status in CASCADING:
                for record in tx.run(EXTENDING_TASKS, tasks=wanted):
                    if TaskStatus(record["status"]) in USER_TRANSITIONS[status]:
                        changed.append(record["sk"])
            tx.run(
                APPLY_STATUS, tasks=changed, status=str(status), drop_actions=status in CASCADING
            ).consume()
            return changed

        return _keys(sorted(set(self._db.write(work))))

    def get_network_status(self, network: ScopedKey) -> dict[str, int]:
        return _counts(self._db.query(NETWORK_STATUS, sk=str(network)), f"network {network}")

    def get_transformation_status(self, transformation: ScopedKey) -> dict[str, int]:
        return _counts(
            self._db.query(TRANSFORMATION_STATUS, sk=str(transformation)),
            f"transformation {transformation}",
        )


__all__ = ["APPLY_STATUS", "DEFAULT_ACTION_WEIGHT", "DEFAULT_PRIORITY", "Neo4jTasks"]
