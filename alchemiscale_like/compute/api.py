"""`ComputeAPI`: what a compute service needs from the compute API.

The daemon owns this protocol and never imports the client (design.md: layers
point down): ``cli`` hands it a :class:`~alchemiscale_like.client.ComputeClient`,
tests and the quickstart may hand it anything with the same methods.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from alchemiscale_like.models.estimate import ResultEstimate
from alchemiscale_like.models.protocoldag import ProtocolDAG, ProtocolDAGResult
from alchemiscale_like.models.protocolunit import ProtocolUnitResult
from alchemiscale_like.models.resultfile import ResultFile
from alchemiscale_like.models.scope import Scope, ScopedKey
from alchemiscale_like.models.task import TaskStatus
from alchemiscale_like.models.transformation import Transformation
from alchemiscale_like.storage.objectstore.models import ObjectInfo
from alchemiscale_like.storage.statestore.records import (
    ComputeServiceRecord,
    ProtocolDAGRef,
    ProtocolDAGResultRef,
    ProtocolUnitResultRef,
    TaskRecord,
)


class ComputeAPI(Protocol):
    """The compute API as one compute service sees it (see ``ComputeClient``)."""

    service_id: str

    def register(self, protocols: Sequence[str] | None = None) -> ComputeServiceRecord:
        """Register this service."""

    def heartbeat(self) -> None:
        """Renew this service's lease."""

    def deregister(self) -> list[ScopedKey]:
        """Remove the registration; returns the tasks released."""

    def claim_tasks(
        self,
        count: int = 1,
        protocols: Sequence[str] | None = None,
        scopes: Sequence[Scope | str] | None = None,
    ) -> list[ScopedKey]:
        """Claim up to ``count`` tasks."""

    def release_task(self, task: ScopedKey | str) -> None:
        """Give a held task back to waiting."""

    def get_task(self, task: ScopedKey | str) -> TaskRecord:
        """The task's properties (``attempts``: the current claim's number)."""

    def get_task_transformation(self, task: ScopedKey | str) -> Transformation:
        """The Transformation the task performs."""

    def get_task_extends(self, task: ScopedKey | str) -> tuple[ScopedKey, ProtocolDAGResult] | None:
        """The task this one extends and its successful result, or None."""

    def get_task_dag(self, task: ScopedKey | str) -> ProtocolDAG | None:
        """The task's DAG, or None."""

    def set_task_dag(
        self, task: ScopedKey | str, dag: ProtocolDAG
    ) -> tuple[ProtocolDAGRef, ProtocolDAG]:
        """Offer a DAG; returns the one the task has."""

    def get_unit_results(
        self, task: ScopedKey | str, ok_only: bool = True
    ) -> list[ProtocolUnitResult]:
        """Recorded unit attempts of the task."""

    def upload_result_file(
        self,
        task: ScopedKey | str,
        unit_key: str,
        attempt: int,
        name: str,
        source: Path,
        sha256: str | None = None,
    ) -> ResultFile:
        """Upload one result file of a unit attempt."""

    def upload_unit_result(
        self, task: ScopedKey | str, result: ProtocolUnitResult
    ) -> ProtocolUnitResultRef:
        """Store and record one unit attempt."""

    def download_result_file(self, task: ScopedKey | str, ref: ResultFile, dest: Path) -> Path:
        """Download a recorded result file of ``task``."""

    def upload_checkpoint(
        self,
        task: ScopedKey | str,
        unit_key: str,
        name: str,
        source: Path,
        sha256: str | None = None,
    ) -> ObjectInfo:
        """Replace one checkpoint file of a unit."""

    def list_checkpoints(self, task: ScopedKey | str, unit_key: str) -> dict[str, ObjectInfo]:
        """The unit's stored checkpoint files, by name."""

    def download_checkpoint(
        self, task: ScopedKey | str, unit_key: str, name: str, dest: Path, sha256: str
    ) -> Path:
        """Download one checkpoint file (verified)."""

    def finish_task(
        self,
        task: ScopedKey | str,
        result: ProtocolDAGResult,
        estimate: ResultEstimate | None = None,
    ) -> tuple[ProtocolDAGResultRef, TaskStatus]:
        """Record the final DAG result and its scalar estimate (if it has one)."""
