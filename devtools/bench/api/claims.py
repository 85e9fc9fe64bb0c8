"""Claims: 8 concurrent compute clients on one TaskHub of 20,000 waiting tasks."""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from alchemiscale_like.models import Scope, ScopedKey
from alchemiscale_like.services import claims as claim_service
from alchemiscale_like.services.networks import submit_network
from devtools.bench.api.deployment import ORG, Deployment
from devtools.bench.api.measurement import Measurement, load, median, percentile, run_threads
from devtools.bench.api.networks import build_network
from devtools.bench.api.report import log

CLAIMERS = 8
TASK_BATCH = 5_000
CLAIM_SCOPE = Scope.from_str(f"{ORG}-claims-hub")

DOUBLE_CLAIMS = """
MATCH (t:Task)<-[c:CLAIMS]-()
WITH t, count(c) AS holders WHERE holders > 1
RETURN count(t) AS n
"""

RUNNING_UNCLAIMED = """
MATCH (t:Task {status: 'running'}) WHERE NOT EXISTS { (t)<-[:CLAIMS]-() }
RETURN count(t) AS n
"""

Claimer = Callable[[], list[ScopedKey]]


def claim_hub(deployment: Deployment, n_tasks: int) -> ScopedKey:
    """A network of 10 transformations whose TaskHub holds ``n_tasks`` waiting tasks."""
    stores = deployment.stores
    network = build_network(10, 5_000_000.0, "claims-hub")
    sk = submit_network(stores, json.loads(network.to_json()), CLAIM_SCOPE)
    transformations = stores.statestore.get_network_transformations(sk)
    for start in range(0, n_tasks, TASK_BATCH):
        stop = min(start + TASK_BATCH, n_tasks)
        batch = [transformations[i % len(transformations)] for i in range(start, stop)]
        stores.statestore.action_tasks(stores.statestore.create_tasks(batch), sk)
    return sk


class ClaimRun:
    """One bounded run of concurrent claimers, each its own registered compute service."""

    def __init__(self, identifiers: Sequence[str], claimers: Sequence[Claimer]) -> None:
        self.identifiers = list(identifiers)
        self.claimers = list(claimers)
        self.claimed: list[list[ScopedKey]] = [[] for _ in claimers]
        self.latencies: list[float] = []
        self.empty_calls = 0
        self.errors: list[str] = []
        self.elapsed = 0.0
        self.rounds = 0
        self._lock = threading.Lock()

    @property
    def total(self) -> int:
        """Tasks claimed so far."""
        return sum(len(got) for got in self.claimed)

    @property
    def rate(self) -> float:
        """Tasks claimed per second over the whole run."""
        return self.total / self.elapsed if self.elapsed else 0.0

    def go(self, seconds: float, max_tasks: int) -> ClaimRun:
        """Claim until ``seconds`` pass or ``max_tasks`` more tasks are claimed in total;
        a run may go more than once (its figures add up)."""
        stop = threading.Event()
        before = self.total

        def work(i: int) -> None:
            try:
                while not stop.is_set():
                    started = time.perf_counter()
                    got = self.claimers[i]()
                    taken = time.perf_counter() - started
                    with self._lock:
                        self.latencies.append(taken)
                        self.claimed[i].extend(got)
                        self.empty_calls += not got
                        if self.total - before >= max_tasks:
                            stop.set()
            except Exception as exc:  # reported in the JSON; stops the run
                with self._lock:
                    self.errors.append(f"{self.identifiers[i]}: {type(exc).__name__}: {exc}")
                stop.set()

        timer = threading.Timer(seconds, stop.set)
        timer.start()
        started = time.perf_counter()
        try:
            run_threads(work, len(self.claimers))
        finally:
            timer.cancel()
        self.elapsed += time.perf_counter() - started
        self.rounds += 1
        return self

    def verify(self, deployment: Deployment) -> dict[str, Any]:
        """Double claims, lost tasks (claimed in the store, never answered), latencies."""
        every = [sk for got in self.claimed for sk in got]
        lost = phantom = 0
        for identifier, got in zip(self.identifiers, self.claimed, strict=True):
            held = set(deployment.stores.statestore.get_computeservice(identifier).claimed)
            lost += len(held - set(got))
            phantom += len(set(got) - held)
        latencies = self.latencies or [0.0]
        return {
            "tasks_claimed": len(every),
            "rounds": self.rounds,
            "calls": len(self.latencies),
            "empty_calls": self.empty_calls,
            "seconds": round(self.elapsed, 3),
            "call_ms_p50": round(median(latencies) * 1000, 2),
            "call_ms_p99": round(percentile(latencies, 0.99) * 1000, 2),
            "double_claims_client": len(every) - len(set(every)),
            "double_claims_store": int(deployment.bare_read(DOUBLE_CLAIMS)[0]["n"]),
            "lost_tasks": lost,
            "claimed_but_not_held": phantom,
            "running_without_claim": int(deployment.bare_read(RUNNING_UNCLAIMED)[0]["n"]),
            "errors": self.errors,
        }


