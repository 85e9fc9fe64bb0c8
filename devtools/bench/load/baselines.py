"""Same-run baselines: the API floor for throughput, lone claims for claim latency.

Both run after the fleet, on the same (warm, now idle) deployment, each on Tasks of
its own network so nothing else can claim them.
"""

from __future__ import annotations

import functools
from typing import Any

from alchemiscale_like.services import claims as claim_service
from devtools.bench.api.claims import ClaimRun
from devtools.bench.api.deployment import Deployment
from devtools.bench.compute.protocol import BenchSleepProtocol
from devtools.bench.compute.tasks import bench_network
from devtools.bench.compute.throughput import Floor
from devtools.bench.load.checks import all_complete, store_check


def api_floor(
    deployment: Deployment, n_tasks: int, n_threads: int, seconds: float
) -> dict[str, Any]:
    """``n_threads`` threads, one ``ComputeClient`` each, making only the calls a Task needs
    (claim, set the DAG, upload the unit result, finish) on ``n_tasks`` one-unit Tasks;
    nothing executed, nothing read. Its rate is what the API pair allows at most."""
    net = bench_network(deployment, "loadfloor", 1, seconds)
    tasks = net.add_tasks(deployment, n_tasks)
    floor = Floor(deployment, net, n_threads)
    rate = floor.run()
    stored = store_check(deployment, tasks, 1)
    return {
        "tasks_per_s": round(rate, 2),
        "threads": n_threads,
        "tasks": n_tasks,
        "ok": all_complete(stored) and stored["lost"] == 0 and not floor.errors,
        "stored": stored,
        "errors": floor.errors[:10],
    }


def lone_claims(deployment: Deployment, n_claims: int, seconds: float) -> dict[str, Any]:
    """Claim latency with nothing else running: one ``ComputeClient`` making
    ``claim_tasks(1)`` calls one after another over HTTP, then one thread calling
    ``services.claims.claim`` in this process (what the route calls), each on
    ``n_claims`` waiting Tasks of its own (or for ``seconds``, whichever ends first)."""
    protocols = [BenchSleepProtocol.__qualname__]
    api_net = bench_network(deployment, "loadclaims", 1, 0.0)
    api_net.add_tasks(deployment, n_claims)
    client = deployment.compute_client("lone-claims")
    try:
        client.register(protocols)
        api_run = ClaimRun(
            [client.service_id],
            [functools.partial(client.claim_tasks, 1, protocols, scopes=[api_net.scope])],
        ).go(seconds, n_claims)
        api = api_run.verify(deployment)
    finally:
        client.close()

    stores = deployment.stores
    service_net = bench_network(deployment, "loadclaimsinproc", 1, 0.0)
    service_net.add_tasks(deployment, n_claims)
    identifier = "bench-load-inprocess"
    stores.statestore.register_computeservice(identifier)
    service_run = ClaimRun(
        [identifier],
        [
            functools.partial(
                claim_service.claim, stores, identifier, 1, [service_net.scope], protocols
            )
        ],
    ).go(seconds, n_claims)
    service = service_run.verify(deployment)
    return {"api_one_client": api, "service_layer_in_process": service}
