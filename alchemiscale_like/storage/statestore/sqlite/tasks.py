"""Tasks, TaskHubs, priorities and status transitions in SQLite."""

from __future__ import annotations

import math
import random
import sqlite3
from collections.abc import Iterable, Sequence

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
from alchemiscale_like.storage.statestore.records import TaskRecord
from alchemiscale_like.storage.statestore.rules import (
    DEFAULT_ACTION_WEIGHT,
    DEFAULT_PRIORITY,
    check_priority,
    check_user_status,
    check_user_transitions,
    check_weight,
)
from alchemiscale_like.storage.statestore.sqlite.connection import (
    SQLiteConnection,
    from_text,
    keys,
    now,
    single,
    to_text,
)

_RANDOM = random.SystemRandom()

INSERT_TASK = """
INSERT INTO tasks (scoped_key, org, campaign, project, transformation, extends, status,
                   priority, created, creator, attempts)
VALUES (?, ?, ?, ?, ?, ?, 'waiting', ?, ?, ?, 0)
"""

TASK_ROW = "SELECT * FROM tasks WHERE scoped_key = ?"
TASK_STATUS = "SELECT status FROM tasks WHERE scoped_key = ?"

NETWORK_EXISTS = "SELECT 1 FROM networks WHERE scoped_key = ?"
IN_NETWORK = """
SELECT 1 FROM network_members WHERE network = ? AND member = ? AND kind = 'Transformation'
"""

EXTENDING_TASKS = """
WITH RECURSIVE extending(sk) AS (
    SELECT scoped_key FROM tasks WHERE extends = ?
    UNION SELECT t.scoped_key FROM tasks t JOIN extending e ON t.extends = e.sk
)
SELECT t.scoped_key, t.status FROM tasks t JOIN extending e ON t.scoped_key = e.sk
"""

NETWORK_TASKS = """
SELECT t.scoped_key FROM network_members m JOIN tasks t ON t.transformation = m.member
WHERE m.network = ?1 AND m.kind = 'Transformation' AND (?2 IS NULL OR t.status = ?2)
"""

# Counted per transformation first (from the (transformation, status) index, no sort),
# then summed: one GROUP BY over every task of a big network sorts them all.
NETWORK_STATUS = """
SELECT status, sum(n) AS n FROM (
    SELECT t.status AS status, count(*) AS n
    FROM network_members m JOIN tasks t ON t.transformation = m.member
    WHERE m.network = ? AND m.kind = 'Transformation' GROUP BY m.member, t.status
) GROUP BY status
"""

TRANSFORMATION_STATUS = (
    "SELECT status, count(*) AS n FROM tasks WHERE transformation = ? GROUP BY status"
)

HUB_ROW = "SELECT weight FROM taskhubs WHERE network = ?"


def draw_order(weight: float) -> float:
    """A task's claim order on one hub: an exponential clock, so sorting by it is a
    weighted random order (see schema.py)."""
    return -math.log(1.0 - _RANDOM.random()) / weight


def sync_claim_order(conn: sqlite3.Connection, tasks: Iterable[str]) -> None:
    """Bring the claim order of the tasks' ACTIONS rows in line with their status:
    kept while waiting, drawn when it becomes waiting, removed otherwise."""
    for task in tasks:
        status = conn.execute(TASK_STATUS, (task,)).fetchone()["status"]
        if status != TaskStatus.WAITING:
            conn.execute("UPDATE actions SET order_key = NULL WHERE task = ?", (task,))
            continue
        rows = conn.execute(
            "SELECT network, weight FROM actions WHERE task = ? AND order_key IS NULL", (task,)
        ).fetchall()
        conn.executemany(
            "UPDATE actions SET order_key = ? WHERE network = ? AND task = ?",
            [(draw_order(r["weight"]), r["network"], task) for r in rows],
        )


