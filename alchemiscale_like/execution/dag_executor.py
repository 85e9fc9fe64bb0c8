"""`DAGExecutor`: run a ProtocolDAG's remaining units in dependency order.

The execution model decides where units run:

* ``inprocess``: one after another in this process;
* ``processes``: independent units in parallel in a local process pool.

Either way :attr:`on_unit_result` is called in *this* process after each
attempt and before any dependant is scheduled, so the caller can make the
result durable first. Worker processes are forked, so they already hold the
registered protocol classes; units and results cross the process boundary as
keyed-chain JSON text only.
"""

from __future__ import annotations

import logging
import multiprocessing
import shutil
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Literal

from alchemiscale_like.errors import ExecutionError, ValidationError
from alchemiscale_like.execution.unit_executor import UnitExecutor, UnitOutcome
from alchemiscale_like.models.protocoldag import ProtocolDAG, ProtocolDAGResult
from alchemiscale_like.models.protocolunit import ProtocolUnit, ProtocolUnitResult
from alchemiscale_like.models.tokenization import Tokenizable

log = logging.getLogger(__name__)

ExecutionModel = Literal["inprocess", "processes"]
EXECUTION_MODELS: tuple[ExecutionModel, ...] = ("inprocess", "processes")

#: ``on_unit_result(result, files)``: ``files`` maps task-relative locations to local paths.
UnitResultCallback = Callable[[ProtocolUnitResult, dict[str, Path]], None]

_worker_executor: UnitExecutor | None = None


def _init_worker(executor: UnitExecutor) -> None:
    global _worker_executor
    _worker_executor = executor


def _run_in_worker(
    unit_json: str, upstream_json: list[str], attempt: int
) -> tuple[str, dict[str, str]]:
    assert _worker_executor is not None
    unit = ProtocolUnit.from_json(unit_json)
    upstream = {r.source_key: r for r in map(ProtocolUnitResult.from_json, upstream_json)}
    outcome = _worker_executor.run(unit, upstream, attempt)
    return outcome.result.to_json(), {k: str(v) for k, v in outcome.files.items()}


class DAGExecutor:
    """Schedules the units of a DAG; see the module docstring.

    Args:
        unit_executor: runs one attempt of one unit.
        model: ``"inprocess"`` or ``"processes"``.
        max_workers: pool size for ``processes`` (default: CPU count).
        max_retries: extra attempts per unit after a failure.
    """

    def __init__(
        self,
        unit_executor: UnitExecutor,
        model: ExecutionModel = "inprocess",
        max_workers: int | None = None,
        max_retries: int = 0,
    ) -> None:
        if model not in EXECUTION_MODELS:
            raise ValidationError(
                f"execution model must be one of {EXECUTION_MODELS}, not {model!r}"
            )
        if max_retries < 0:
            raise ValidationError("max_retries must be >= 0")
        self.unit_executor = unit_executor
        self.model = model
        self.max_workers = max_workers
        self.max_retries = max_retries

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
            self._run_pool(ready_units, record, attempts, done)
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

    def _run_pool(
        self,
        ready_units: Callable[[], list[ProtocolUnit]],
        record: Callable[[ProtocolUnit, UnitOutcome], None],
        attempts: dict[str, int],
        done: dict[str, ProtocolUnitResult],
    ) -> None:
        context = multiprocessing.get_context("fork")
        futures: dict[Future[tuple[str, dict[str, str]]], ProtocolUnit] = {}
        with ProcessPoolExecutor(
            max_workers=self.max_workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(self.unit_executor,),
        ) as pool:
            try:
                while True:
                    capacity = (self.max_workers or multiprocessing.cpu_count()) - len(futures)
                    running_keys = {u.key for u in futures.values()}
                    for unit in [u for u in ready_units() if u.key not in running_keys][:capacity]:
                        attempt = attempts.get(unit.key, 0) + 1
                        attempts[unit.key] = attempt
                        upstream = [done[d.key].to_json() for d in unit.upstream_units()]
                        future = pool.submit(_run_in_worker, unit.to_json(), upstream, attempt)
                        futures[future] = unit
                    if not futures:
                        return
                    finished, _ = wait(futures, return_when=FIRST_COMPLETED)
                    for future in finished:
                        unit = futures.pop(future)
                        result_json, files = future.result()
                        outcome = UnitOutcome(
                            result=_result_from_json(result_json),
                            files={k: Path(v) for k, v in files.items()},
                        )
                        record(unit, outcome)
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise


def _result_from_json(text: str) -> ProtocolUnitResult:
    obj = Tokenizable.from_json(text)
    if not isinstance(obj, ProtocolUnitResult):
        raise ExecutionError(f"worker returned a {type(obj).__name__}, not a unit result")
    return obj


def _dependants(key: str, deps: dict[str, set[str]]) -> set[str]:
    out: set[str] = set()
    frontier = {key}
    while frontier:
        frontier = {k for k, d in deps.items() if d & frontier and k not in out}
        out |= frontier
    return out
