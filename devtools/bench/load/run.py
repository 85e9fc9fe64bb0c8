"""One load run: warm-up, the fleet on ``--tasks`` Tasks, the checks, the baselines."""

from __future__ import annotations

import argparse
import time
from typing import Any

from devtools.bench.api.deployment import Deployment
from devtools.bench.api.measurement import Measurement, load, median, percentile, timed
from devtools.bench.api.report import log
from devtools.bench.compute.fleet import FleetLog, run_inprocess
from devtools.bench.compute.tasks import bench_network
from devtools.bench.load.baselines import api_floor, lone_claims
from devtools.bench.load.checks import all_complete, double_claims, logs_check, store_check
from devtools.bench.load.fleet import claim_latencies, fleet, wait_complete, wait_started
from devtools.bench.load.network import load_network

#: Each Task is one unit (the API floor baseline does exactly one unit's calls).
UNITS = 1
#: Seconds each lone-claim baseline may run at most.
LONE_CLAIM_SECONDS = 20.0
LATENCY_SOURCE = (
    "the services' JSON logs: per service, from each event=task_done to its next "
    "event=claim (the claim loop does nothing else in between, so each span is one "
    "ComputeClient.claim_tasks call over HTTP, as the service sees it, under full load)"
)


def warm_up(deployment: Deployment, n_tasks: int) -> dict[str, Any]:
    """``n_tasks`` one-unit Tasks through one in-process service (untimed by the report):
    a fresh Neo4j plans each query on its first call, and its JVM warms up."""
    net = bench_network(deployment, "loadwarmup", 1, 0.0)
    net.add_tasks(deployment, n_tasks)
    seconds, _ = run_inprocess(deployment, net, "warmup", n_tasks)
    return {"tasks": n_tasks, "tasks_per_s": round(n_tasks / seconds, 1)}


def _p50_ms(values: list[float]) -> float:
    return median(values) * 1000 if values else 0.0


def _p99_ms(values: list[float]) -> float:
    return percentile(values, 0.99) * 1000 if values else 0.0


def run_load(
    deployment: Deployment, args: argparse.Namespace, deadline: float
) -> tuple[dict[str, Measurement], dict[str, Any]]:
    """Everything measured, and the report's other parts (``warmup``, ``checks``)."""
    log(f"load: warm-up, {args.warmup_tasks} tasks")
    warm = warm_up(deployment, args.warmup_tasks)
    net = load_network(deployment, "load", args.transformations, UNITS, args.task_seconds)
    tasks = net.create_tasks(deployment, args.tasks)
    keys = [str(t) for t in tasks]
    log(f"load: starting {args.services} compute services")
    with fleet(deployment, args.services, str(net.scope), args.tasks_per_claim) as run:
        wait_started(run, deadline)
        log(f"load: all started in {run.start_seconds:.1f} s; actioning {args.tasks} tasks")
        action_s, _ = timed(lambda: net.action(deployment, tasks))
        run.actioned_at = time.time()
        wait_complete(deployment, run, keys, deadline)
        load_at_end = load()
    log(f"load: fleet ended ({run.ended}); checking")
    fleet_log = FleetLog.read(run.log_paths)
    stored = store_check(deployment, tasks, UNITS)
    logged = logs_check(fleet_log, tasks, UNITS)
    with deployment.user_client() as user:
        status = user.get_network_status(net.network)
    latencies = [x for name in run.names for x in claim_latencies(run.log_paths[name])]
    seconds = fleet_log.seconds
    rate = len(fleet_log.done) / seconds if seconds else 0.0
    from_action = (
        (fleet_log.last_done.timestamp() - run.actioned_at) if fleet_log.last_done else 0.0
    )
    log(f"load: {rate:.1f} tasks/s, claim p50 {_p50_ms(latencies):.1f} ms")

    log(f"load: baseline, API floor ({args.services} threads, {args.baseline_tasks} tasks)")
    floor = api_floor(deployment, args.baseline_tasks, args.services, args.task_seconds)
    log(f"load: baseline, lone claims ({args.lone_claims})")
    lone = lone_claims(deployment, args.lone_claims, LONE_CLAIM_SECONDS)
    lone_api = lone["api_one_client"]

    checks = {
        "all_complete": all_complete(stored) and status == {"complete": args.tasks},
        "double_claims": double_claims(stored, logged),
        "lost": int(stored["lost"]),
        "services_exited_0": all(code == 0 for code in run.exit_codes.values()),
        "logs_agree": logged["ok"],
    }
    conditions = {
        "all_complete": checks["all_complete"],
        "no_double_claim": checks["double_claims"] == 0,
        "none_lost": checks["lost"] == 0,
        "services_exited_0": checks["services_exited_0"],
        "logs_agree": checks["logs_agree"],
        "baseline_ok": floor["ok"],
    }
    fleet_details = {
        "ended": run.ended,
        "services_start_s": round(run.start_seconds, 2),
        "action_s": round(action_s, 3),
        "seconds_first_claim_to_last_done": round(seconds, 3),
        "seconds_action_to_last_done": round(from_action, 3),
        "tasks_per_s_from_action": round(len(fleet_log.done) / from_action, 2)
        if from_action > 0
        else 0.0,
        "exit_codes": run.exit_codes,
        "stderr_tails": run.stderr_tails(),
        "load_1min_max_during": round(run.max_load_1min, 2),
        "load_1min_at_end": load_at_end,
    }
    latency_details = {
        "source": LATENCY_SOURCE,
        "claims_timed": len(latencies),
        "max_ms": round(max(latencies, default=0.0) * 1000, 2),
        "lone_claims": lone,
    }
    lone_call = (
        "one ComputeClient alone, claim_tasks(1) calls one after another on a TaskHub of "
        f"{args.lone_claims} waiting Tasks, after the fleet has stopped (client-side "
        "perf_counter per call)"
    )
    results = {
        "throughput": Measurement(
            rate,
            "tasks/s",
            baseline=floor["tasks_per_s"],
            baseline_call=f"the API floor: {args.services} threads, one ComputeClient each: "
            "claim_tasks(1), set_task_dag, upload_unit_result, finish_task per Task (nothing "
            f"executed, nothing read), on {args.baseline_tasks} other Tasks",
            higher_is_better=True,
            conditions=conditions,
            details={
                "tasks": args.tasks,
                "services": args.services,
                "transformations": args.transformations,
                "fleet": fleet_details,
                "stored": stored,
                "logs": logged,
                "network_status_user_api": status,
                "baseline": floor,
                "load": load(),
            },
        ),
        "claim_latency_p50": Measurement(
            _p50_ms(latencies), "ms", baseline=lone_api["call_ms_p50"], baseline_call=lone_call
        ),
        "claim_latency_p99": Measurement(
            _p99_ms(latencies),
            "ms",
            baseline=lone_api["call_ms_p99"],
            baseline_call=lone_call,
            details=latency_details,
        ),
    }
    return results, {"warmup": warm, "checks": checks}
