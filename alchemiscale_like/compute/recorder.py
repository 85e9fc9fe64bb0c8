"""`APIRecorder`: the :class:`~alchemiscale_like.execution.recorder.TaskRecorder` of a claimed Task.

Everything goes through the compute API: the DAG is fetched or created (seed
derived from the task key, so a DAG created twice is the same DAG) and the
first one stored wins; each unit's files and then its result are uploaded
before any dependant starts; files made elsewhere are downloaded on first use.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

from alchemiscale_like.compute.api import ComputeAPI
from alchemiscale_like.compute.checkpoints import CheckpointSync
from alchemiscale_like.errors import NotFound, log_token
from alchemiscale_like.models.estimate import ResultEstimate
from alchemiscale_like.models.protocoldag import ProtocolDAG, ProtocolDAGResult
from alchemiscale_like.models.protocolunit import ProtocolUnitResult
from alchemiscale_like.models.resultfile import ResultFile
from alchemiscale_like.models.scope import ScopedKey
from alchemiscale_like.models.transformation import Transformation
from alchemiscale_like.storage.statestore.records import TaskRecord

log = logging.getLogger(__name__)


def seed_for(task: ScopedKey) -> int:
    """The DAG seed of a Task, derived from its key: every service draws the same DAG."""
    return int(hashlib.sha256(task.gufe_key.encode()).hexdigest()[:8], 16) % (2**31)


class APIRecorder:
    """Records one claimed Task's results through a :class:`ComputeAPI`.

    ``task_record`` is the Task as the current claim saw it (set it before the run):
    with it, reads that cannot find anything are skipped (no extended task; and on
    the Task's first claim, no DAG, unit result or checkpoint: only a claimant
    stores those).
    """

    def __init__(self, api: ComputeAPI, task: ScopedKey) -> None:
        self.api = api
        self.task = task
        self.task_record: TaskRecord | None = None
        self.extended: ScopedKey | None = None
        self.final_status: str | None = None
        self.checkpoints: CheckpointSync | None = None
        self.transformation: Transformation | None = None

    @property
    def _first_claim(self) -> bool:
        return self.task_record is not None and self.task_record.attempts == 1

    def load_or_create_dag(self, transformation: Transformation, seed: int | None) -> ProtocolDAG:
        """The Task's DAG; created and offered when it has none (the stored one wins)."""
        self.transformation = transformation
        extends = None
        if self.task_record is None or self.task_record.extends is not None:
            extends = self.api.get_task_extends(self.task)
        extended_result = None
        if extends is not None:
            self.extended, extended_result = extends
        if not self._first_claim:
            dag = self.api.get_task_dag(self.task)
            if dag is not None:
                return dag
        candidate = transformation.create(
            extends=extended_result, seed=seed if seed is not None else seed_for(self.task)
        )
        _, stored = self.api.set_task_dag(self.task, candidate)
        if stored.key != candidate.key:
            log.info("event=dag_adopted task=%s dag=%s", self.task, stored.key)
        return stored

    def previous_results(self) -> list[ProtocolUnitResult]:
        """Every recorded attempt (attempt numbers continue after them)."""
        if self._first_claim:
            return []
        return self.api.get_unit_results(self.task, ok_only=False)

    def persist(self, result: ProtocolUnitResult, files: dict[str, Path]) -> None:
        """Upload the attempt's files, then its result: durable before dependants start."""
        started = time.monotonic()
        total = 0
        for ref in result.files:
            self.api.upload_result_file(
                self.task,
                result.source_key,
                result.attempt,
                ref.name,
                files[ref.location],
                ref.sha256,
            )
            total += ref.size
        self.api.upload_unit_result(self.task, result)
        elapsed = max(time.monotonic() - started, 1e-9)
        log.info(
            "event=unit_uploaded task=%s unit=%s attempt=%d ok=%s files=%d bytes=%d "
            "seconds=%.3f mib_per_s=%.1f",
            self.task,
            result.source_key,
            result.attempt,
            result.ok(),
            len(result.files),
            total,
            elapsed,
            total / elapsed / (1 << 20),
        )

    def download(self, ref: ResultFile, dest: Path) -> None:
        """Fetch a recorded file of this Task (or of the Task it extends)."""
        try:
            self.api.download_result_file(self.task, ref, dest)
        except NotFound:
            if self.extended is None:
                raise
            self.api.download_result_file(self.extended, ref, dest)

    def restore_checkpoints(self, unit_keys: list[str], checkpoint_root: Path) -> None:
        """Download the stored checkpoints of unfinished units (from an earlier claim)."""
        self.checkpoints = CheckpointSync(self.api, self.task, checkpoint_root)
        if not self._first_claim:
            self.checkpoints.restore(unit_keys)

    def _estimate(self, dag_result: ProtocolDAGResult) -> ResultEstimate | None:
        """The result's scalar summary, from the protocol's own gather (here, where its
        code is). A gather that fails costs the chart a point, never the result."""
        if not dag_result.ok() or self.transformation is None:
            return None
        try:
            return self.transformation.gather([dag_result]).to_estimate()
        except Exception as exc:
            log.warning("event=estimate_failed task=%s error=%s", self.task, log_token(exc))
            return None

    def finish(self, dag_result: ProtocolDAGResult) -> None:
        """Record the final result with its scalar estimate; the server decides complete,
        error or restart."""
        _, status = self.api.finish_task(self.task, dag_result, self._estimate(dag_result))
        self.final_status = status.value
        log.info("event=task_finished task=%s ok=%s status=%s", self.task, dag_result.ok(), status)
