"""One execution path for local runs and compute services, differing only in the recorder.

A :class:`TaskRecorder` is where one Task's results go: a folder for
``alchemiscale-like run`` (:class:`~.local_run.LocalRunStore`), the compute API
for a compute service. :func:`run_recorded` does the rest the same way for
both: get the one DAG, skip what is done, run the remaining units, make each
unit result durable before any dependant starts, and record the final result.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from alchemiscale_like.errors import UnitInterrupted
from alchemiscale_like.execution.cache import NodeFileCache
from alchemiscale_like.execution.dag_executor import (
    DAGExecutor,
    ExecutionModel,
    check_execution_options,
)
from alchemiscale_like.execution.fetcher import FileFetcher
from alchemiscale_like.execution.unit_executor import UnitExecutor
from alchemiscale_like.models.protocoldag import ProtocolDAG, ProtocolDAGResult
from alchemiscale_like.models.protocolunit import ProtocolUnitResult
from alchemiscale_like.models.resultfile import ResultFile
from alchemiscale_like.models.transformation import Transformation

log = logging.getLogger(__name__)


class TaskRecorder(Protocol):
    """Where one Task's DAG, unit results, files and final result are kept."""

    def load_or_create_dag(self, transformation: Transformation, seed: int | None) -> ProtocolDAG:
        """The Task's one DAG: the stored one, or a new one stored now (first run only)."""

    def previous_results(self) -> list[ProtocolUnitResult]:
        """Every unit attempt recorded so far (successes are skipped on resume)."""

    def persist(self, result: ProtocolUnitResult, files: dict[str, Path]) -> None:
        """Make one attempt durable: its files (task-relative location -> local path), then it."""

    def download(self, ref: ResultFile, dest: Path) -> None:
        """Write the bytes of a recorded file to the new file ``dest`` (verified by the caller)."""

    def restore_checkpoints(self, unit_keys: list[str], checkpoint_root: Path) -> None:
        """Bring the saved checkpoints of these unfinished units to ``checkpoint_root``."""

    def finish(self, dag_result: ProtocolDAGResult) -> None:
        """Record the final result of this execution of the DAG (successful or not)."""


@dataclass(frozen=True)
class ExecutionOptions:
    """How to run the units of a DAG (see :class:`~.dag_executor.DAGExecutor`)."""

    model: ExecutionModel = "inprocess"
    max_workers: int | None = None
    max_retries: int = 0
    modules: tuple[str, ...] = ()
    """Modules that worker processes import (the ``-m`` modules)."""
    scheduler: str | None = None
    """Dask scheduler address for the ``dask`` model (None: a LocalCluster per run)."""

    def __post_init__(self) -> None:
        # Bad options fail here, before a run creates or changes anything.
        check_execution_options(
            self.model, self.max_workers, self.max_retries, self.modules, self.scheduler
        )


def run_recorded(
    transformation: Transformation,
    recorder: TaskRecorder,
    workdir: Path,
    *,
    options: ExecutionOptions = ExecutionOptions(),
    seed: int | None = None,
    claim: int | None = None,
    should_stop: Callable[[], bool] | None = None,
    file_cache: NodeFileCache | None = None,
) -> ProtocolDAGResult | None:
    """Run (or resume) one Task of ``transformation`` and record everything with ``recorder``.

    ``workdir`` holds scratch, shared and permanent folders, checkpoints and the
    run's own files (``workdir/cache``). ``claim`` is the compute service's claim
    number (None for a local run). ``should_stop`` is polled between units; a
    stopped run returns its partial result without finishing it, and so does a run
    whose unit in flight saved a checkpoint and stopped on request (returns None
    then). ``file_cache`` is the node's cache shared across tasks (a compute
    service's): upstream files are looked up there before a download, and every
    file this run produces or downloads goes there once it is recorded.
    """
    dag = recorder.load_or_create_dag(transformation, seed)
    previous = recorder.previous_results()
    done = {r.source_key for r in previous if r.ok()}
    recorder.restore_checkpoints(
        [u.key for u in dag.protocol_units if u.key not in done], workdir / "checkpoints"
    )
    fetcher = FileFetcher(workdir / "cache", download=recorder.download, node_cache=file_cache)

    def record(result: ProtocolUnitResult, files: dict[str, Path]) -> None:
        recorder.persist(result, files)
        for ref in result.files:
            fetcher.share(ref, files[ref.location])

    executor = DAGExecutor(
        UnitExecutor(workdir / "work", workdir / "checkpoints", fetcher, claim),
        model=options.model,
        max_workers=options.max_workers,
        max_retries=options.max_retries,
        modules=options.modules,
        scheduler=options.scheduler,
    )
    log.info(
        "event=run_start transformation=%s units=%d done=%d",
        transformation.key,
        len(dag.protocol_units),
        sum(r.ok() for r in previous),
    )
    try:
        dag_result = executor.execute(dag, previous, on_unit_result=record, should_stop=should_stop)
    except UnitInterrupted:
        log.info("event=run_interrupted transformation=%s", transformation.key)
        return None
    stopped = should_stop is not None and should_stop() and not dag_result.ok()
    if not stopped:
        recorder.finish(dag_result)
    if dag_result.ok():
        shutil.rmtree(workdir / "work" / "permanent", ignore_errors=True)
    return dag_result