def apply_status(
    conn: sqlite3.Connection, tasks: Sequence[str], status: TaskStatus, drop_actions: bool
) -> None:
    """Set ``status`` on ``tasks``, drop their claims (and their ACTIONS rows if
    ``drop_actions``), and keep the claim order in line."""
    conn.executemany(
        "UPDATE tasks SET status = ? WHERE scoped_key = ?", [(str(status), t) for t in tasks]
    )
    conn.executemany("DELETE FROM claims WHERE task = ?", [(t,) for t in tasks])
    if drop_actions:
        conn.executemany("DELETE FROM actions WHERE task = ?", [(t,) for t in tasks])
    sync_claim_order(conn, tasks)


def task_record(row: sqlite3.Row) -> TaskRecord:
    """The :class:`TaskRecord` of a ``tasks`` row."""
    created = from_text(row["created"])
    assert created is not None
    return TaskRecord(
        scoped_key=ScopedKey.from_str(row["scoped_key"]),
        status=TaskStatus(row["status"]),
        priority=row["priority"],
        created=created,
        creator=row["creator"],
        attempts=row["attempts"],
        extends=ScopedKey.from_str(row["extends"]) if row["extends"] else None,
        transformation=ScopedKey.from_str(row["transformation"]),
    )


def _counts(rows: list[sqlite3.Row]) -> dict[str, int]:
    return {r["status"]: r["n"] for r in rows}


def require_tasks(conn: sqlite3.Connection, tasks: Sequence[str]) -> dict[str, TaskStatus]:
    """The status of each task, or ``NotFound`` naming the unknown ones."""
    found = {}
    for sk in tasks:
        row = conn.execute(TASK_STATUS, (sk,)).fetchone()
        if row is not None:
            found[sk] = TaskStatus(row["status"])
    missing = sorted(set(tasks) - found.keys())
    if missing:
        raise NotFound(f"unknown tasks: {missing}")
    return found