def _in_process_run(deployment: Deployment, name: str, via_service: bool) -> ClaimRun:
    stores = deployment.stores
    identifiers = [f"bench-{name}-{i}" for i in range(CLAIMERS)]
    claimers: list[Claimer] = []
    for identifier in identifiers:
        stores.statestore.register_computeservice(identifier)
        if via_service:
            claimers.append(
                functools.partial(claim_service.claim, stores, identifier, 1, [CLAIM_SCOPE], None)
            )
        else:
            claimers.append(
                functools.partial(
                    stores.statestore.claim_tasks, identifier, 1, scopes=[CLAIM_SCOPE]
                )
            )
    return ClaimRun(identifiers, claimers)


def bench_claims(
    deployment: Deployment, n_tasks: int, seconds: float, max_tasks: int
) -> dict[str, Measurement]:
    """8 compute clients (threads, one session and service each) claiming one task per call,
    against 8 threads calling ``statestore.claim_tasks`` on one shared store (and 8 calling
    ``services.claims.claim``); each variant runs twice, bounded by ``seconds`` and
    ``max_tasks`` each time."""
    log(f"claims: hub of {n_tasks} tasks")
    claim_hub(deployment, n_tasks)
    clients = [deployment.compute_client(f"claim{i}") for i in range(CLAIMERS)]
    try:
        for client in clients:
            client.register()
        warm = deployment.compute_client("warmup")
        warm.register()
        ClaimRun(
            [warm.service_id], [functools.partial(warm.claim_tasks, 1, scopes=[CLAIM_SCOPE])]
        ).go(1.0, min(50, max_tasks))
        warm.close()
        runs = {
            "store": _in_process_run(deployment, "store", via_service=False),
            "api": ClaimRun(
                [c.service_id for c in clients],
                [functools.partial(c.claim_tasks, 1, scopes=[CLAIM_SCOPE]) for c in clients],
            ),
            "service": _in_process_run(deployment, "service", via_service=True),
        }
        # Two rounds in rotated order: the server's speed drifts (and right after the
        # hub's bulk writes it is slower), so no variant always goes first.
        for order in (("store", "api", "service"), ("api", "service", "store")):
            for name in order:
                runs[name].go(seconds, max_tasks)
                log(f"claims: {name} {runs[name].rate:.0f}/s so far")
        baseline, api, service = runs["store"], runs["api"], runs["service"]
        api_check = api.verify(deployment)
    finally:
        for client in clients:
            client.close()
    base_check = baseline.verify(deployment)
    service_check = service.verify(deployment)
    measurement = Measurement(
        api.rate,
        "claims/s",
        baseline=baseline.rate,
        baseline_call="8 threads calling statestore.claim_tasks(service, 1, scopes=[hub scope]) "
        "on one shared Neo4jStateStore",
        target=150.0,
        higher_is_better=True,
        conditions={
            "no_double_claim": api_check["double_claims_client"] == 0
            and api_check["double_claims_store"] == 0,
            "no_lost_task": api_check["lost_tasks"] == 0,
            "no_error": not api_check["errors"],
        },
        details={
            "double_claims": api_check["double_claims_client"] + api_check["double_claims_store"],
            "lost_tasks": api_check["lost_tasks"],
            "clients": CLAIMERS,
            "hub_tasks": n_tasks,
            "count_per_call": 1,
            "api": api_check,
            "baseline": base_check,
            "service_layer": {
                "what": "8 threads calling services.claims.claim in-process (what the route "
                "calls: expire leases, heartbeat, claim)",
                "claims_per_s": round(service.rate, 1),
                **service_check,
            },
            "load": load(),
        },
    )
    return {"claims": measurement}
