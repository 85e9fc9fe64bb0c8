"""The data the pages show, written through the in-process stores with bulk calls.

One network in :data:`SCOPE`; Tasks spread round-robin over its transformations; some
actioned, some of those claimed by two compute services, each claimed Task given a
DAG reference and two successful unit results, some finished with an estimate. One
claimed Task (the task page's) gets a real ProtocolDAG of its transformation and real
unit results (successes and one failure) in the object store, as a compute service
would leave them halfway through its DAG.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import secrets
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from alchemiscale_like.models import ProtocolUnitFailure, Scope, ScopedKey, Transformation
from alchemiscale_like.models.estimate import ResultEstimate
from alchemiscale_like.models.layout import STORE_LAYOUT
from alchemiscale_like.models.verify import sub_chain, verify_keyed_chain
from alchemiscale_like.services.results import record_unit_result
from alchemiscale_like.services.stores import Stores
from alchemiscale_like.storage.statestore.records import (
    ProtocolDAGRef,
    ProtocolDAGResultRef,
    ProtocolUnitResultRef,
    network_record_from_chain,
)
from devtools.bench.api.deployment import COMPUTE, ORG
from devtools.bench.api.results import sampling_result
from devtools.bench.common import log
from devtools.bench.statestore.networks import build_network

SCOPE = Scope.from_str(f"{ORG}-dash-board")
#: Tasks per ``create_tasks`` / ``action_tasks`` call, and per ``claim_tasks`` call.
BATCH = 1000
CLAIM_BATCH = 100
#: Threads writing the per-Task references (DAG, unit results, DAG result).
WRITERS = 8
#: Units of each claimed Task's (fake) DAG, of which two have a successful result.
FAKE_UNITS = 4
#: The task page's Task: successful units recorded, then one failed attempt.
REAL_OK_UNITS = 10

T = TypeVar("T")


@dataclass(frozen=True)
class Sizes:
    """How much to fill."""

    transformations: int
    tasks: int
    actioned: int
    claimed: int
    finished: int
    services: int


@dataclass
class Filled:
    """What was filled: the keys the pages are measured on, and how long each step took."""

    network: ScopedKey
    transformation: ScopedKey
    task: ScopedKey
    services: list[str]
    claimed: int
    finished: int
    real_task: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The report's ``fill`` part."""
        return {
            "scope": str(SCOPE),
            "network": str(self.network),
            "transformation": str(self.transformation),
            "task": str(self.task),
            "services": self.services,
            "claimed": self.claimed,
            "finished": self.finished,
            "real_task": self.real_task,
            "seconds": {k: round(v, 1) for k, v in self.seconds.items()},
            "total_seconds": round(sum(self.seconds.values()), 1),
        }


def _key(kind: str) -> str:
    return f"{kind}-{secrets.token_hex(16)}"


