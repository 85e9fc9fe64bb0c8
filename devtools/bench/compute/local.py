"""The local baseline: a DAG run by ``DAGExecutor`` in this process, with no recorder."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from alchemiscale_like.execution.dag_executor import DAGExecutor
from alchemiscale_like.execution.fetcher import FileFetcher
from alchemiscale_like.execution.unit_executor import UnitExecutor
from alchemiscale_like.models.protocoldag import ProtocolDAG


def run_local(dag: ProtocolDAG, folder: Path) -> float:
    """Seconds ``DAGExecutor(model="inprocess").execute(dag)`` takes in ``folder``.

    Raises:
        RuntimeError: the DAG did not succeed (the figure would mean nothing).
    """
    units = UnitExecutor(folder / "work", folder / "checkpoints", FileFetcher(folder / "cache"))
    executor = DAGExecutor(units)
    started = time.perf_counter()
    result = executor.execute(dag)
    seconds = time.perf_counter() - started
    shutil.rmtree(folder, ignore_errors=True)
    if not result.ok():
        raise RuntimeError(f"the local run of DAG {dag.key} failed")
    return seconds
