"""Task measurements: ``create_tasks`` and ``action_tasks`` of 1,000 tasks."""

from __future__ import annotations

import functools
import statistics

from devtools.bench.statestore.bench import Bench
from devtools.bench.statestore.measurement import Measurement, load, timed

TASK_BATCH = 5_000  # one transaction of 100k tasks exceeds Neo4j's transaction memory limit


def bench_tasks(bench: Bench, repeats: int = 5) -> None:
    """create_tasks and action_tasks of ``sizes.tasks`` (1,000) fresh tasks, once cold
    then ``repeats`` times, interleaved with the bare baselines."""
    assert bench.network is not None
    network = bench.network
    n_tasks = bench.sizes.tasks
    tfs = bench.transformations[:n_tasks]
    create_runs: list[float] = []
    action_runs: list[float] = []
    bare_create_runs: list[float] = []
    bare_action_runs: list[float] = []
    cold: dict[str, float] = {}
    for rep in range(repeats + 1):
        create_s, tasks = timed(functools.partial(bench.store.create_tasks, tfs))
        action_s, actioned = timed(functools.partial(bench.store.action_tasks, tasks, network))
        assert len(actioned) == n_tasks
        bench.tasks_created += len(tasks)
        rows = [
            {"scoped_key": f"{sk}-bare", "transformation": str(tf)}
            for sk, tf in zip(tasks, tfs, strict=True)
        ]
        bare_create_s, _ = timed(functools.partial(bench.backend.bare_create_tasks, rows))
        bare_action_s, _ = timed(
            functools.partial(
                bench.backend.bare_action_tasks, network, [row["scoped_key"] for row in rows]
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
    bench.backend.drop_scratch()
    bench.results["create_tasks_1000"] = Measurement(
        statistics.median(create_runs),
        "s",
        target=0.3,
        alchemiscale="4 s",
        baseline=statistics.median(bare_create_runs),
        runs=create_runs,
        baseline_query=bench.backend.baseline_queries["create_tasks"],
        details={"tasks": n_tasks, "cold_first_call_s": cold["create_tasks_s"], "load": load()},
    )
    bench.results["action_tasks_1000"] = Measurement(
        statistics.median(action_runs),
        "s",
        target=0.2,
        alchemiscale="1.6 s",
        baseline=statistics.median(bare_action_runs),
        runs=action_runs,
        baseline_query=bench.backend.baseline_queries["action_tasks"],
        details={"tasks": n_tasks, "cold_first_call_s": cold["action_tasks_s"], "load": load()},
    )
    bench.backend.profile_tasks(tfs, network, bench.first_tasks)
