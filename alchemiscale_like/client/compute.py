"""`ComputeClient`: what a compute service does through the compute API.

One client is one compute *service*: its ``service_id`` (``{identity}~{suffix}``,
unique per process by default) names the registration that holds claims.
"""

from __future__ import annotations

import json
import os
import re
import socket
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests

from alchemiscale_like.client.base import APIClient
from alchemiscale_like.client.transfer import Progress
from alchemiscale_like.errors import NotFound
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

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def default_service_id(identifier: str) -> str:
    """``{identifier}~{host}-{pid}-{random}``: unique per process."""
    host = _UNSAFE.sub("-", socket.gethostname())[:32] or "host"
    return f"{identifier}~{host}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def _sk(value: ScopedKey | str) -> str:
    return str(value if isinstance(value, ScopedKey) else ScopedKey.from_str(value))


class ComputeClient(APIClient):
    """A compute service's client of the compute API (transport: :class:`~.base.APIClient`).

    Args:
        service_id: this service's identifier (default: :func:`default_service_id`).
        Other arguments: see :class:`~.base.APIClient`.
    """

    def __init__(
        self,
        api_url: str,
        identifier: str,
        key: str,
        *,
        service_id: str | None = None,
        session: requests.Session | None = None,
        **transport: Any,
    ) -> None:
        super().__init__(api_url, identifier, key, session=session, **transport)
        self.service_id = service_id or default_service_id(identifier)

    def _svc(self, path: str) -> str:
        return f"/computeservice/{self.service_id}{path}"

    def _task(self, task: ScopedKey | str, path: str = "") -> str:
        return self._svc(f"/tasks/{_sk(task)}{path}")

    # -- registration and claims -----------------------------------------------------------

    def register(self, protocols: Sequence[str] | None = None) -> ComputeServiceRecord:
        """Register this service (protocols it can run; None: any)."""
        body = {"protocols": list(protocols) if protocols is not None else None}
        return ComputeServiceRecord.model_validate(self._post_json(self._svc("/register"), body))

    def heartbeat(self) -> None:
        """Renew this service's lease."""
        self._post_json(self._svc("/heartbeat"), None)

    def deregister(self) -> list[ScopedKey]:
        """Remove the registration; returns the tasks released back to waiting."""
        return [ScopedKey.from_str(t) for t in self._post_json(self._svc("/deregister"), None)]

    def claim_tasks(
        self,
        count: int = 1,
        protocols: Sequence[str] | None = None,
        scopes: Sequence[Scope | str] | None = None,
    ) -> list[ScopedKey]:
        """Claim up to ``count`` tasks (scopes default to all of the identity's)."""
        body = {
            "count": count,
            "protocols": list(protocols) if protocols is not None else None,
            "scopes": [str(s) for s in scopes] if scopes is not None else None,
        }
        return [ScopedKey.from_str(t) for t in self._post_json(self._svc("/claim"), body)]

    def release_task(self, task: ScopedKey | str) -> None:
        """Give a held task back to waiting, so another service resumes it at once."""
        self._post_json(self._task(task, "/release"), None)

    # -- what a claimed task needs ---------------------------------------------------------

    def get_task(self, task: ScopedKey | str) -> TaskRecord:
        """The task's properties (``attempts``: the number of the current claim)."""
        return TaskRecord.model_validate(self._get_json(self._task(task)))

    def get_task_transformation(self, task: ScopedKey | str) -> Transformation:
        """The Transformation the task performs (its protocol class must be importable)."""
        obj = Transformation.from_keyed_chain(
            json.loads(self._get_raw(self._task(task, "/transformation")))
        )
        return obj

    def get_task_extends(self, task: ScopedKey | str) -> tuple[ScopedKey, ProtocolDAGResult] | None:
        """The task this one extends and its successful DAG result, or None."""
        found = self._get_json(self._task(task, "/extends"))
        if found["task"] is None:
            return None
        result = ProtocolDAGResult.from_keyed_chain(found["result"])
        return ScopedKey.from_str(found["task"]), result

    def get_task_dag(self, task: ScopedKey | str) -> ProtocolDAG | None:
        """The task's ProtocolDAG, or None if it has none yet."""
        try:
            raw = self._get_raw(self._task(task, "/dag"))
        except NotFound:
            return None
        dag = ProtocolDAG.from_keyed_chain(json.loads(raw))
        return dag

    def set_task_dag(
        self, task: ScopedKey | str, dag: ProtocolDAG
    ) -> tuple[ProtocolDAGRef, ProtocolDAG]:
        """Offer ``dag`` as the task's DAG; returns the DAG the task has (run that one)."""
        answer = self._put_json(self._task(task, "/dag"), json.loads(dag.to_json()))
        stored = ProtocolDAG.from_keyed_chain(answer["dag"])
        return ProtocolDAGRef.model_validate(answer["ref"]), stored

    def get_unit_results(
        self, task: ScopedKey | str, ok_only: bool = True
    ) -> list[ProtocolUnitResult]:
        """Recorded unit attempts of the task (successful ones by default, for resume)."""
        found = self._get_json(self._task(task, "/unit-results"), {"ok_only": ok_only})
        out: list[ProtocolUnitResult] = [
            ProtocolUnitResult.from_keyed_chain(entry["result"]) for entry in found
        ]
        return out

    # -- uploads ---------------------------------------------------------------------------

    def upload_result_file(
        self,
        task: ScopedKey | str,
        unit_key: str,
        attempt: int,
        name: str,
        source: Path,
        sha256: str | None = None,
        progress: Progress | None = None,
    ) -> ResultFile:
        """Stream one result file of a unit attempt; returns where the store keeps it."""
        path = self._task(task, f"/units/{unit_key}/{attempt}/files/{name}")
        return ResultFile.model_validate(self._upload_file(path, source, sha256, progress))

    def upload_unit_result(
        self, task: ScopedKey | str, result: ProtocolUnitResult
    ) -> ProtocolUnitResultRef:
        """Store and record one unit attempt's result (upload its files first)."""
        answer = self._put_json(self._task(task, "/unit-results"), json.loads(result.to_json()))
        return ProtocolUnitResultRef.model_validate(answer)

    def upload_checkpoint(
        self,
        task: ScopedKey | str,
        unit_key: str,
        name: str,
        source: Path,
        sha256: str | None = None,
    ) -> ObjectInfo:
        """Replace one checkpoint file of a unit of a held task."""
        path = self._task(task, f"/units/{unit_key}/checkpoints/{name}")
        return ObjectInfo.model_validate(self._upload_file(path, source, sha256))

    def list_checkpoints(self, task: ScopedKey | str, unit_key: str) -> dict[str, ObjectInfo]:
        """The unit's stored checkpoint files, by name."""
        found = self._get_json(self._task(task, f"/units/{unit_key}/checkpoints"))
        return {name: ObjectInfo.model_validate(info) for name, info in found.items()}

    def download_checkpoint(
        self, task: ScopedKey | str, unit_key: str, name: str, dest: Path, sha256: str
    ) -> Path:
        """Download one checkpoint file (sha256-verified, atomic)."""
        path = self._task(task, f"/units/{unit_key}/checkpoints/{name}")
        return self._download_file(path, dest, expected_sha256=sha256)

    def download_result_file(
        self,
        task: ScopedKey | str,
        ref: ResultFile,
        dest: Path,
        progress: Progress | None = None,
    ) -> Path:
        """Download a recorded result file of ``task`` (an upstream unit's) to ``dest``."""
        path = self._task(task, f"/files/{ref.location}")
        return self._download_file(path, dest, expected_sha256=ref.sha256, progress=progress)

    def finish_task(
        self,
        task: ScopedKey | str,
        result: ProtocolDAGResult,
        estimate: ResultEstimate | None = None,
    ) -> tuple[ProtocolDAGResultRef, TaskStatus]:
        """Record the final DAG result (with its scalar ``estimate``, if it has one);
        returns its reference and the task's new status."""
        params = estimate.model_dump(exclude_none=True) if estimate is not None else None
        answer = self._post_json(
            self._task(task, "/finish"), json.loads(result.to_json()), params=params
        )
        return ProtocolDAGResultRef.model_validate(answer["ref"]), TaskStatus(answer["status"])
