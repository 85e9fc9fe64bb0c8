"""End-to-end throughput: many one-unit Tasks processed by several service subprocesses.

The figure is tasks per second from the first claim to the last task done (from
the services' own JSON logs). Its baseline is the API floor in the same run: as
many threads as services, each its own ``ComputeClient``, making only the calls
a Task cannot do without (claim, set the DAG, upload the unit result, finish) on
as many other Tasks, with nothing executed. Details add one in-process service
with every API call counted and timed (where a Task's time goes), and the local
executor's rate for the same DAGs.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter
from typing import Any

from alchemiscale_like.client import ComputeClient
from alchemiscale_like.compute.recorder import seed_for
from alchemiscale_like.models import ScopedKey
from alchemiscale_like.models.protocoldag import ProtocolDAGResult
from alchemiscale_like.models.protocolunit import ProtocolUnitResult
from alchemiscale_like.models.task import TaskStatus
from devtools.bench.api.deployment import Deployment
from devtools.bench.api.measurement import Measurement, load, run_threads
from devtools.bench.api.report import log
from devtools.bench.compute.fleet import FleetLog, run_inprocess, start_service, wait_all
from devtools.bench.compute.local import run_local
from devtools.bench.compute.protocol import BenchSleepProtocol
from devtools.bench.compute.tasks import BenchNetwork, bench_network

TARGET = 50.0

#: Per Task: its status, claims, and how many DAGs, unit results and DAG results it holds.
TASK_RECORDS = """
UNWIND $tasks AS sk
MATCH (t:Task {scoped_key: sk})
RETURN sk AS task, t.status AS status, t.attempts AS attempts,
       COUNT { (t)-[:HAS_DAG]->(:ProtocolDAGRef) } AS dags,
       COUNT { (t)-[:HAS_DAG]->(:ProtocolDAGRef)-[:HAS_UNIT_RESULT]->() } AS unit_results,
       COUNT { (t)-[:HAS_DAG]->(:ProtocolDAGRef)-[:RESULTS_IN]->() } AS dag_results
"""


def verify_tasks(deployment: Deployment, tasks: list[ScopedKey]) -> dict[str, Any]:
    """What the stores hold for ``tasks``: each should be complete, claimed once, one DAG,
    one unit result and one DAG result."""
    records = deployment.bare_read(TASK_RECORDS, tasks=[str(t) for t in tasks])
    statuses = Counter(str(r["status"]) for r in records)
    return {
        "tasks": len(tasks),
        "found": len(records),
        "statuses": dict(statuses),
        "claimed_more_than_once": sum(r["attempts"] != 1 for r in records),
        "not_exactly_one_dag": sum(r["dags"] != 1 for r in records),
        "not_exactly_one_unit_result": sum(r["unit_results"] != 1 for r in records),
        "not_exactly_one_dag_result": sum(r["dag_results"] != 1 for r in records),
    }


def stored_ok(check: dict[str, Any]) -> bool:
    """Whether :func:`verify_tasks` found every Task complete and held exactly once."""
    return bool(
        check["found"] == check["tasks"]
        and check["statuses"] == {TaskStatus.COMPLETE.value: check["tasks"]}
        and check["claimed_more_than_once"] == 0
        and check["not_exactly_one_dag"] == 0
        and check["not_exactly_one_unit_result"] == 0
        and check["not_exactly_one_dag_result"] == 0
    )


def log_check(fleet: FleetLog, tasks: list[ScopedKey]) -> dict[str, Any]:
    """What the services' logs say about ``tasks``: claims, finishes and unit starts."""
    expected = {str(t) for t in tasks}
    return {
        "claimed_tasks": len(fleet.claims),
        "claimed_twice": sum(n > 1 for n in fleet.claims.values()),
        "done_tasks": len(fleet.done),
        "done_twice": sum(n > 1 for n in fleet.done.values()),
        "unknown_tasks": len((set(fleet.claims) | set(fleet.done)) - expected),
        "unit_starts": sum(fleet.unit_starts.values()),
        "units_started_twice": sum(n > 1 for n in fleet.unit_starts.values()),
        "statuses": dict(fleet.statuses),
        "tasks_by_service": fleet.tasks_by_service,
        "warnings": fleet.warnings[:20],
    }