def _batches(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _in_parallel(work: Callable[[T], None], items: Sequence[T]) -> None:
    with ThreadPoolExecutor(WRITERS, thread_name_prefix="fill") as pool:
        list(pool.map(work, items))


class _Steps:
    """Times each fill step and logs its progress on stderr."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def run(self, name: str, work: Callable[[], T]) -> T:
        started = time.perf_counter()
        result = work()
        self.seconds[name] = time.perf_counter() - started
        log(f"fill: {name} in {self.seconds[name]:.1f} s")
        return result


@dataclass(frozen=True)
class _Network:
    scoped_key: ScopedKey
    chain: Any
    transformations: dict[str, Transformation]  # by gufe key


def _submit(stores: Stores, n_transformations: int) -> _Network:
    """The network in :data:`SCOPE`, its object stored first (as a submission does)."""
    network = build_network("dashboard-bench", n_transformations // 2)
    chain = json.loads(network.to_json())
    record = network_record_from_chain(chain)
    stores.objectstore.put_object(record.key, chain)
    sk = stores.statestore.assemble_network(record, SCOPE, "active")
    return _Network(sk, chain, {t.key: t for t in network.edges})


def _create_tasks(stores: Stores, transformations: list[ScopedKey], n: int) -> list[ScopedKey]:
    """``n`` Tasks, round-robin over ``transformations``, ``BATCH`` per call."""
    wanted = [transformations[i % len(transformations)] for i in range(n)]
    tasks: list[ScopedKey] = []
    for batch in _batches(wanted, BATCH):
        tasks += stores.statestore.create_tasks(batch)
        if len(tasks) % (20 * BATCH) == 0:
            log(f"fill: {len(tasks)} of {n} tasks")
    return tasks


def _claim(stores: Stores, services: list[str], n: int) -> list[tuple[ScopedKey, str]]:
    """Up to ``n`` Tasks claimed, ``CLAIM_BATCH`` per call, the services taking turns."""
    claimed: list[tuple[ScopedKey, str]] = []
    turn = 0
    while len(claimed) < n:
        service = services[turn % len(services)]
        got = stores.statestore.claim_tasks(
            service, min(CLAIM_BATCH, n - len(claimed)), scopes=[SCOPE]
        )
        if not got:
            raise RuntimeError(f"only {len(claimed)} of {n} tasks could be claimed")
        claimed += [(task, service) for task in got]
        turn += 1
    return claimed


def _unit_ref(unit_key: str, service: str, now: dt.datetime) -> ProtocolUnitResultRef:
    return ProtocolUnitResultRef(
        unit_key=unit_key,
        attempt=1,
        ok=True,
        relpath=STORE_LAYOUT.unit_result(unit_key, 1, 1),
        service=service,
        started=now - dt.timedelta(seconds=30),
        finished=now,
    )


def _give_results(stores: Stores, held: tuple[ScopedKey, str]) -> None:
    """A DAG reference of :data:`FAKE_UNITS` units and two successful unit results."""
    task, service = held
    now = dt.datetime.now(dt.UTC)
    dag = ProtocolDAGRef(key=_key("ProtocolDAG"), relpath=STORE_LAYOUT.dag, n_units=FAKE_UNITS)
    stores.statestore.set_task_dag(task, service, dag)
    for _ in range(2):
        stores.statestore.add_unit_result(
            task, service, _unit_ref(_key("ProtocolUnit"), service, now)
        )


def _finish(stores: Stores, held: tuple[ScopedKey, str], rng: random.Random) -> None:
    task, service = held
    key = _key("ProtocolDAGResult")
    estimate = ResultEstimate(
        estimate=rng.gauss(-5.0, 2.0), uncertainty=abs(rng.gauss(0.3, 0.1)), units="kcal/mol"
    )
    result = ProtocolDAGResultRef(
        key=key,
        ok=True,
        relpath=STORE_LAYOUT.dag_result(key),
        created=dt.datetime.now(dt.UTC),
        estimate=estimate,
    )
    stores.statestore.finish_task(task, service, result)


def _failure(unit_key: str, name: str) -> ProtocolUnitFailure:
    now = dt.datetime.now(dt.UTC)
    return ProtocolUnitFailure(
        name=name,
        source_key=unit_key,
        attempt=1,
        exception=("RuntimeError", "the sampler diverged (bench)"),
        traceback='Traceback (most recent call last):\n  File "unit.py", line 1, in run\n'
        "RuntimeError: the sampler diverged (bench)\n",
        start_time=now,
        end_time=now,
    )


def _make_real(
    stores: Stores, held: tuple[ScopedKey, str], transformation: Transformation
) -> dict[str, int]:
    """A real DAG of ``transformation`` for the task page's Task, stored as a compute
    service stores it, with :data:`REAL_OK_UNITS` successful units and one failed one."""
    task, service = held
    dag = transformation.create(seed=1)
    stores.objectstore.put_task_json(task, STORE_LAYOUT.dag, json.loads(dag.to_json()))
    ref = ProtocolDAGRef(key=dag.key, relpath=STORE_LAYOUT.dag, n_units=len(dag.protocol_units))
    stores.statestore.set_task_dag(task, service, ref)
    rng = random.Random(1)
    units = list(dag.protocol_units)
    ok = min(REAL_OK_UNITS, len(units) - 1)
    for unit in units[:ok]:
        result = sampling_result(unit.key, 1, rng)
        record_unit_result(stores, task, service, json.loads(result.to_json()))
    failed = units[ok]
    record_unit_result(
        stores, task, service, json.loads(_failure(failed.key, failed.name).to_json())
    )
    return {"units": len(units), "ok_units": ok, "failed_attempts": 1}


def fill(stores: Stores, sizes: Sizes) -> Filled:
    """Write everything the pages show (progress on stderr)."""
    steps = _Steps()
    submitted = steps.run("network", lambda: _submit(stores, sizes.transformations))
    network = submitted.scoped_key
    transformations = sorted(stores.statestore.get_network_transformations(network), key=str)
    tasks = steps.run("create_tasks", lambda: _create_tasks(stores, transformations, sizes.tasks))
    # Every n-th Task, so the actioned ones spread over all transformations.
    actioned = tasks[:: max(1, len(tasks) // sizes.actioned)][: sizes.actioned]

    def action() -> None:
        for batch in _batches(actioned, BATCH):
            stores.statestore.action_tasks(batch, network)

    steps.run("action_tasks", action)
    services = [f"{COMPUTE}~dash-{i}" for i in range(sizes.services)]

    def register() -> None:
        for service in services:
            stores.statestore.register_computeservice(service)

    steps.run("register_services", register)
    claimed = steps.run("claim_tasks", lambda: _claim(stores, services, sizes.claimed))
    real, fake = claimed[-1], claimed[:-1]
    steps.run(
        "dags_and_unit_results", lambda: _in_parallel(lambda h: _give_results(stores, h), fake)
    )
    rng = random.Random(7)
    finished = fake[: sizes.finished]
    steps.run("finish_tasks", lambda: _in_parallel(lambda h: _finish(stores, h, rng), finished))
    task, _ = real
    transformation = stores.statestore.get_task(task).transformation
    model = submitted.transformations[transformation.gufe_key]

    def make_real() -> dict[str, int]:
        # The transformation's own object, as the submission's member writes leave it.
        entries = verify_keyed_chain(submitted.chain)
        stores.objectstore.put_object(model.key, sub_chain(entries, model.key))
        return _make_real(stores, real, model)

    real_task = steps.run("real_task", make_real)
    return Filled(
        network=network,
        transformation=transformation,
        task=task,
        services=services,
        claimed=len(claimed),
        finished=len(finished),
        real_task=real_task,
        seconds=steps.seconds,
    )
