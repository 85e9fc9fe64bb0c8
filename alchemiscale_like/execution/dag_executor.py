"""`DAGExecutor`: run a ProtocolDAG's remaining units in dependency order.

The execution model decides where units run:

* ``inprocess``: one after another in this process;
* ``processes``: independent units in parallel in a local process pool
  (started by ``forkserver``, never forked from this process);
* ``dask``: independent units on a ``dask.distributed`` cluster (optional
  extra ``alchemiscale-like[dask]``).

Either way :attr:`on_unit_result` is called in *this* process after each
attempt and before any dependant is scheduled, so the caller can make the
result durable first. Workers get plain data only (see :mod:`.worker`): units
and results cross as keyed-chain JSON text, files stay on the filesystem that
this process and the workers share.
"""

from __future__ import annotations

import logging
import multiprocessing
import re
import shutil
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import Literal

from alchemiscale_like.errors import AlchemiscaleLikeError, ExecutionError, ValidationError
from alchemiscale_like.execution import pools
from alchemiscale_like.execution.unit_executor import UnitExecutor, UnitOutcome
from alchemiscale_like.execution.worker import (
    WorkerSpec,
    outcome_from_json,
    refuse_script_classes,
    validate_module_name,
    worker_modules,
)
from alchemiscale_like.models.protocoldag import ProtocolDAG, ProtocolDAGResult
from alchemiscale_like.models.protocolunit import ProtocolUnit, ProtocolUnitResult

log = logging.getLogger(__name__)

ExecutionModel = Literal["inprocess", "processes", "dask"]
EXECUTION_MODELS: tuple[ExecutionModel, ...] = ("inprocess", "processes", "dask")
_SCHEDULER_ADDRESS = re.compile(r"[a-z][a-z0-9+]*://[^\s]{1,250}")

#: ``on_unit_result(result, files)``: ``files`` maps task-relative locations to local paths.
UnitResultCallback = Callable[[ProtocolUnitResult, dict[str, Path]], None]


def check_execution_options(
    model: str,
    max_workers: int | None,
    max_retries: int,
    modules: Sequence[str],
    scheduler: str | None,
) -> None:
    """Check the arguments of :class:`DAGExecutor` (also before a run creates anything).

    Raises:
        ValidationError: naming the bad option.
    """
    if model not in EXECUTION_MODELS:
        raise ValidationError(f"execution model must be one of {EXECUTION_MODELS}, not {model!r}")
    if max_retries < 0:
        raise ValidationError("max_retries must be >= 0")
    if max_workers is not None and max_workers < 1:
        raise ValidationError("max_workers must be >= 1")
    for module in modules:
        validate_module_name(module)
    if scheduler is not None:
        if model != "dask":
            raise ValidationError("a scheduler address is only used by the 'dask' model")
        validate_scheduler_address(scheduler)


def validate_scheduler_address(address: str) -> str:
    """Return ``address`` if it looks like a Dask scheduler address (``tcp://host:8786``).

    Raises:
        ValidationError: it does not.
    """
    if not isinstance(address, str) or not _SCHEDULER_ADDRESS.fullmatch(address):
        raise ValidationError(f"a scheduler address looks like 'tcp://host:8786', not {address!r}")
    return address