def logs_ok(check: dict[str, Any], n_tasks: int) -> bool:
    """Whether each of the ``n_tasks`` Tasks was claimed, run and done exactly once."""
    return bool(
        check["claimed_tasks"] == check["done_tasks"] == check["unit_starts"] == n_tasks
        and check["claimed_twice"] == check["done_twice"] == 0
        and check["units_started_twice"] == check["unknown_tasks"] == 0
    )


def run_fleet(
    deployment: Deployment,
    net: BenchNetwork,
    tasks: list[ScopedKey],
    n_services: int,
    timeout: float,
    **settings: Any,
) -> tuple[FleetLog, dict[str, Any]]:
    """Start ``n_services`` services (``--once``; ``settings`` override the bench's), wait
    until all exit, read their logs."""
    started = time.monotonic()
    scope = str(net.scope)
    services = [
        start_service(deployment, f"fleet{i}", scope, **settings) for i in range(n_services)
    ]
    try:
        codes = wait_all(services, timeout)
    finally:
        for service in services:
            service.stop()
    wall = time.monotonic() - started
    fleet = FleetLog.read({s.name: s.log_path for s in services})
    stderr = {s.name: s.stderr_path.read_text(errors="replace")[-500:] for s in services}
    check = log_check(fleet, tasks) | {
        "exit_codes": codes,
        "wall_s_start_to_exit": round(wall, 2),
        "stderr_tails": {name: tail for name, tail in stderr.items() if tail.strip()},
    }
    return fleet, check


class Floor:
    """The API floor: threads making only the calls each Task needs, nothing executed."""

    def __init__(self, deployment: Deployment, net: BenchNetwork, n_threads: int) -> None:
        self.deployment = deployment
        self.net = net
        self.n_threads = n_threads
        self.done: list[list[ScopedKey]] = [[] for _ in range(n_threads)]
        self.first: float | None = None
        self.last: float | None = None
        self.errors: list[str] = []
        self._lock = threading.Lock()

    def _one_task(self, client: ComputeClient, task: ScopedKey) -> None:
        dag = self.net.transformation.create(seed=seed_for(task))
        _, dag = client.set_task_dag(task, dag)
        (unit,) = dag.protocol_units
        now = dt.datetime.now(dt.UTC)
        result = ProtocolUnitResult(
            name=unit.name,
            source_key=unit.key,
            attempt=1,
            outputs={"index": 0, "seed": unit.inputs["seed"]},
            start_time=now,
            end_time=now,
        )
        client.upload_unit_result(task, result)
        final = ProtocolDAGResult(
            name=dag.name,
            protocol_units=dag.protocol_units,
            protocol_unit_results=[result],
            transformation_key=dag.transformation_key,
            extends_key=dag.extends_key,
            dag_key=dag.key,
        )
        client.finish_task(task, final)

    def _work(self, i: int) -> None:
        client = self.deployment.compute_client(f"floor{i}")
        protocols = [BenchSleepProtocol.__qualname__]
        try:
            client.register(protocols)
            while True:
                started = time.perf_counter()
                claimed = client.claim_tasks(1, protocols, scopes=[self.net.scope])
                if not claimed:
                    break
                self._one_task(client, claimed[0])
                ended = time.perf_counter()
                with self._lock:
                    self.first = min(started, self.first or started)
                    self.last = max(ended, self.last or ended)
                self.done[i].append(claimed[0])
            client.deregister()
        except Exception as exc:  # reported in the JSON
            with self._lock:
                self.errors.append(f"floor{i}: {type(exc).__name__}: {exc}")
        finally:
            client.close()

    def run(self) -> float:
        """Process every waiting Task of the network; tasks per second."""
        run_threads(self._work, self.n_threads)
        if self.first is None or self.last is None:
            return 0.0
        return sum(len(d) for d in self.done) / (self.last - self.first)


