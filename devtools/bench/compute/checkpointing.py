"""Checkpointing overhead: one chain DAG through a compute service vs the local executor.

The DAG is a linear chain (unit ``i`` needs unit ``i - 1``), so neither side can
run two units at once: the difference is what the service adds around each unit
(upload of its result before the next starts) and around the Task (claim, DAG,
finish, register/deregister).
"""

from __future__ import annotations

from typing import Any

from alchemiscale_like.compute.recorder import seed_for
from alchemiscale_like.models.task import TaskStatus
from devtools.bench.api.deployment import Deployment
from devtools.bench.api.measurement import Measurement, load, median
from devtools.bench.api.report import log
from devtools.bench.compute.fleet import run_inprocess
from devtools.bench.compute.local import run_local
from devtools.bench.compute.tasks import bench_network
from devtools.bench.compute.timed_api import TimedAPI

TARGET_RATIO = 1.15


def bench_checkpointing(
    deployment: Deployment, n_units: int, seconds: float, repeats: int
) -> dict[str, Measurement]:
    """``repeats`` rounds, each a new Task of the same chain run through the service and
    locally (same DAG: the seed is derived from the Task's key), in alternating order."""
    net = bench_network(deployment, "checkpoint", n_units, seconds)
    statestore = deployment.stores.statestore
    service_runs: list[float] = []
    local_runs: list[float] = []
    apis: list[TimedAPI] = []
    same_dag = complete = True
    for rep in range(repeats):
        (task,) = net.add_tasks(deployment, 1)
        dag = net.transformation.create(seed=seed_for(task))
        order = ("local", "service") if rep % 2 == 0 else ("service", "local")
        for side in order:
            if side == "local":
                local_runs.append(run_local(dag, deployment.work / f"local-{rep}"))
                continue
            took, api = run_inprocess(deployment, net, f"checkpoint{rep}", 1)
            service_runs.append(took)
            apis.append(api)
        stored = statestore.get_task_dag(task)
        same_dag = same_dag and stored is not None and stored.key == dag.key
        complete = complete and statestore.get_task_status([task])[task] == TaskStatus.COMPLETE
        log(f"checkpoint {rep}: service {service_runs[-1]:.2f} s, local {local_runs[-1]:.2f} s")
    value, baseline = median(service_runs), median(local_runs)
    return {
        "checkpoint_overhead": Measurement(
            value,
            "s",
            baseline=baseline,
            baseline_call="DAGExecutor(UnitExecutor(...)).execute(dag) in this process "
            "(model inprocess, no recorder), the same DAG",
            target=TARGET_RATIO,
            target_on="ratio",
            conditions={"task_complete": complete, "same_dag": same_dag},
            runs=service_runs,
            baseline_runs=local_runs,
            details=_details(n_units, seconds, value, baseline, apis[-1]),
        )
    }


def _details(
    n_units: int, seconds: float, value: float, baseline: float, api: TimedAPI
) -> dict[str, Any]:
    return {
        "what": "SynchronousComputeService.run() in this process (once: register, claim, "
        "fetch transformation, create and set the DAG, run every unit, upload each "
        "result before the next unit starts, finish, deregister) through ComputeClient "
        "over HTTP to the compute API process",
        "dag": f"linear chain of {n_units} units x {seconds} s sleep (no two units at once)",
        "execution_model": "inprocess (service and baseline)",
        "overhead_ms_per_unit": round((value - baseline) / n_units * 1000, 2),
        "api_calls_last_run_per_unit": api.breakdown(per=n_units),
        "load": load(),
    }
