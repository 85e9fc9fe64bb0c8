"""Claim measurements: 8 concurrent claimers on one TaskHub of 20,000 waiting tasks."""

from __future__ import annotations

import functools
import json
import statistics
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from alchemiscale_like.models import (
    AlchemicalNetwork,
    ChemicalSystem,
    Scope,
    ScopedKey,
    SmallMoleculeComponent,
    Transformation,
)
from alchemiscale_like.protocols import HarmonicTIProtocol, HarmonicTISettings
from alchemiscale_like.storage.statestore.base import StateStore
from alchemiscale_like.storage.statestore.records import network_record_from_chain
from devtools.bench.statestore.bench import Bench
from devtools.bench.statestore.measurement import Measurement, load, run_threads, timed
from devtools.bench.statestore.tasks import TASK_BATCH

CLAIMERS = 8
CLAIM_SCOPE = Scope.from_str("bench-statestore-claims")


def bench_claims(bench: Bench) -> None:
    """8 claimer threads on one TaskHub of ``sizes.hub_tasks`` (20,000) waiting tasks,
    in four variants: one shared store or one store per thread, 1 or 10 tasks per call."""
    seconds, max_tasks = bench.sizes.claim_seconds, bench.sizes.claim_max
    hub = claim_hub(bench)
    warmup = ClaimRun("warmup", 1, [bench.store])
    warmup.register()
    warmup.go(seconds=1.0, max_tasks=50)
    stores = [bench.backend.new_store() for _ in range(CLAIMERS)]
    shared = [bench.store] * CLAIMERS
    try:
        for name, count, run_stores in [
            ("claims_count1_shared_store", 1, shared),
            ("claims_count1_store_per_thread", 1, stores),
            ("claims_count10_shared_store", 10, shared),
            ("claims_count10_store_per_thread", 10, stores),
        ]:
            bench.log(name)
            baseline = bare_claims(bench, count, seconds, max_tasks).rate
            run = ClaimRun(name, count, run_stores)
            run.register()
            run.go(seconds, max_tasks)
            bench.results[name] = Measurement(
                run.rate,
                "claims/s" if count == 1 else "tasks/s",
                target=300.0 if count == 1 else None,
                higher_is_better=True,
                baseline=baseline,
                baseline_query=bench.backend.baseline_queries["claims"].format(count=count),
                details=run.verify(bench) | {"load": load()},
            )
    finally:
        for store in stores:
            store.close()
    bench.backend.profile_claims(hub)


def claim_hub(bench: Bench, n_tasks: int | None = None, scope: Scope = CLAIM_SCOPE) -> ScopedKey:
    """A network in ``scope`` whose TaskHub holds ``n_tasks`` (default ``sizes.hub_tasks``)
    waiting tasks."""
    if n_tasks is None:
        n_tasks = bench.sizes.hub_tasks
    protocol = HarmonicTIProtocol(settings=HarmonicTISettings())
    systems = [
        ChemicalSystem(
            components={
                "ligand": SmallMoleculeComponent(
                    smiles="C", properties={"spring_constant": 5000.0 + i}
                )
            }
        )
        for i in range(11)
    ]
    edges = [
        Transformation(stateA=systems[0], stateB=s, protocol=protocol, name=f"c{i}")
        for i, s in enumerate(systems[1:])
    ]
    network = AlchemicalNetwork(edges=edges, name="bench-claims")
    record = network_record_from_chain(json.loads(network.to_json()))
    sk = bench.store.assemble_network(record, scope)
    tfs = bench.store.get_network_transformations(sk)
    for start in range(0, n_tasks, TASK_BATCH):
        tasks = bench.store.create_tasks(
            [tfs[i % len(tfs)] for i in range(start, min(start + TASK_BATCH, n_tasks))]
        )
        bench.store.action_tasks(tasks, sk)
    return sk


@dataclass(frozen=True)
class BareClaims:
    """What the bare baseline of a claim run achieved."""

    rate: float
    max_call_s: float