class DAGExecutor:
    """Schedules the units of a DAG; see the module docstring.

    Args:
        unit_executor: runs one attempt of one unit (in this process; workers
            rebuild it from its folders and claim, without its downloader).
        model: ``"inprocess"``, ``"processes"`` or ``"dask"``.
        max_workers: pool size for ``processes`` (default: CPU count); for
            ``dask``, the most units in flight at once (default: no limit).
        max_retries: extra attempts per unit after a failure.
        modules: modules that workers import before running units (the ``-m``
            modules). Workers always import the shipped protocols and the module
            of every Protocol class registered in this process as well.
        scheduler: for ``dask``, the scheduler address (``tcp://host:port``); None
            starts a LocalCluster for each :meth:`execute`.

    Raises:
        ValidationError: an unknown model, a negative count, a bad module name or
            scheduler address, or a scheduler for a model other than ``dask``.
    """

    def __init__(
        self,
        unit_executor: UnitExecutor,
        model: ExecutionModel = "inprocess",
        max_workers: int | None = None,
        max_retries: int = 0,
        *,
        modules: Sequence[str] = (),
        scheduler: str | None = None,
    ) -> None:
        check_execution_options(model, max_workers, max_retries, modules, scheduler)
        self.unit_executor = unit_executor
        self.model = model
        self.max_workers = max_workers
        self.max_retries = max_retries
        self.modules = tuple(modules)
        self.scheduler = scheduler

    def execute(
        self,
        dag: ProtocolDAG,
        previous_results: Iterable[ProtocolUnitResult] = (),
        on_unit_result: UnitResultCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> ProtocolDAGResult:
        """Run every unit of ``dag`` that has no successful result yet.

        ``previous_results`` are the attempts already recorded (a resumed run):
        their successes are skipped and fed to dependants, and attempt numbers
        continue after the highest recorded one. ``should_stop`` is polled between
        units; once true, nothing new starts and the partial result is returned.
        """
        units = dag.ordered_units()
        unit_keys = {u.key for u in units}
        results: list[ProtocolUnitResult] = []
        attempts: dict[str, int] = {}
        for result in previous_results:
            if result.source_key not in unit_keys:
                raise ValidationError(f"result for unknown unit {result.source_key}")
            results.append(result)
            attempts[result.source_key] = max(attempts.get(result.source_key, 0), result.attempt)
        done = {r.source_key: r for r in results if r.ok()}
        failed_for_good: set[str] = set()
        failures_this_run: dict[str, int] = {}
        deps = {u.key: {d.key for d in u.upstream_units()} for u in units}
        blocked: set[str] = set()

        def ready_units() -> list[ProtocolUnit]:
            if should_stop is not None and should_stop():
                return []
            if failed_for_good:
                return []
            return [
                u
                for u in units
                if u.key not in done
                and u.key not in failed_for_good
                and u.key not in blocked
                and deps[u.key] <= done.keys()
            ]

        def record(unit: ProtocolUnit, outcome: UnitOutcome) -> None:
            result = outcome.result
            results.append(result)
            attempts[unit.key] = result.attempt
            if on_unit_result is not None:
                on_unit_result(result, outcome.files)
            if result.ok():
                done[unit.key] = result
                # The unit's restart files are obsolete once its result is durable.
                shutil.rmtree(self.unit_executor.checkpoint_dir(unit.key), ignore_errors=True)
                return
            failures_this_run[unit.key] = failures_this_run.get(unit.key, 0) + 1
            if failures_this_run[unit.key] > self.max_retries:
                failed_for_good.add(unit.key)
                blocked.update(_dependants(unit.key, deps))

        if self.model == "inprocess":
            self._run_inprocess(ready_units, record, attempts, done)
        else:
            refuse_script_classes(dag)
            self._run_parallel(ready_units, record, attempts, done)
        return ProtocolDAGResult(
            name=dag.name,
            protocol_units=dag.protocol_units,
            protocol_unit_results=results,
            transformation_key=dag.transformation_key,
            extends_key=dag.extends_key,
            dag_key=dag.key,
        )

    def _run_inprocess(
        self,
        ready_units: Callable[[], list[ProtocolUnit]],
        record: Callable[[ProtocolUnit, UnitOutcome], None],
        attempts: dict[str, int],
        done: dict[str, ProtocolUnitResult],
    ) -> None:
        while ready := ready_units():
            unit = ready[0]
            attempt = attempts.get(unit.key, 0) + 1
            upstream = {d.key: done[d.key] for d in unit.upstream_units()}
            record(unit, self.unit_executor.run(unit, upstream, attempt))

    def _pool(self, stack: ExitStack) -> tuple[pools.Submit, int | None, str]:
        """Enter the model's pool on ``stack``: its submit function, capacity, worker spec.

        A capacity of None: submit every ready unit (the Dask scheduler queues them).
        """
        modules = worker_modules(self.modules)
        pool: AbstractContextManager[pools.Submit]
        capacity: int | None
        if self.model == "processes":
            spec = WorkerSpec.for_executor(self.unit_executor, modules)
            capacity = self.max_workers or multiprocessing.cpu_count()
            pool = pools.process_pool(spec.to_json(), capacity)
        else:
            workdir = self.unit_executor.workdir
            probe = stack.enter_context(pools.shared_probe(workdir))
            spec = WorkerSpec.for_executor(self.unit_executor, modules, shared_probe=probe)
            capacity = self.max_workers
            pool = pools.dask_pool(self.scheduler)
        return stack.enter_context(pool), capacity, spec.to_json()

    def _run_parallel(
        self,
        ready_units: Callable[[], list[ProtocolUnit]],
        record: Callable[[ProtocolUnit, UnitOutcome], None],
        attempts: dict[str, int],
        done: dict[str, ProtocolUnitResult],
    ) -> None:
        fetched: set[tuple[str, str]] = set()
        futures: dict[Future[str], ProtocolUnit] = {}
        error: AlchemiscaleLikeError | None = None
        with ExitStack() as stack:
            submit, capacity, spec_json = self._pool(stack)
            while True:
                running_keys = {u.key for u in futures.values()}
                waiting = [] if error else [u for u in ready_units() if u.key not in running_keys]
                free = None if capacity is None else capacity - len(futures)
                for unit in waiting[:free]:
                    attempt = attempts.get(unit.key, 0) + 1
                    attempts[unit.key] = attempt
                    upstream = [done[d.key] for d in unit.upstream_units()]
                    self._prefetch(upstream, fetched)
                    args: tuple[str | int, ...] = (spec_json, unit.to_json(), attempt)
                    args += tuple(r.to_json() for r in upstream)
                    futures[submit(f"unit-{unit.key}-{attempt}", args)] = unit
                    # Live here; the worker's own records arrive with its answer.
                    log.info(
                        "event=unit_submitted unit=%s attempt=%d model=%s",
                        unit.key,
                        attempt,
                        self.model,
                    )
                if not futures:
                    break
                finished, _ = wait(futures, return_when=FIRST_COMPLETED)
                for future in finished:
                    unit = futures.pop(future)
                    try:
                        outcome = outcome_from_json(_answer(future, unit))
                    except AlchemiscaleLikeError as exc:
                        # Submit nothing more, but record what the units still in
                        # flight complete: their results must not be lost with this one.
                        error = error or exc
                        continue
                    record(unit, outcome)
        if error is not None:
            raise error

    def _prefetch(self, upstream: list[ProtocolUnitResult], fetched: set[tuple[str, str]]) -> None:
        """Put the upstream files into the node's cache, where the worker's fetcher reads.

        Workers cannot download (the downloader stays here). Each file is checked
        (and fetched if missing or damaged) once per run; the worker checks it again.
        """
        for result in upstream:
            for ref in result.files:
                if (ref.sha256, ref.name) not in fetched:
                    self.unit_executor.fetcher.fetch(ref)
                    fetched.add((ref.sha256, ref.name))


def _answer(future: Future[str], unit: ProtocolUnit) -> str:
    try:
        return future.result()
    except AlchemiscaleLikeError:
        raise
    except Exception as exc:  # a worker died or the cluster failed: not the unit's result
        raise ExecutionError(
            f"unit {unit.key} could not be run by a worker: {type(exc).__name__}: {exc}"
        ) from exc


def _dependants(key: str, deps: dict[str, set[str]]) -> set[str]:
    out: set[str] = set()
    frontier = {key}
    while frontier:
        frontier = {k for k, d in deps.items() if d & frontier and k not in out}
        out |= frontier
    return out
