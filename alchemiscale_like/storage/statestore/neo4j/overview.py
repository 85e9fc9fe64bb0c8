"""Dashboard aggregates in Neo4j: one round trip per question, whatever the network's size."""

from __future__ import annotations

from typing import Any

from alchemiscale_like.errors import NotFound
from alchemiscale_like.models.scope import ScopedKey
from alchemiscale_like.storage.statestore.base import OverviewStore
from alchemiscale_like.storage.statestore.neo4j.connection import Neo4jConnection
from alchemiscale_like.storage.statestore.neo4j.results import stored_estimate
from alchemiscale_like.storage.statestore.neo4j.tasks import task_record
from alchemiscale_like.storage.statestore.records import (
    EstimateRecord,
    TaskSummary,
    TransformationSummary,
)

# Status counts per transformation come from the (transformation, status) index, as in
# get_network_status (no task's properties are read); unit progress from the DAG
# references' own counts (n_done is kept by ADD_UNIT_RESULT), found by their
# transformation index: no walk from every Task to look for a DAG.
NETWORK_SUMMARIES = """
MATCH (n:AlchemicalNetwork {scoped_key: $sk})
OPTIONAL MATCH (n)-[:CONTAINS]->(tf:Transformation)
CALL (tf) {
  OPTIONAL MATCH (t:Task) USING INDEX t:Task(transformation, status)
  WHERE t.transformation = tf.scoped_key AND t.status IS NOT NULL
  WITH t.status AS status, count(t) AS n
  RETURN collect(CASE WHEN n > 0 THEN [status, n] END) AS counts
}
CALL (tf) {
  OPTIONAL MATCH (d:ProtocolDAGRef {transformation: tf.scoped_key})
  RETURN coalesce(sum(d.n_units), 0) AS total, coalesce(sum(d.n_done), 0) AS done
}
RETURN n.scoped_key AS found, tf.scoped_key AS sk, tf.name AS name, tf.protocol AS protocol,
       counts, done, total
ORDER BY name, sk
"""

TRANSFORMATION_TASKS = """
MATCH (tf:Transformation {scoped_key: $sk})
OPTIONAL MATCH (tf)<-[:PERFORMS]-(t:Task)
OPTIONAL MATCH (t)-[:EXTENDS]->(prev:Task)
OPTIONAL MATCH (c:ComputeServiceRegistration)-[:CLAIMS]->(t)
OPTIONAL MATCH (t)-[:HAS_DAG]->(d:ProtocolDAGRef)
RETURN tf.scoped_key AS found, t {.*} AS task, tf.scoped_key AS transformation,
       prev.scoped_key AS extends, c.identifier AS claimant, coalesce(d.n_units, 0) AS total,
       coalesce(d.n_done, 0) AS done
ORDER BY t.created DESC, t.scoped_key
"""

NETWORK_ESTIMATES = """
MATCH (n:AlchemicalNetwork {scoped_key: $sk})
OPTIONAL MATCH (n)-[:CONTAINS]->(tf:Transformation)<-[:PERFORMS]-(t:Task)
               -[:HAS_DAG]->(:ProtocolDAGRef)-[:RESULTS_IN]->(r:ProtocolDAGResultRef)
WHERE r.ok AND r.estimate IS NOT NULL
RETURN n.scoped_key AS found, tf.scoped_key AS transformation, tf.name AS name,
       t.scoped_key AS task,
       r {.estimate, .uncertainty, .units} AS estimate
ORDER BY name, transformation, r.created
"""


def _found(records: list[Any], what: str) -> list[Any]:
    if not records:
        raise NotFound(f"{what} not found")
    return records


class Neo4jOverview(OverviewStore):
    """OverviewStore on Neo4j."""

    _db: Neo4jConnection

    def get_network_summaries(self, network: ScopedKey) -> list[TransformationSummary]:
        records = _found(self._db.query(NETWORK_SUMMARIES, sk=str(network)), f"network {network}")
        return [
            TransformationSummary(
                scoped_key=ScopedKey.from_str(r["sk"]),
                name=r["name"],
                protocol=r["protocol"],
                status={status: n for status, n in r["counts"]},
                units_done=r["done"],
                units_total=r["total"],
            )
            for r in records
            if r["sk"] is not None
        ]

    def get_transformation_task_summaries(self, transformation: ScopedKey) -> list[TaskSummary]:
        records = _found(
            self._db.query(TRANSFORMATION_TASKS, sk=str(transformation)),
            f"transformation {transformation}",
        )
        return [
            TaskSummary(
                record=task_record(r), done=r["done"], total=r["total"], claimant=r["claimant"]
            )
            for r in records
            if r["task"] is not None
        ]

    def get_network_estimates(self, network: ScopedKey) -> list[EstimateRecord]:
        records = _found(self._db.query(NETWORK_ESTIMATES, sk=str(network)), f"network {network}")
        estimates = []
        for r in records:
            estimate = stored_estimate(r["estimate"]) if r["estimate"] is not None else None
            if estimate is not None:
                estimates.append(
                    EstimateRecord(
                        transformation=ScopedKey.from_str(r["transformation"]),
                        name=r["name"],
                        task=ScopedKey.from_str(r["task"]),
                        estimate=estimate,
                    )
                )
        return estimates
