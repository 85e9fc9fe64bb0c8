"""Unit-result upload: ``ComputeClient.upload_unit_result`` of a 4 KB ProtocolUnitResult."""

from __future__ import annotations

import datetime as dt
import functools
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass

from alchemiscale_like.client import ComputeClient
from alchemiscale_like.models import ProtocolUnitResult, ResultFile, Scope, ScopedKey
from alchemiscale_like.models.protocoldag import ProtocolDAG
from alchemiscale_like.services.results import record_unit_result
from devtools.bench.api.deployment import ORG, Deployment
from devtools.bench.api.measurement import Measurement, load, median, percentile, timed
from devtools.bench.api.networks import build_network
from devtools.bench.api.report import log

RESULTS_SCOPE = Scope.from_str(f"{ORG}-results-run")
WARMUP = 5
#: HarmonicTI's defaults: a sampling unit's outputs hold 64 walkers x 3 coordinates.
WALKERS, DIMENSIONS = 64, 3


@dataclass
class HeldTask:
    """A task the bench's compute service holds, with the DAG it was given."""

    task: ScopedKey
    dag: ProtocolDAG


def held_tasks(deployment: Deployment, client: ComputeClient, count: int) -> list[HeldTask]:
    """``count`` tasks claimed by ``client`` through the API, each given its DAG."""
    network = build_network(3, 7_000_000.0, "results")
    user = deployment.user_client()
    try:
        sk = user.create_network(network, RESULTS_SCOPE)
        transformation = user.get_network_transformations(sk)[0]
        user.action_tasks(user.create_tasks(transformation, count=count), sk)
    finally:
        user.close()
    client.register()
    claimed: list[ScopedKey] = []
    while len(claimed) < count:
        got = client.claim_tasks(count - len(claimed), scopes=[RESULTS_SCOPE])
        if not got:
            raise RuntimeError(f"only {len(claimed)} of {count} result tasks could be claimed")
        claimed += got
    held = []
    for task in claimed:
        model = client.get_task_transformation(task)
        _, dag = client.set_task_dag(task, model.create(seed=1))
        held.append(HeldTask(task, dag))
    return held


def sampling_result(
    unit_key: str, attempt: int, rng: random.Random, files: Sequence[ResultFile] = ()
) -> ProtocolUnitResult:
    """A unit result shaped like a HarmonicTI sampling unit's (~4 KB of outputs)."""
    now = dt.datetime.now(dt.UTC)
    return ProtocolUnitResult(
        name="HarmonicSamplingUnit repeat 0 window 3",
        source_key=unit_key,
        attempt=attempt,
        outputs={
            "window": 3,
            "repeat": 0,
            "lambda": 0.5,
            "mean": rng.gauss(0.0, 1.0),
            "stderr": rng.random() * 0.1,
            "acceptance": 0.4 + rng.random() * 0.2,
            "final_positions": [
                [rng.gauss(0.0, 1.0) for _ in range(DIMENSIONS)] for _ in range(WALKERS)
            ],
        },
        files=list(files),
        start_time=now,
        end_time=now,
    )


def bench_unit_results(
    deployment: Deployment, client: ComputeClient, api_task: HeldTask, base_task: HeldTask, n: int
) -> dict[str, Measurement]:
    """``n`` uploads through the client, each followed by the same call in-process on another
    held task (``services.results.record_unit_result``); each a new (unit, attempt)."""
    rng = random.Random(8)
    units = [u.key for u in api_task.dag.protocol_units]
    base_units = [u.key for u in base_task.dag.protocol_units]
    api_ms: list[float] = []
    base_ms: list[float] = []
    to_json_ms: list[float] = []
    sizes: dict[str, int] = {}
    for i in range(n + WARMUP):
        attempt = i // len(units) + 1
        result = sampling_result(units[i % len(units)], attempt, rng)
        to_json_s, text = timed(result.to_json)
        api_s, ref = timed(functools.partial(client.upload_unit_result, api_task.task, result))
        assert ref.attempt == attempt
        base = sampling_result(base_units[i % len(base_units)], attempt, rng)
        chain = json.loads(base.to_json())
        base_s, _ = timed(
            functools.partial(
                record_unit_result, deployment.stores, base_task.task, client.service_id, chain
            )
        )
        if i < WARMUP:
            sizes = {
                "outputs_json_bytes": len(json.dumps(result.outputs, separators=(",", ":"))),
                "chain_json_bytes": len(text.encode()),
            }
            continue
        api_ms.append(api_s * 1000)
        base_ms.append(base_s * 1000)
        to_json_ms.append(to_json_s * 1000)
    log(f"unit results: api p50 {median(api_ms):.1f} ms, in-process p50 {median(base_ms):.1f} ms")
    details = {
        "uploads": n,
        **sizes,
        "files_listed": 0,
        "client_to_json_ms_p50": round(median(to_json_ms), 3),
        "load": load(),
    }
    call = (
        "services.results.record_unit_result(stores, task, service, chain) in-process "
        "(chain already decoded), alternating with the API calls"
    )
    return {
        "unit_result_upload_p50": Measurement(
            median(api_ms),
            "ms",
            baseline=median(base_ms),
            baseline_call=call,
            target=20.0,
            details=details,
        ),
        "unit_result_upload_p99": Measurement(
            percentile(api_ms, 0.99),
            "ms",
            baseline=percentile(base_ms, 0.99),
            baseline_call=call,
            details={"max_ms": round(max(api_ms), 2), "baseline_max_ms": round(max(base_ms), 2)},
        ),
    }
