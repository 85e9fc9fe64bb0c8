"""Status-count measurement: ``get_network_status`` of a network holding 100,000 tasks."""

from __future__ import annotations

import functools
import statistics

from alchemiscale_like.models.task import TaskStatus
from devtools.bench.statestore.bench import Bench
from devtools.bench.statestore.measurement import Measurement, interleaved, load, timed
from devtools.bench.statestore.tasks import TASK_BATCH


def bench_status(bench: Bench, repeats: int = 9) -> None:
    """get_network_status once the network holds ``sizes.status_tasks`` (100,000) tasks
    (after 3 warm-up calls)."""
    assert bench.network is not None
    network = bench.network
    n_status = bench.sizes.status_tasks
    fill_s = 0.0
    created = 0
    while bench.tasks_created < n_status:
        n = min(TASK_BATCH, n_status - bench.tasks_created)
        batch = [
            bench.transformations[(created + i) % len(bench.transformations)] for i in range(n)
        ]
        fill_s += timed(functools.partial(bench.store.create_tasks, batch))[0]
        created += n
        bench.tasks_created += n
    # Two statuses in the counts: invalidate the first tasks.
    bench.store.set_task_status(bench.first_tasks, TaskStatus.INVALID)
    counts = bench.store.get_network_status(network)
    assert sum(counts.values()) == n_status, counts

    def store_status() -> object:
        return bench.store.get_network_status(network)

    def bare_status() -> object:
        return bench.backend.bare_network_status(network)

    interleaved(store_status, bare_status, 3)
    status_runs, bare_runs = interleaved(store_status, bare_status, repeats)
    bench.results["network_status_100k"] = Measurement(
        statistics.median(status_runs) * 1000,
        "ms",
        target=100.0,
        baseline=statistics.median(bare_runs) * 1000,
        runs=[r * 1000 for r in status_runs],
        baseline_query=bench.backend.baseline_queries["network_status"],
        details={
            "tasks": n_status,
            "counts": counts,
            "create_tasks_batch": TASK_BATCH,
            "create_tasks_per_s_in_batches": round(created / fill_s) if fill_s else None,
            "load": load(),
        },
    )
    bench.backend.profile_status(network)
