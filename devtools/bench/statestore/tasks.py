"""Task measurements: ``create_tasks`` and ``action_tasks`` of 1,000 tasks."""

from __future__ import annotations

import functools
import statistics

from alchemiscale_like.models.task import ACTIONABLE
from alchemiscale_like.storage.statestore.neo4j import tasks as task_queries
from devtools.bench.statestore.measurement import Measurement, load, timed
from devtools.bench.statestore.server import Bench

N_TASKS = 1_000
TASK_BATCH = 5_000  # one transaction of 100k tasks exceeds Neo4j's transaction memory limit

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


def bench_tasks(bench: Bench, repeats: int = 5) -> None:
    """create_tasks and action_tasks of 1,000 fresh tasks, once cold then ``repeats``
    times, interleaved with the bare baselines."""
    assert bench.network is not None
    network = bench.network
    tfs = bench.transformations[:N_TASKS]
    create_runs: list[float] = []
    action_runs: list[float] = []
    bare_create_runs: list[float] = []
    bare_action_runs: list[float] = []
    cold: dict[str, float] = {}
    for rep in range(repeats + 1):
        create_s, tasks = timed(functools.partial(bench.store.create_tasks, tfs))
        action_s, actioned = timed(functools.partial(bench.store.action_tasks, tasks, network))
        assert len(actioned) == N_TASKS
        bench.tasks_created += len(tasks)
        rows = [
            {"scoped_key": f"{sk}-bare", "transformation": str(tf)}
            for sk, tf in zip(tasks, tfs, strict=True)
        ]
        bare_create_s, _ = timed(functools.partial(bench.bare_write, BARE_CREATE_TASKS, rows=rows))
        bare_action_s, _ = timed(
            functools.partial(
                bench.bare_write,
                BARE_ACTION_TASKS,
                network=str(network),
                rows=[row["scoped_key"] for row in rows],
            )
        )
        if rep == 0:
            cold = {"create_tasks_s": round(create_s, 4), "action_tasks_s": round(action_s, 4)}
            bench.first_tasks = tasks
            continue
        create_runs.append(create_s)
        action_runs.append(action_s)
        bare_create_runs.append(bare_create_s)
        bare_action_runs.append(bare_action_s)
    bench.drop_baseline_nodes()
    bench.results["create_tasks_1000"] = Measurement(
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
    bench.results["action_tasks_1000"] = Measurement(
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
    if bench.profile:
        keys = sorted(str(t) for t in bench.first_tasks)
        bench.profile_query(
            "create_tasks: FIND_TRANSFORMATIONS",
            task_queries.FIND_TRANSFORMATIONS,
            sks=sorted(map(str, tfs)),
        )
        bench.profile_query(
            "action_tasks: TASK_NETWORK_MEMBERSHIP",
            task_queries.TASK_NETWORK_MEMBERSHIP,
            network=str(network),
            tasks=keys,
        )
        bench.profile_query(
            "action_tasks: ACTION_TASKS",
            task_queries.ACTION_TASKS,
            network=str(network),
            tasks=keys,
            weight=None,
            default_weight=task_queries.DEFAULT_ACTION_WEIGHT,
            actionable=[str(s) for s in ACTIONABLE],
        )
