"""Status-count measurement: ``get_network_status`` of a network holding 100,000 tasks."""

from __future__ import annotations

import functools
import statistics

from alchemiscale_like.models.task import TaskStatus
from alchemiscale_like.storage.statestore.neo4j import tasks as task_queries
from devtools.bench.statestore.measurement import Measurement, interleaved, load, timed
from devtools.bench.statestore.server import Bench
from devtools.bench.statestore.tasks import TASK_BATCH

N_STATUS_TASKS = 100_000

BARE_COUNT = """
MATCH (:AlchemicalNetwork {scoped_key: $sk})-[:CONTAINS]->(:Transformation)<-[:PERFORMS]-(t:Task)
RETURN count(*) AS n
"""


def bench_status(bench: Bench, repeats: int = 9) -> None:
    """get_network_status once the network holds 100,000 tasks (after 3 warm-up calls)."""
    assert bench.network is not None
    network = bench.network
    fill_s = 0.0
    created = 0
    while bench.tasks_created < N_STATUS_TASKS:
        n = min(TASK_BATCH, N_STATUS_TASKS - bench.tasks_created)
        batch = [
            bench.transformations[(created + i) % len(bench.transformations)] for i in range(n)
        ]
        fill_s += timed(functools.partial(bench.store.create_tasks, batch))[0]
        created += n
        bench.tasks_created += n
    # Two statuses in the counts: invalidate the first tasks.
    bench.store.set_task_status(bench.first_tasks, TaskStatus.INVALID)
    counts = bench.store.get_network_status(network)
    assert sum(counts.values()) == N_STATUS_TASKS, counts

    def store_status() -> object:
        return bench.store.get_network_status(network)

    def bare_count() -> object:
        return bench.bare_read(BARE_COUNT, sk=str(network))

    interleaved(store_status, bare_count, 3)
    status_runs, bare_runs = interleaved(store_status, bare_count, repeats)
    bench.results["network_status_100k"] = Measurement(
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
    bench.profile_query(
        "get_network_status: NETWORK_STATUS", task_queries.NETWORK_STATUS, sk=str(network)
    )
    bench.profile_query("baseline: BARE_COUNT", BARE_COUNT, sk=str(network))
