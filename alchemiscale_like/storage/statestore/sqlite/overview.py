"""Dashboard aggregates in SQLite: a few indexed queries per question."""

from __future__ import annotations

import sqlite3

from alchemiscale_like.models.scope import ScopedKey
from alchemiscale_like.storage.statestore.base import OverviewStore
from alchemiscale_like.storage.statestore.records import (
    EstimateRecord,
    TaskSummary,
    TransformationSummary,
)
from alchemiscale_like.storage.statestore.sqlite.connection import SQLiteConnection, single
from alchemiscale_like.storage.statestore.sqlite.results import stored_estimate
from alchemiscale_like.storage.statestore.sqlite.tasks import NETWORK_EXISTS, task_record

NETWORK_TRANSFORMATIONS = """
SELECT tf.scoped_key, tf.name, tf.protocol FROM network_members m
JOIN transformations tf ON tf.scoped_key = m.member
WHERE m.network = ? AND m.kind = 'Transformation' ORDER BY tf.name, tf.scoped_key
"""
# Counted per transformation from the (transformation, status) index.
NETWORK_STATUS_BY_TRANSFORMATION = """
SELECT m.member AS transformation, t.status, count(*) AS n FROM network_members m
JOIN tasks t ON t.transformation = m.member
WHERE m.network = ? AND m.kind = 'Transformation' GROUP BY m.member, t.status
"""
NETWORK_PROGRESS = """
SELECT t.transformation, sum(d.n_units) AS total,
       sum((SELECT count(DISTINCT u.unit_key) FROM unit_results u
            WHERE u.task = d.task AND u.ok)) AS done
FROM network_members m JOIN tasks t ON t.transformation = m.member
JOIN dags d ON d.task = t.scoped_key
WHERE m.network = ? AND m.kind = 'Transformation' GROUP BY t.transformation
"""
TRANSFORMATION_TASKS = """
SELECT t.*, c.identifier AS claimant, coalesce(d.n_units, 0) AS total,
       (SELECT count(DISTINCT u.unit_key) FROM unit_results u
        WHERE u.task = t.scoped_key AND u.ok) AS done
FROM tasks t LEFT JOIN claims c ON c.task = t.scoped_key
LEFT JOIN dags d ON d.task = t.scoped_key
WHERE t.transformation = ? ORDER BY t.created DESC, t.scoped_key
"""
NETWORK_ESTIMATES = """
SELECT t.transformation, tf.name, r.task, r.estimate, r.uncertainty, r.units
FROM network_members m
JOIN tasks t ON t.transformation = m.member
JOIN transformations tf ON tf.scoped_key = m.member
JOIN dag_results r ON r.task = t.scoped_key
WHERE m.network = ? AND m.kind = 'Transformation' AND r.ok AND r.estimate IS NOT NULL
ORDER BY tf.name, t.transformation, r.created
"""


class SQLiteOverview(OverviewStore):
    """OverviewStore on SQLite."""

    _db: SQLiteConnection

    def get_network_summaries(self, network: ScopedKey) -> list[TransformationSummary]:
        def work(conn: sqlite3.Connection) -> list[TransformationSummary]:
            single(conn.execute(NETWORK_EXISTS, (str(network),)).fetchone(), f"network {network}")
            counts: dict[str, dict[str, int]] = {}
            for row in conn.execute(NETWORK_STATUS_BY_TRANSFORMATION, (str(network),)):
                counts.setdefault(row["transformation"], {})[row["status"]] = row["n"]
            progress = {
                row["transformation"]: (row["done"], row["total"])
                for row in conn.execute(NETWORK_PROGRESS, (str(network),))
            }
            return [
                TransformationSummary(
                    scoped_key=ScopedKey.from_str(row["scoped_key"]),
                    name=row["name"],
                    protocol=row["protocol"],
                    status=counts.get(row["scoped_key"], {}),
                    units_done=progress.get(row["scoped_key"], (0, 0))[0],
                    units_total=progress.get(row["scoped_key"], (0, 0))[1],
                )
                for row in conn.execute(NETWORK_TRANSFORMATIONS, (str(network),))
            ]

        return self._db.read(work)

    def get_transformation_task_summaries(self, transformation: ScopedKey) -> list[TaskSummary]:
        def work(conn: sqlite3.Connection) -> list[TaskSummary]:
            single(
                conn.execute(
                    "SELECT 1 FROM transformations WHERE scoped_key = ?", (str(transformation),)
                ).fetchone(),
                f"transformation {transformation}",
            )
            return [
                TaskSummary(
                    record=task_record(row),
                    done=row["done"],
                    total=row["total"],
                    claimant=row["claimant"],
                )
                for row in conn.execute(TRANSFORMATION_TASKS, (str(transformation),))
            ]

        return self._db.read(work)

    def get_network_estimates(self, network: ScopedKey) -> list[EstimateRecord]:
        def work(conn: sqlite3.Connection) -> list[EstimateRecord]:
            single(conn.execute(NETWORK_EXISTS, (str(network),)).fetchone(), f"network {network}")
            estimates = []
            for row in conn.execute(NETWORK_ESTIMATES, (str(network),)):
                estimate = stored_estimate(row)
                assert estimate is not None  # the query keeps rows with an estimate only
                estimates.append(
                    EstimateRecord(
                        transformation=ScopedKey.from_str(row["transformation"]),
                        name=row["name"],
                        task=ScopedKey.from_str(row["task"]),
                        estimate=estimate,
                    )
                )
            return estimates

        return self._db.read(work)