def probe(
    deployment: Deployment, net: BenchNetwork, n_tasks: int, **settings: Any
) -> dict[str, Any]:
    """One in-process service on ``n_tasks`` Tasks, every API call counted and timed."""
    net.add_tasks(deployment, n_tasks)
    seconds, api = run_inprocess(deployment, net, "probe", n_tasks, **settings)
    return {
        "what": "one SynchronousComputeService in this process (the same code the "
        "subprocesses run), alone; client-side wall time of each ComputeAPI call",
        "tasks": n_tasks,
        "tasks_per_s": round(n_tasks / seconds, 1),
        "ms_per_task": round(seconds / n_tasks * 1000, 1),
        "api_per_task": api.breakdown(per=n_tasks),
    }


def local_rate(deployment: Deployment, net: BenchNetwork, n_dags: int) -> dict[str, Any]:
    """The local executor running ``n_dags`` DAGs of the same Transformation one by one."""
    dags = [net.transformation.create(seed=i) for i in range(n_dags)]
    seconds = sum(run_local(dag, deployment.work / f"local-rate-{i}") for i, dag in enumerate(dags))
    return {
        "what": "DAGExecutor.execute of each DAG in turn in this process (1 process)",
        "dags": n_dags,
        "dags_per_s": round(n_dags / seconds, 1),
        "ms_per_dag": round(seconds / n_dags * 1000, 2),
    }


def bench_throughput(
    deployment: Deployment,
    n_tasks: int,
    n_services: int,
    seconds: float,
    probe_tasks: int,
    timeout: float,
    tasks_per_claim: int = 1,
) -> dict[str, Measurement]:
    """``n_tasks`` one-unit Tasks (``seconds`` each) through ``n_services`` subprocesses,
    then the API floor on as many Tasks, the probe and the local rate."""
    net = bench_network(deployment, "throughput", 1, seconds)
    tasks = net.add_tasks(deployment, n_tasks)
    log(f"throughput: {n_tasks} tasks, {n_services} service processes")
    fleet, logged = run_fleet(
        deployment, net, tasks, n_services, timeout, tasks_per_claim=tasks_per_claim
    )
    stored = verify_tasks(deployment, tasks)
    rate = len(fleet.done) / fleet.seconds if fleet.seconds else 0.0
    log(f"throughput: {rate:.1f} tasks/s over {fleet.seconds:.1f} s")

    floor_net = bench_network(deployment, "floor", 1, seconds)
    floor_tasks = floor_net.add_tasks(deployment, n_tasks)
    floor = Floor(deployment, floor_net, n_services)
    floor_rate = floor.run()
    floor_stored = verify_tasks(deployment, floor_tasks)
    log(f"throughput: API floor {floor_rate:.1f} tasks/s")

    probe_net = bench_network(deployment, "probe", 1, seconds)
    probed = probe(deployment, probe_net, probe_tasks, tasks_per_claim=tasks_per_claim)
    log(f"throughput: one in-process service {probed['tasks_per_s']} tasks/s")
    local = local_rate(deployment, net, probe_tasks)

    return {
        "throughput": Measurement(
            rate,
            "tasks/s",
            baseline=floor_rate,
            baseline_call=f"{n_services} threads, one ComputeClient each: claim_tasks(1), "
            "set_task_dag, upload_unit_result, finish_task per Task (nothing executed, "
            "nothing read), on as many other Tasks",
            target=TARGET,
            higher_is_better=True,
            conditions={
                "all_complete": stored_ok(stored),
                "none_processed_twice": logs_ok(logged, n_tasks),
                "services_exited_0": all(c == 0 for c in logged["exit_codes"].values()),
                "baseline_all_complete": stored_ok(floor_stored) and not floor.errors,
            },
            details={
                "tasks": n_tasks,
                "services": n_services,
                "tasks_per_claim": tasks_per_claim,
                "unit_seconds": seconds,
                "seconds_first_claim_to_last_done": round(fleet.seconds, 3),
                "stored": stored,
                "logs": logged,
                "baseline_stored": floor_stored,
                "baseline_errors": floor.errors,
                "one_service_in_process": probed,
                "local_executor": local,
                "load": load(),
            },
        )
    }
