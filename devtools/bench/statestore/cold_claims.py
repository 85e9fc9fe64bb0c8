"""Cold-claim measurements: 8 claimers in the first seconds after a hub is filled.

Right after a bulk fill, Neo4j's index samples may still describe the empty database
(its background sampler catches up every 10 s), and a plan made then stays cached for
at least 10 s; a claim query whose plan depended on those samples crawled at about one
claim per second through one shared store. The measurements run unchanged on every
backend (SQLite has no sampled statistics to go stale: there they check that a fresh
or just-reset database claims as fast as a warm one). Two situations, each with one
shared store and with one store per thread. Each variant fills its own 20,000-task hub
right before its claimers start, so that none runs on a plan another one made:

* ``cold_claims_after_fill_*``: a fresh database: emptied by ``reset`` after a few
  warm-up claims on a 50-task hub, so that the figure is about the database and not
  about the server's JIT (the warm-up's first claim, which compiles the claim queries
  on a cold server, is reported as ``server_warm_up_first_claim_s``).
* ``cold_claims_after_reset_*``: after ``reset`` of a database holding at least
  ``--reset-tasks`` (100,000) tasks: the shared-store variant resets what the other
  measurements left, the per-thread one a database topped up with actioned tasks.

The value is the slowest claim call, against a target of 5 s (a stall, not a slow
machine); claims/s and the bare baseline run right after, on the same database, are in
``details``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from alchemiscale_like.models import Scope
from alchemiscale_like.storage.statestore.base import StateStore
from devtools.bench.statestore.bench import Bench
from devtools.bench.statestore.claims import (
    CLAIM_SCOPE,
    CLAIMERS,
    ClaimRun,
    bare_claims,
    claim_hub,
)
from devtools.bench.statestore.measurement import Measurement, load, timed

#: The slowest claim call allowed; normal calls take milliseconds.
STALL_SECONDS = 5.0
FILL_SCOPE = Scope.from_str("bench-statestore-fill")


def bench_cold_claims_after_fill(bench: Bench) -> None:
    """Cold claims on a fresh database; leaves the database empty (and initialized)."""
    warm_up_s = _warm_up(bench)
    for variant, database in [
        ("shared_store", "emptied by reset after a 50-task warm-up hub"),
        ("store_per_thread", "emptied by reset after the shared-store variant's hub"),
    ]:
        bench.backend.reset()
        _cold_claims(
            bench,
            f"cold_claims_after_fill_{variant}",
            {"database": database, "server_warm_up_first_claim_s": round(warm_up_s, 2)},
        )
    bench.backend.reset()


def _warm_up(bench: Bench) -> float:
    """A few claims on a small hub, so that the server's JIT is warm; the seconds of
    the first one (on a freshly started server it compiles the claim queries cold)."""
    claim_hub(bench, 50)
    bench.store.register_computeservice("cold-claims-warm-up")
    first_s, _ = timed(
        functools.partial(bench.store.claim_tasks, "cold-claims-warm-up", 1, scopes=[CLAIM_SCOPE])
    )
    for _ in range(3):
        bench.store.claim_tasks("cold-claims-warm-up", 1, scopes=[CLAIM_SCOPE])
    return first_s


def bench_cold_claims_after_reset(bench: Bench) -> None:
    """Cold claims after ``reset`` of a database holding at least ``sizes.reset_tasks``
    tasks."""
    for variant in ["shared_store", "store_per_thread"]:
        fill_s = 0.0
        missing = bench.sizes.reset_tasks - bench.backend.task_count()
        if missing > 0:
            bench.log(f"filling the database with {missing} more tasks")
            fill_s, _ = timed(functools.partial(claim_hub, bench, missing, FILL_SCOPE))
        held = bench.backend.task_count()
        reset_s = bench.backend.reset()
        _cold_claims(
            bench,
            f"cold_claims_after_reset_{variant}",
            {
                "database": f"reset after holding {held} tasks",
                "reset_s": round(reset_s, 2),
                "top_up_fill_s": round(fill_s, 2),
            },
        )


def _cold_claims(bench: Bench, name: str, context: dict[str, Any]) -> None:
    bench.log(name)
    seconds, max_tasks = bench.sizes.claim_seconds, bench.sizes.claim_max
    per_thread = name.endswith("store_per_thread")
    stores: Sequence[StateStore] = (
        [bench.backend.new_store() for _ in range(CLAIMERS)]
        if per_thread
        else [bench.store] * CLAIMERS
    )
    try:
        run = ClaimRun(name, 1, stores)
        run.register()  # before the fill, so that the claimers start right after it
        fill_s, _ = timed(functools.partial(claim_hub, bench))
        run.go(seconds, max_tasks)
        checks = run.verify(bench)
    finally:
        if per_thread:
            for store in stores:
                store.close()
    baseline = bare_claims(bench, 1, seconds, max_tasks)
    bench.results[name] = Measurement(
        max(run.latencies, default=run.elapsed),
        "s",
        target=STALL_SECONDS,
        baseline=baseline.max_call_s,
        baseline_query=bench.backend.baseline_queries["cold_claims"],
        details={
            "claims_per_s": round(run.rate, 1),
            "baseline_claims_per_s": round(baseline.rate, 1),
            "hub_fill_s": round(fill_s, 2),
            **context,
            **checks,
            "load": load(),
        },
    )
