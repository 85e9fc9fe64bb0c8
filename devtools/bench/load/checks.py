"""The run's checks: every Task complete, none claimed twice, none lost.

Two independent witnesses: the state store (through a bare Neo4j read) and the
services' own JSON logs (``devtools.bench.compute.fleet.FleetLog``), plus the user
API's view of the network.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from alchemiscale_like.models import ScopedKey
from alchemiscale_like.models.task import TaskStatus
from devtools.bench.api.deployment import Deployment
from devtools.bench.compute.fleet import FleetLog
from devtools.bench.compute.throughput import log_check

#: Per Task: status, claims made on it, claims still held, and what it holds.
TASK_RECORDS = """
UNWIND $tasks AS sk
MATCH (t:Task {scoped_key: sk})
OPTIONAL MATCH (t)-[:HAS_DAG]->(d:ProtocolDAGRef)
WITH sk, t, collect(d) AS dags
RETURN sk AS task, t.status AS status, t.attempts AS attempts, size(dags) AS dags,
       [d IN dags | d.n_units][0] AS n_units,
       COUNT { (:ComputeServiceRegistration)-[:CLAIMS]->(t) } AS claims_held,
       COUNT { (t)-[:HAS_DAG]->()-[:HAS_UNIT_RESULT]->(:ProtocolUnitResultRef {ok: true}) }
           AS unit_results_ok,
       COUNT { (t)-[:HAS_DAG]->()-[:HAS_UNIT_RESULT]->() } AS unit_results,
       COUNT { (t)-[:HAS_DAG]->()-[:RESULTS_IN]->(:ProtocolDAGResultRef {ok: true}) }
           AS dag_results_ok,
       COUNT { (t)-[:HAS_DAG]->()-[:RESULTS_IN]->() } AS dag_results
"""


def store_check(deployment: Deployment, tasks: list[ScopedKey], n_units: int) -> dict[str, Any]:
    """What the state store holds for ``tasks`` (each of ``n_units`` units).

    ``claimed_more_than_once``: Tasks whose ``attempts`` is not 1 (every claim adds one;
    nothing in this run releases or retries a Task, so any other value is a double
    claim). ``lost``: Tasks not complete, or without exactly one DAG of ``n_units``
    units, one successful result per unit and exactly one DAG result, a successful one.
    """
    records = deployment.bare_read(TASK_RECORDS, tasks=[str(t) for t in tasks])
    complete = TaskStatus.COMPLETE.value
    lost = [
        r
        for r in records
        if r["status"] != complete
        or r["dags"] != 1
        or r["n_units"] != n_units
        or r["unit_results"] != n_units
        or r["unit_results_ok"] != n_units
        or r["dag_results"] != 1
        or r["dag_results_ok"] != 1
    ]
    return {
        "tasks": len(tasks),
        "found": len(records),
        "statuses": dict(Counter(str(r["status"]) for r in records)),
        "claimed_more_than_once": sum(r["attempts"] != 1 for r in records),
        "claims_still_held": sum(r["claims_held"] for r in records),
        "lost": len(lost) + len(tasks) - len(records),
        "lost_examples": [str(r["task"]) for r in lost[:5]],
        "unit_results": sum(r["unit_results"] for r in records),
        "dag_results": sum(r["dag_results"] for r in records),
    }


def logs_check(fleet: FleetLog, tasks: list[ScopedKey], n_units: int) -> dict[str, Any]:
    """What the services' logs say (``log_check``), and whether each Task was claimed once,
    each of its units started once and it was done once, complete."""
    check = log_check(fleet, tasks)
    # Every service logs the SIGTERM that ends the run (event=signal, a warning): expected.
    check["warnings"] = [w for w in check["warnings"] if not w.endswith(": signal")]
    n = len(tasks)
    check["ok"] = bool(
        check["claimed_tasks"] == check["done_tasks"] == n
        and check["unit_starts"] == n * n_units
        and check["claimed_twice"] == check["done_twice"] == 0
        and check["units_started_twice"] == check["unknown_tasks"] == 0
        and check["statuses"] == {TaskStatus.COMPLETE.value: n}
    )
    return check


def double_claims(stored: dict[str, Any], logged: dict[str, Any]) -> int:
    """Tasks claimed twice by either witness (the larger count)."""
    return max(int(stored["claimed_more_than_once"]), int(logged["claimed_twice"]))


def all_complete(stored: dict[str, Any]) -> bool:
    """Whether the store found every Task, all complete and none still claimed."""
    return bool(
        stored["found"] == stored["tasks"]
        and stored["statuses"] == {TaskStatus.COMPLETE.value: stored["tasks"]}
        and stored["claims_still_held"] == 0
    )