def bare_claims(bench: Bench, count: int, seconds: float, max_tasks: int) -> BareClaims:
    """Tasks/s (and the slowest call) of 8 threads, each making the backend's bare
    claim of ``count`` tasks per write transaction (``Backend.bare_claimers``) until
    ``seconds`` pass or the ``max_tasks`` scratch tasks are taken."""
    done = [0] * CLAIMERS
    slowest = [0.0] * CLAIMERS
    with bench.backend.bare_claimers(max_tasks, CLAIMERS) as claimers:
        deadline = time.monotonic() + seconds

        def work(i: int) -> None:
            claim = functools.partial(claimers[i], count)
            while time.monotonic() <= deadline:
                call_s, got = timed(claim)
                if not got:
                    return
                done[i] += got
                slowest[i] = max(slowest[i], call_s)

        elapsed, _ = timed(functools.partial(run_threads, work, CLAIMERS))
    return BareClaims(rate=sum(done) / elapsed, max_call_s=max(slowest))


class ClaimRun:
    """One bounded run of concurrent claimers, each with its own registered service."""

    def __init__(self, name: str, count: int, stores: Sequence[StateStore]) -> None:
        self.name, self.count, self.stores = name, count, stores
        self.identifiers = [f"{name}-{i}" for i in range(len(stores))]
        self.claimed: list[list[ScopedKey]] = [[] for _ in stores]
        self.latencies: list[float] = []
        self.first_latencies: list[float] = []
        self.empty_calls = 0
        self.errors: list[str] = []
        self.elapsed = 0.0
        self._lock = threading.Lock()

    def register(self) -> None:
        """Register every claimer's compute service."""
        for store, identifier in zip(self.stores, self.identifiers, strict=True):
            store.register_computeservice(identifier)

    @property
    def total(self) -> int:
        """Tasks claimed so far."""
        return sum(len(got) for got in self.claimed)

    def go(self, seconds: float, max_tasks: int) -> None:
        """Claim until ``seconds`` pass or ``max_tasks`` tasks are claimed in total."""
        stop = threading.Event()

        def work(i: int) -> None:
            store, identifier = self.stores[i], self.identifiers[i]
            claim = functools.partial(
                store.claim_tasks, identifier, self.count, scopes=[CLAIM_SCOPE]
            )
            try:
                first = True
                while not stop.is_set():
                    seconds_taken, got = timed(claim)
                    with self._lock:
                        if first:
                            self.first_latencies.append(seconds_taken)
                            first = False
                        self.latencies.append(seconds_taken)
                        self.claimed[i].extend(got)
                        self.empty_calls += not got
                        if self.total >= max_tasks:
                            stop.set()
            except Exception as exc:  # reported in the JSON; stops the run
                self.errors.append(f"{identifier}: {type(exc).__name__}: {exc}")
                stop.set()

        timer = threading.Timer(seconds, stop.set)
        timer.start()
        try:
            self.elapsed, _ = timed(functools.partial(run_threads, work, len(self.stores)))
        finally:
            timer.cancel()

    @property
    def rate(self) -> float:
        """Tasks claimed per second over the whole run."""
        return self.total / self.elapsed if self.elapsed else 0.0

    def verify(self, bench: Bench) -> dict[str, Any]:
        """Double claims, whether the store's view of each service agrees, latencies."""
        every = [sk for got in self.claimed for sk in got]
        store_agrees = all(
            set(bench.store.get_computeservice(identifier).claimed) == set(got)
            for identifier, got in zip(self.identifiers, self.claimed, strict=True)
        )
        latencies = sorted(self.latencies)
        return {
            "claimers": len(self.stores),
            "count_per_call": self.count,
            "tasks_claimed": len(every),
            "calls": len(latencies),
            "empty_calls": self.empty_calls,
            "seconds": round(self.elapsed, 3),
            "call_ms_median": round(statistics.median(latencies) * 1000, 2) if latencies else None,
            "call_ms_p95": round(latencies[int(0.95 * (len(latencies) - 1))] * 1000, 2)
            if latencies
            else None,
            "call_ms_max": round(latencies[-1] * 1000, 2) if latencies else None,
            # Each thread's first call includes planning the claim queries.
            "first_call_ms_max": round(max(self.first_latencies) * 1000, 2)
            if self.first_latencies
            else None,
            "calls_over_1s": sum(latency >= 1.0 for latency in latencies),
            "double_claims_client": len(every) - len(set(every)),
            "double_claims_store": bench.backend.double_claims(),
            "store_view_agrees": store_agrees,
            "errors": self.errors,
        }
