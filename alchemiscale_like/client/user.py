"""`UserClient`: everything a scientist does through the user API.

Method names follow alchemiscale's client so its users feel at home. Objects
come back as models when their classes are registered here (import your
protocol package first); the ``*_json`` variants return raw keyed chains,
readable without any protocol code.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from alchemiscale_like.client.base import APIClient
from alchemiscale_like.client.transfer import Progress
from alchemiscale_like.errors import ValidationError
from alchemiscale_like.models.estimate import TransformationEstimate
from alchemiscale_like.models.protocol import ProtocolResult
from alchemiscale_like.models.protocoldag import ProtocolDAGResult
from alchemiscale_like.models.scope import Scope, ScopedKey, ScopedKeyField
from alchemiscale_like.models.task import TaskStatus, parse_status
from alchemiscale_like.models.transformation import AlchemicalNetwork, Transformation
from alchemiscale_like.storage.statestore.records import (
    NetworkState,
    ProtocolDAGResultRef,
    RestartPattern,
    TaskProgress,
    TaskRecord,
)

#: Networks whose JSON is larger than this are sent zstd-compressed.
_COMPRESS_ABOVE = 1 << 20


class ResultFileInfo(BaseModel):
    """A recorded result file of a Task (what :meth:`UserClient.list_result_files` returns)."""

    task: ScopedKeyField
    name: str
    size: int
    sha256: str
    location: str
    unit_key: str
    attempt: int
    unit_ok: bool


class UnitFailureInfo(BaseModel):
    """A failed unit attempt with its exception and traceback."""

    unit_key: str
    attempt: int
    exception: tuple[str, str]
    traceback: str


def _sk(value: ScopedKey | str) -> str:
    return str(value if isinstance(value, ScopedKey) else ScopedKey.from_str(value))


def _sks(values: Sequence[ScopedKey | str]) -> list[str]:
    if isinstance(values, (str, ScopedKey)):
        raise ValidationError("pass a list of scoped keys, not a single one")
    return [_sk(v) for v in values]


def _keys(texts: list[str]) -> list[ScopedKey]:
    return [ScopedKey.from_str(t) for t in texts]


class UserClient(APIClient):
    """A user's client of the user API (see :class:`~.base.APIClient` for transport)."""

    # -- networks -------------------------------------------------------------------------

    def create_network(
        self,
        network: AlchemicalNetwork,
        scope: Scope | str,
        state: NetworkState | str = NetworkState.ACTIVE,
        progress: Callable[[str], None] | None = None,
    ) -> ScopedKey:
        """Submit ``network`` into the specific ``scope``; idempotent. Returns its scoped key."""
        chain_text = network.to_json()
        if progress is not None:
            progress(f"sending {len(chain_text)} bytes")
        body = {"network": json.loads(chain_text), "scope": str(scope), "state": str(state)}
        answer = self._post_json("/networks", body, compress=len(chain_text) > _COMPRESS_ABOVE)
        if progress is not None:
            progress("stored")
        return ScopedKey.from_str(answer["scoped_key"])

    def get_network_json(self, network: ScopedKey | str) -> Any:
        """The network's keyed chain as submitted (no classes needed)."""
        return json.loads(self._get_raw(f"/networks/{_sk(network)}"))

    def get_network(self, network: ScopedKey | str) -> AlchemicalNetwork:
        """The network as a model (its protocol classes must be importable here)."""
        obj = AlchemicalNetwork.from_keyed_chain(self.get_network_json(network))
        return obj

    def query_networks(
        self,
        name: str | None = None,
        scope: Scope | str | None = None,
        state: NetworkState | str | None = NetworkState.ACTIVE,
    ) -> list[ScopedKey]:
        """Networks visible to you by name fragment, scope and state (None: any state)."""
        params = {"name": name, "scope": str(scope) if scope else None}
        params["network_state"] = str(state) if state is not None else ""
        return _keys(self._get_json("/networks", _params(params)))

    def get_network_transformations(self, network: ScopedKey | str) -> list[ScopedKey]:
        """The network's transformations."""
        return _keys(self._get_json(f"/networks/{_sk(network)}/transformations"))

    def get_network_chemicalsystems(self, network: ScopedKey | str) -> list[ScopedKey]:
        """The network's chemical systems."""
        return _keys(self._get_json(f"/networks/{_sk(network)}/chemicalsystems"))

    def get_network_state(self, network: ScopedKey | str) -> NetworkState:
        """The network's state."""
        return NetworkState(self._get_json(f"/networks/{_sk(network)}/state")["state"])

    def set_network_state(
        self, networks: Sequence[ScopedKey | str], state: NetworkState | str
    ) -> None:
        """Set the state of networks (active ones are offered to compute services)."""
        self._post_json("/networks/state", {"networks": _sks(networks), "state": str(state)})

    def get_network_status(self, network: ScopedKey | str) -> dict[str, int]:
        """Task counts per status over the network."""
        counts: dict[str, int] = self._get_json(f"/networks/{_sk(network)}/status")
        return counts

    def get_network_estimates(self, network: ScopedKey | str) -> list[TransformationEstimate]:
        """Each transformation's combined scalar estimate (those that have one), by name.

        Read from the summaries compute services stored beside each successful result,
        so no protocol code is needed here; :meth:`get_transformation_results` gathers
        with the protocol's own code instead.
        """
        answer = self._get_json(f"/networks/{_sk(network)}/estimates")
        return [TransformationEstimate.model_validate(item) for item in answer]

    def get_network_tasks(
        self, network: ScopedKey | str, status: TaskStatus | str | None = None
    ) -> list[ScopedKey]:
        """Tasks of the network (optionally in one status)."""
        params = _params({"status": str(parse_status(str(status))) if status else None})
        return _keys(self._get_json(f"/networks/{_sk(network)}/tasks", params))

    def get_taskhub_weight(self, network: ScopedKey | str) -> float:
        """The network's TaskHub weight."""
        return float(self._get_json(f"/networks/{_sk(network)}/taskhub/weight")["weight"])

    def set_taskhub_weight(self, network: ScopedKey | str, weight: float) -> None:
        """Set the network's TaskHub weight, in (0, 1]."""
        self._put_json(f"/networks/{_sk(network)}/taskhub/weight", {"weight": weight})

    def get_network_actioned_tasks(self, network: ScopedKey | str) -> list[ScopedKey]:
        """Tasks actioned on the network's TaskHub."""
        return _keys(self._get_json(f"/networks/{_sk(network)}/taskhub/tasks"))

    # -- transformations -------------------------------------------------------------------

    def query_transformations(
        self, name: str | None = None, scope: Scope | str | None = None
    ) -> list[ScopedKey]:
        """Transformations visible to you by name fragment and scope."""
        params = _params({"name": name, "scope": str(scope) if scope else None})
        return _keys(self._get_json("/transformations", params))

    def get_transformation_json(self, transformation: ScopedKey | str) -> Any:
        """The transformation's keyed chain (no classes needed)."""
        return json.loads(self._get_raw(f"/transformations/{_sk(transformation)}"))

    def get_transformation(self, transformation: ScopedKey | str) -> Transformation:
        """The transformation as a model (its protocol class must be importable here)."""
        obj = Transformation.from_keyed_chain(self.get_transformation_json(transformation))
        return obj

    def get_transformation_networks(self, transformation: ScopedKey | str) -> list[ScopedKey]:
        """Networks containing the transformation."""
        return _keys(self._get_json(f"/transformations/{_sk(transformation)}/networks"))

    def get_transformation_status(self, transformation: ScopedKey | str) -> dict[str, int]:
        """Task counts per status for the transformation."""
        counts: dict[str, int] = self._get_json(f"/transformations/{_sk(transformation)}/status")
        return counts

    # -- tasks -----------------------------------------------------------------------------

    def create_tasks(
        self,
        transformation: ScopedKey | str,
        count: int = 1,
        extends: ScopedKey | str | None = None,
    ) -> list[ScopedKey]:
        """Create ``count`` Tasks on the transformation, optionally extending one Task."""
        body = {"count": count, "extends": _sk(extends) if extends is not None else None}
        return _keys(self._post_json(f"/transformations/{_sk(transformation)}/tasks", body))

    def get_transformation_tasks(
        self, transformation: ScopedKey | str, status: TaskStatus | str | None = None
    ) -> list[ScopedKey]:
        """Tasks of the transformation (optionally in one status)."""
        params = _params({"status": str(parse_status(str(status))) if status else None})
        return _keys(self._get_json(f"/transformations/{_sk(transformation)}/tasks", params))

    def action_tasks(
        self,
        tasks: Sequence[ScopedKey | str],
        network: ScopedKey | str,
        weight: float | None = None,
    ) -> list[ScopedKey]:
        """Put tasks on the network's TaskHub; returns those now actioned."""
        body = {"tasks": _sks(tasks), "weight": weight}
        return _keys(self._post_json(f"/networks/{_sk(network)}/tasks/action", body))

    def cancel_tasks(
        self, tasks: Sequence[ScopedKey | str], network: ScopedKey | str
    ) -> list[ScopedKey]:
        """Take tasks off the network's TaskHub; returns those that were on it."""
        body = {"tasks": _sks(tasks)}
        return _keys(self._post_json(f"/networks/{_sk(network)}/tasks/cancel", body))

    def get_tasks_status(self, tasks: Sequence[ScopedKey | str]) -> list[TaskStatus]:
        """The status of each task, in the order given."""
        wanted = _sks(tasks)
        found = self._post_json("/tasks/status/query", {"tasks": wanted})
        return [TaskStatus(found[t]) for t in wanted]

    def set_tasks_status(
        self, tasks: Sequence[ScopedKey | str], status: TaskStatus | str
    ) -> list[ScopedKey]:
        """Move tasks to waiting, invalid or deleted (all or nothing); returns those changed."""
        body = {"tasks": _sks(tasks), "status": str(parse_status(str(status)))}
        return _keys(self._post_json("/tasks/status", body))

    def get_tasks_priority(self, tasks: Sequence[ScopedKey | str]) -> list[int]:
        """The priority of each task, in the order given."""
        wanted = _sks(tasks)
        found = self._post_json("/tasks/priority/query", {"tasks": wanted})
        return [int(found[t]) for t in wanted]

    def set_tasks_priority(self, tasks: Sequence[ScopedKey | str], priority: int) -> None:
        """Set the priority of tasks (1 is the highest)."""
        self._post_json("/tasks/priority", {"tasks": _sks(tasks), "priority": priority})

    def get_task(self, task: ScopedKey | str) -> TaskRecord:
        """A task's properties."""
        return TaskRecord.model_validate(self._get_json(f"/tasks/{_sk(task)}"))

    def get_task_progress(self, task: ScopedKey | str) -> TaskProgress:
        """Units done / total of the task's DAG (0 / 0 before its DAG exists)."""
        return TaskProgress.model_validate(self._get_json(f"/tasks/{_sk(task)}/progress"))

    # -- restart patterns ------------------------------------------------------------------

    def add_task_restart_patterns(
        self, network: ScopedKey | str, patterns: Sequence[str], max_retries: int
    ) -> None:
        """Restart failed tasks whose traceback matches a pattern, up to ``max_retries`` times."""
        if isinstance(patterns, str):
            raise ValidationError("pass a list of patterns, not a single string")
        body = {"patterns": list(patterns), "max_retries": max_retries}
        self._post_json(f"/networks/{_sk(network)}/restart-patterns", body)

    def get_task_restart_patterns(self, network: ScopedKey | str) -> list[RestartPattern]:
        """Restart patterns enforced on the network's TaskHub."""
        found = self._get_json(f"/networks/{_sk(network)}/restart-patterns")
        return [RestartPattern.model_validate(p) for p in found]

    def remove_task_restart_patterns(
        self, network: ScopedKey | str, patterns: Sequence[str]
    ) -> None:
        """Stop enforcing restart patterns on the network's TaskHub."""
        body = {"patterns": list(patterns)}
        self._post_json(f"/networks/{_sk(network)}/restart-patterns/remove", body)

    # -- results ---------------------------------------------------------------------------

    def get_task_results(self, task: ScopedKey | str) -> list[ProtocolDAGResultRef]:
        """References to every DAG result (failed and successful) of the task."""
        found = self._get_json(f"/tasks/{_sk(task)}/results")
        return [ProtocolDAGResultRef.model_validate(r) for r in found]

    def get_task_result_json(self, task: ScopedKey | str, pdr_key: str) -> Any:
        """One DAG result's keyed chain (no protocol code needed)."""
        return json.loads(self._get_raw(f"/tasks/{_sk(task)}/results/{pdr_key}"))

    def get_task_result(self, task: ScopedKey | str, pdr_key: str) -> ProtocolDAGResult:
        """One DAG result as a model (its protocol's classes must be importable here)."""
        obj = ProtocolDAGResult.from_keyed_chain(self.get_task_result_json(task, pdr_key))
        return obj

    def get_task_failures(self, task: ScopedKey | str) -> list[UnitFailureInfo]:
        """Every failed unit attempt of the task, with exception and traceback."""
        found = self._get_json(f"/tasks/{_sk(task)}/failures")
        return [UnitFailureInfo.model_validate(f) for f in found]

    def get_transformation_result_refs(
        self, transformation: ScopedKey | str
    ) -> list[ProtocolDAGResultRef]:
        """References to the successful DAG results of every task of the transformation."""
        found = self._get_json(f"/transformations/{_sk(transformation)}/results")
        return [ProtocolDAGResultRef.model_validate(r) for r in found]

    def get_transformation_results(
        self,
        transformation: ScopedKey | str,
        progress: Callable[[int, int], None] | None = None,
    ) -> ProtocolResult | None:
        """Gather the transformation's successful DAG results with its protocol (None if none).

        The protocol's code runs here, in the client: its class must be importable.
        """
        refs = self.get_transformation_result_refs(transformation)
        if not refs:
            return None
        model = self.get_transformation(transformation)
        results = []
        for done, ref in enumerate(refs, start=1):
            if ref.task is None:
                raise ValidationError(f"DAG result {ref.key} does not name its task")
            results.append(self.get_task_result(ref.task, ref.key))
            if progress is not None:
                progress(done, len(refs))
        return model.gather(results)

    # -- files -----------------------------------------------------------------------------

    def list_result_files(self, task: ScopedKey | str) -> list[ResultFileInfo]:
        """The task's recorded result files: name, size, sha256, unit and attempt."""
        found = self._get_json(f"/tasks/{_sk(task)}/files")
        return [ResultFileInfo.model_validate({**f, "task": _sk(task)}) for f in found]

    def download_result_file(
        self,
        ref: ResultFileInfo,
        dest: Path | str,
        *,
        redirect: bool = False,
        progress: Progress | None = None,
    ) -> Path:
        """Download one result file to ``dest``: streamed, sha256-verified, atomic.

        ``dest`` may be a folder (the file keeps its name there). With ``redirect``
        the bytes come straight from the object store through a presigned URL.
        """
        target = Path(dest)
        if target.is_dir():
            target = target / Path(ref.name).name
        return self._download_file(
            f"/tasks/{ref.task}/files/{ref.location}",
            target,
            expected_sha256=ref.sha256,
            redirect=redirect,
            progress=progress,
        )


def _params(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
