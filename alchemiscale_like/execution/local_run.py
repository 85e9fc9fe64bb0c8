"""Run Transformations on this machine, checkpointing to a folder, resuming on rerun.

:class:`LocalRunStore` is the folder :class:`~.recorder.TaskRecorder`; the
execution path is :func:`~.recorder.run_recorded`, the one compute services use.
Layout of ``DIR/<transformation key>/`` (plain files, readable by any tool):

* ``dag.json``: the ProtocolDAG, created once and reused by every rerun;
* ``units/<unit key>/<attempt>/result.json`` and ``.../files/<name>``: each
  attempt's result, written only after its files (so a visible result always
  has its files);
* ``checkpoints/<unit key>/``: a running unit's own restart files;
* ``work/``: scratch, shared and permanent folders and the file cache;
* ``result.json``: the ProtocolDAGResult once every unit has run.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from alchemiscale_like.atomicfiles import place_atomic, write_atomic
from alchemiscale_like.errors import ExecutionError, ValidationError
from alchemiscale_like.execution.dag_executor import ExecutionModel
from alchemiscale_like.execution.recorder import ExecutionOptions, run_recorded
from alchemiscale_like.models.protocoldag import ProtocolDAG, ProtocolDAGResult
from alchemiscale_like.models.protocolunit import ProtocolUnitResult
from alchemiscale_like.models.resultfile import ResultFile
from alchemiscale_like.models.transformation import Transformation

log = logging.getLogger(__name__)


class LocalRunStore:
    """The checkpoint folder of one Transformation's local run."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def dag_path(self) -> Path:
        """Where the run's one ProtocolDAG is kept."""
        return self.root / "dag.json"

    def load_or_create_dag(self, transformation: Transformation, seed: int | None) -> ProtocolDAG:
        """Return the stored DAG, or create, store and return it (first run only)."""
        if self.dag_path.exists():
            dag = ProtocolDAG.from_json(self.dag_path.read_bytes())
            if dag.transformation_key != transformation.key:
                raise ValidationError(
                    f"{self.root} holds a DAG of {dag.transformation_key}, not {transformation.key}"
                )
            return dag
        dag = transformation.create(seed=seed)
        write_atomic(self.dag_path, dag.to_json().encode())
        return dag

    def previous_results(self) -> list[ProtocolUnitResult]:
        """Every attempt recorded so far."""
        results = []
        for path in sorted(self.root.glob("units/*/*/result.json")):
            results.append(ProtocolUnitResult.from_json(path.read_bytes()))
        return results

    def persist(self, result: ProtocolUnitResult, files: dict[str, Path]) -> None:
        """Make one attempt durable: its files first, then its result."""
        for location, local in files.items():
            place_atomic(local, self.root / location)  # same disk: no copy of large files
        folder = self.root / "units" / result.source_key / str(result.attempt)
        write_atomic(folder / "result.json", result.to_json().encode())

    def download(self, ref: ResultFile, dest: Path) -> None:
        """Copy a stored file of this run to ``dest`` (the fetcher verifies it)."""
        shutil.copyfile(self.root / ref.location, dest)

    def restore_checkpoints(self, unit_keys: list[str], checkpoint_root: Path) -> None:
        """Nothing to do: a local run's checkpoints are already in its folder."""

    def finish(self, dag_result: ProtocolDAGResult) -> None:
        """Keep the final ProtocolDAGResult once every unit has succeeded.

        A failed run leaves no ``result.json``: rerunning the command retries the
        failed units (attempt numbers continue).
        """
        if dag_result.ok():
            write_atomic(self.root / "result.json", dag_result.to_json().encode())


def run_transformation(
    transformation: Transformation,
    out_dir: Path,
    *,
    model: ExecutionModel = "inprocess",
    max_workers: int | None = None,
    max_retries: int = 0,
    seed: int | None = None,
    modules: tuple[str, ...] = (),
    scheduler: str | None = None,
) -> ProtocolDAGResult:
    """Run (or resume) one Transformation's DAG under ``out_dir/<transformation key>``.

    ``modules`` and ``scheduler`` are those of :class:`~.recorder.ExecutionOptions`.
    """
    store = LocalRunStore(out_dir / transformation.key)
    options = ExecutionOptions(
        model=model,
        max_workers=max_workers,
        max_retries=max_retries,
        modules=modules,
        scheduler=scheduler,
    )
    result = run_recorded(transformation, store, store.root, options=options, seed=seed)
    if result is None:  # only a stop request interrupts a run, and local runs make none
        raise ExecutionError(f"the run of {transformation.key} was interrupted")
    return result