class SQLiteTasks(TaskStore):
    """TaskStore on SQLite."""

    _db: SQLiteConnection

    def create_tasks(
        self,
        transformations: Sequence[ScopedKey],
        extends: Sequence[ScopedKey | None] | None = None,
        creator: str | None = None,
    ) -> list[ScopedKey]:
        if extends is not None and len(extends) != len(transformations):
            raise ValidationError("extends must have one entry per transformation")
        extends = list(extends) if extends is not None else [None] * len(transformations)
        new = [new_task_key(tf.scope) for tf in transformations]
        created = to_text(now())
        rows = [
            (
                str(sk),
                sk.org,
                sk.campaign,
                sk.project,
                str(tf),
                str(ext) if ext is not None else None,
                DEFAULT_PRIORITY,
                created,
                creator,
            )
            for sk, tf, ext in zip(new, transformations, extends, strict=True)
        ]

        def work(conn: sqlite3.Connection) -> None:
            wanted = sorted({str(tf) for tf in transformations})
            missing = [
                sk
                for sk in wanted
                if conn.execute(
                    "SELECT 1 FROM transformations WHERE scoped_key = ?", (sk,)
                ).fetchone()
                is None
            ]
            if missing:
                raise NotFound(f"unknown transformations: {missing}")
            for row in rows:
                ext, transformation = row[5], row[4]
                if ext is None:
                    continue
                base = conn.execute(TASK_ROW, (ext,)).fetchone()
                if base is None:
                    raise NotFound(f"task to extend {ext} does not exist")
                if base["transformation"] != transformation:
                    raise ValidationError(f"{ext} is a task of another transformation")
                if base["status"] in (TaskStatus.INVALID, TaskStatus.DELETED):
                    raise ValidationError(f"cannot extend {ext}: it is {base['status']}")
            conn.executemany(INSERT_TASK, rows)

        if rows:
            self._db.write(work)
        return new

    def get_task(self, task: ScopedKey) -> TaskRecord:
        return task_record(single(self._db.query_one(TASK_ROW, (str(task),)), f"task {task}"))

    def get_transformation_tasks(
        self, transformation: ScopedKey, status: TaskStatus | None = None
    ) -> list[ScopedKey]:
        def work(conn: sqlite3.Connection) -> list[str]:
            single(
                conn.execute(
                    "SELECT 1 FROM transformations WHERE scoped_key = ?", (str(transformation),)
                ).fetchone(),
                f"transformation {transformation}",
            )
            rows = conn.execute(
                "SELECT scoped_key FROM tasks WHERE transformation = ?1 "
                "AND (?2 IS NULL OR status = ?2)",
                (str(transformation), str(status) if status else None),
            )
            return [r["scoped_key"] for r in rows]

        return keys(self._db.read(work))

    def get_network_tasks(
        self, network: ScopedKey, status: TaskStatus | None = None
    ) -> list[ScopedKey]:
        def work(conn: sqlite3.Connection) -> list[str]:
            single(conn.execute(NETWORK_EXISTS, (str(network),)).fetchone(), f"network {network}")
            rows = conn.execute(NETWORK_TASKS, (str(network), str(status) if status else None))
            return [r["scoped_key"] for r in rows]

        return keys(self._db.read(work))

    @staticmethod
    def _check_members(conn: sqlite3.Connection, tasks: list[str], network: ScopedKey) -> None:
        single(conn.execute(NETWORK_EXISTS, (str(network),)).fetchone(), f"network {network}")
        unknown, foreign = [], []
        for sk in tasks:
            row = conn.execute("SELECT transformation FROM tasks WHERE scoped_key = ?", (sk,))
            found = row.fetchone()
            if found is None:
                unknown.append(sk)
            elif conn.execute(IN_NETWORK, (str(network), found[0])).fetchone() is None:
                foreign.append(sk)
        if unknown:
            raise NotFound(f"unknown tasks: {sorted(unknown)}")
        if foreign:
            raise ValidationError(f"tasks not in network {network}: {sorted(foreign)}")

    def action_tasks(
        self, tasks: Sequence[ScopedKey], network: ScopedKey, weight: float | None = None
    ) -> list[ScopedKey]:
        if weight is not None:
            weight = check_weight(weight, "action")
        wanted = sorted({str(t) for t in tasks})

        def work(conn: sqlite3.Connection) -> list[str]:
            self._check_members(conn, wanted, network)
            single(conn.execute(HUB_ROW, (str(network),)).fetchone(), f"TaskHub of {network}")
            actioned = []
            for sk in wanted:
                task = conn.execute(TASK_ROW, (sk,)).fetchone()
                if TaskStatus(task["status"]) not in ACTIONABLE:
                    continue
                old = conn.execute(
                    "SELECT weight, order_key FROM actions WHERE network = ? AND task = ?",
                    (str(network), sk),
                ).fetchone()
                new_weight = (
                    weight
                    if weight is not None
                    else (old["weight"] if old is not None else DEFAULT_ACTION_WEIGHT)
                )
                if task["status"] != TaskStatus.WAITING:
                    order = None
                elif weight is None and old is not None and old["order_key"] is not None:
                    order = old["order_key"]
                else:
                    order = draw_order(new_weight)
                conn.execute(
                    "INSERT INTO actions (network, task, weight, priority, order_key) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (network, task) DO UPDATE SET "
                    "weight = excluded.weight, priority = excluded.priority, "
                    "order_key = excluded.order_key",
                    (str(network), sk, new_weight, task["priority"], order),
                )
                actioned.append(sk)
            return actioned

        return keys(self._db.write(work))

    def cancel_tasks(self, tasks: Sequence[ScopedKey], network: ScopedKey) -> list[ScopedKey]:
        wanted = sorted({str(t) for t in tasks})

        def work(conn: sqlite3.Connection) -> list[str]:
            self._check_members(conn, wanted, network)
            cancelled = []
            for sk in wanted:
                gone = conn.execute(
                    "DELETE FROM actions WHERE network = ? AND task = ?", (str(network), sk)
                )
                if gone.rowcount:
                    cancelled.append(sk)
            return cancelled

        return keys(self._db.write(work))

    def _hub_tasks(self, network: ScopedKey) -> list[sqlite3.Row]:
        def work(conn: sqlite3.Connection) -> list[sqlite3.Row]:
            single(
                conn.execute(HUB_ROW, (str(network),)).fetchone(),
                f"TaskHub of network {network}",
            )
            return conn.execute(
                "SELECT task, weight FROM actions WHERE network = ?", (str(network),)
            ).fetchall()

        return self._db.read(work)

    def get_taskhub_tasks(self, network: ScopedKey) -> list[ScopedKey]:
        return keys([r["task"] for r in self._hub_tasks(network)])

    def get_task_weights(self, network: ScopedKey) -> dict[ScopedKey, float]:
        return {ScopedKey.from_str(r["task"]): r["weight"] for r in self._hub_tasks(network)}

    def set_taskhub_weight(self, network: ScopedKey, weight: float) -> None:
        weight = check_weight(weight, "TaskHub")

        def work(conn: sqlite3.Connection) -> None:
            done = conn.execute(
                "UPDATE taskhubs SET weight = ? WHERE network = ?", (weight, str(network))
            )
            if not done.rowcount:
                raise NotFound(f"TaskHub of network {network} not found")

        self._db.write(work)

    def get_taskhub_weight(self, network: ScopedKey) -> float:
        row = single(self._db.query_one(HUB_ROW, (str(network),)), f"TaskHub of network {network}")
        return float(row["weight"])

    def set_task_priority(self, tasks: Sequence[ScopedKey], priority: int) -> None:
        check_priority(priority)
        wanted = sorted({str(t) for t in tasks})

        def work(conn: sqlite3.Connection) -> None:
            require_tasks(conn, wanted)
            conn.executemany(
                "UPDATE tasks SET priority = ? WHERE scoped_key = ?",
                [(priority, sk) for sk in wanted],
            )
            conn.executemany(
                "UPDATE actions SET priority = ? WHERE task = ?", [(priority, sk) for sk in wanted]
            )

        self._db.write(work)

    def get_task_status(self, tasks: Sequence[ScopedKey]) -> dict[ScopedKey, TaskStatus]:
        wanted = sorted({str(t) for t in tasks})
        found = self._db.read(require_tasks, wanted)
        return {ScopedKey.from_str(sk): status for sk, status in found.items()}

    def set_task_status(self, tasks: Sequence[ScopedKey], status: TaskStatus) -> list[ScopedKey]:
        status = check_user_status(status)
        wanted = sorted({str(t) for t in tasks})

        def work(conn: sqlite3.Connection) -> list[str]:
            current = require_tasks(conn, wanted)
            check_user_transitions(current, status)
            changed = list(wanted)
            if status in CASCADING:
                for sk in wanted:
                    for row in conn.execute(EXTENDING_TASKS, (sk,)).fetchall():
                        if TaskStatus(row["status"]) in USER_TRANSITIONS[status]:
                            changed.append(row["scoped_key"])
            changed = sorted(set(changed))
            apply_status(conn, changed, status, drop_actions=status in CASCADING)
            return changed

        return keys(self._db.write(work))

    def get_network_status(self, network: ScopedKey) -> dict[str, int]:
        def work(conn: sqlite3.Connection) -> dict[str, int]:
            single(conn.execute(NETWORK_EXISTS, (str(network),)).fetchone(), f"network {network}")
            return _counts(conn.execute(NETWORK_STATUS, (str(network),)).fetchall())

        return self._db.read(work)

    def get_transformation_status(self, transformation: ScopedKey) -> dict[str, int]:
        def work(conn: sqlite3.Connection) -> dict[str, int]:
            single(
                conn.execute(
                    "SELECT 1 FROM transformations WHERE scoped_key = ?", (str(transformation),)
                ).fetchone(),
                f"transformation {transformation}",
            )
            return _counts(conn.execute(TRANSFORMATION_STATUS, (str(transformation),)).fetchall())

        return self._db.read(work)
