"""The state-store interface: every backend implements :class:`StateStore`.

The state store holds structure and status: networks, transformations and
chemical systems (content lives in the object store), Tasks and TaskHubs,
claims and compute-service registrations, references to stored DAGs, unit
results, files and DAG results, restart patterns and credentials. Every
method is atomic: it either applies in full or raises and changes nothing.

Errors (from :mod:`alchemiscale_like.errors`): ``NotFound`` for unknown keys,
``ValidationError`` for bad arguments, ``InvalidTransition`` for forbidden
status changes, ``ClaimLost`` when a compute service acts on a task it does
not hold, ``StoreUnavailable`` when the backend cannot be reached.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Sequence

from alchemiscale_like.models.scope import Scope, ScopedKey
from alchemiscale_like.models.task import TaskStatus
from alchemiscale_like.storage.statestore.records import (
    ClaimedTask,
    ComputeServiceRecord,
    EstimateRecord,
    IdentityRecord,
    NetworkRecord,
    NetworkState,
    ProtocolDAGRef,
    ProtocolDAGResultRef,
    ProtocolUnitResultRef,
    RestartPattern,
    ResultFileRef,
    TaskProgress,
    TaskRecord,
    TaskSummary,
    TransformationSummary,
)


class SchemaStore(ABC):
    """Creating, checking and wiping the store."""

    @abstractmethod
    def initialize(self) -> None:
        """Create constraints and indexes (idempotent)."""

    @abstractmethod
    def check(self) -> None:
        """Raise ``StoreUnavailable`` unless the store is reachable and initialized."""

    @abstractmethod
    def reset(self) -> None:
        """Delete every node, relationship, constraint and index."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""


class NetworkStore(ABC):
    """Networks, their transformations and chemical systems."""

    @abstractmethod
    def assemble_network(
        self, network: NetworkRecord, scope: Scope, state: str = "active"
    ) -> ScopedKey:
        """Store ``network`` in a specific ``scope`` (idempotent) with its TaskHub.

        Submitting the same network again creates nothing new and returns the same key.
        """

    @abstractmethod
    def set_network_state(self, networks: Sequence[ScopedKey], state: str) -> None:
        """Set the state (active, inactive, invalid, deleted) of networks; all or none.

        Raises:
            ValidationError: ``state`` is not a network state.
            NotFound: a network is unknown (then no state changes).
        """

    @abstractmethod
    def get_network_state(self, network: ScopedKey) -> NetworkState:
        """The state of one network."""

    @abstractmethod
    def get_network_name(self, network: ScopedKey) -> str:
        """The name of one network."""

    @abstractmethod
    def query_networks(
        self, name: str | None = None, scope: Scope | None = None, state: str | None = "active"
    ) -> list[ScopedKey]:
        """Networks whose name contains ``name``, within ``scope``, in ``state`` (None: any)."""

    @abstractmethod
    def query_transformations(
        self, name: str | None = None, scope: Scope | None = None
    ) -> list[ScopedKey]:
        """Transformations whose name contains ``name``, within ``scope``."""

    @abstractmethod
    def get_network_transformations(self, network: ScopedKey) -> list[ScopedKey]:
        """The transformations of a network."""

    @abstractmethod
    def get_network_chemicalsystems(self, network: ScopedKey) -> list[ScopedKey]:
        """The chemical systems of a network."""

    @abstractmethod
    def get_transformation_networks(self, transformation: ScopedKey) -> list[ScopedKey]:
        """The networks containing a transformation."""

    @abstractmethod
    def get_transformation_protocol(self, transformation: ScopedKey) -> str:
        """The protocol class name of a transformation."""


class TaskStore(ABC):
    """Tasks, TaskHubs, priorities and statuses."""

    @abstractmethod
    def create_tasks(
        self,
        transformations: Sequence[ScopedKey],
        extends: Sequence[ScopedKey | None] | None = None,
        creator: str | None = None,
    ) -> list[ScopedKey]:
        """Create one Task per entry of ``transformations`` (repeat a key for several).

        ``extends[i]`` (if given) must be a Task of the same transformation.
        """

    @abstractmethod
    def get_task(self, task: ScopedKey) -> TaskRecord:
        """One Task's properties."""

    @abstractmethod
    def get_transformation_tasks(
        self, transformation: ScopedKey, status: TaskStatus | None = None
    ) -> list[ScopedKey]:
        """Tasks of a transformation (optionally only those in ``status``)."""

    @abstractmethod
    def get_network_tasks(
        self, network: ScopedKey, status: TaskStatus | None = None
    ) -> list[ScopedKey]:
        """Tasks of every transformation of a network."""

    @abstractmethod
    def action_tasks(
        self, tasks: Sequence[ScopedKey], network: ScopedKey, weight: float | None = None
    ) -> list[ScopedKey]:
        """Put tasks on the network's TaskHub; returns those now actioned.

        Tasks must belong to a transformation of the network. Tasks in a status
        other than waiting, running or error are skipped (not returned).
        """

    @abstractmethod
    def cancel_tasks(self, tasks: Sequence[ScopedKey], network: ScopedKey) -> list[ScopedKey]:
        """Take tasks off the network's TaskHub; returns those that were on it."""

    @abstractmethod
    def get_taskhub_tasks(self, network: ScopedKey) -> list[ScopedKey]:
        """Tasks actioned on the network's TaskHub."""

    @abstractmethod
    def get_task_weights(self, network: ScopedKey) -> dict[ScopedKey, float]:
        """ACTIONS weight of each actioned task of a network."""

    @abstractmethod
    def set_taskhub_weight(self, network: ScopedKey, weight: float) -> None:
        """Weight (0 < w <= 1) for choosing this network's TaskHub when claiming."""

    @abstractmethod
    def get_taskhub_weight(self, network: ScopedKey) -> float:
        """The TaskHub weight of a network."""

    @abstractmethod
    def set_task_priority(self, tasks: Sequence[ScopedKey], priority: int) -> None:
        """Set the priority (1 is highest) of tasks."""

    @abstractmethod
    def get_task_status(self, tasks: Sequence[ScopedKey]) -> dict[ScopedKey, TaskStatus]:
        """Status of each task."""

    @abstractmethod
    def set_task_status(self, tasks: Sequence[ScopedKey], status: TaskStatus) -> list[ScopedKey]:
        """User status change (waiting, invalid, deleted) following the transition table.

        All or nothing: if any task may not make the change, ``InvalidTransition``
        is raised and no task changes. invalid/deleted cascade to extending tasks
        (returned too). Moving to waiting drops the claim.
        """

    @abstractmethod
    def get_network_status(self, network: ScopedKey) -> dict[str, int]:
        """Task count per status over the whole network."""

    @abstractmethod
    def get_transformation_status(self, transformation: ScopedKey) -> dict[str, int]:
        """Task count per status for one transformation."""


class ClaimStore(ABC):
    """Compute-service registrations, heartbeats and claiming."""

    @abstractmethod
    def register_computeservice(
        self, identifier: str, protocols: Sequence[str] | None = None
    ) -> ComputeServiceRecord:
        """Register (or re-register) a compute service."""

    @abstractmethod
    def heartbeat_computeservice(self, identifier: str) -> None:
        """Record that the service is alive; ``NotFound`` if it is not registered."""

    @abstractmethod
    def deregister_computeservice(self, identifier: str) -> list[ScopedKey]:
        """Remove the registration; its claimed tasks return to waiting (returned)."""

    @abstractmethod
    def get_computeservice(self, identifier: str) -> ComputeServiceRecord:
        """One registration with the tasks it holds."""

    @abstractmethod
    def list_computeservices(self) -> list[ComputeServiceRecord]:
        """Every registered compute service (with the Tasks it holds), by identifier."""

    @abstractmethod
    def expire_computeservices(self, older_than: dt.datetime) -> list[str]:
        """Deregister services whose last heartbeat is before ``older_than``."""

    @abstractmethod
    def claim_tasks(
        self,
        identifier: str,
        count: int = 1,
        scopes: Sequence[Scope] = (Scope(),),
        protocols: Sequence[str] | None = None,
    ) -> list[ScopedKey]:
        """Atomically claim up to ``count`` waiting, actioned tasks.

        TaskHubs are chosen at random weighted by hub weight (active networks
        within ``scopes`` only), then tasks by priority, then at random weighted
        by ACTIONS weight. Tasks whose transformation's protocol is not in
        ``protocols`` (when given) are skipped, and so are tasks extending a task
        that is not complete. No task is ever held by two services. A claim
        counts as a heartbeat of ``identifier``.

        Raises:
            NotFound: ``identifier`` is not registered.
        """

    @abstractmethod
    def get_task_claimant(self, task: ScopedKey) -> str | None:
        """The identifier of the service holding the task, if any."""


class ResultStore(ABC):
    """References to stored DAGs, unit results, files and DAG results."""

    @abstractmethod
    def set_task_dag(self, task: ScopedKey, identifier: str, dag: ProtocolDAGRef) -> ProtocolDAGRef:
        """Record the task's ProtocolDAG unless it has one; return the one it has.

        Only the claiming service may set it (``ClaimLost`` otherwise).
        """

    @abstractmethod
    def get_task_dag(self, task: ScopedKey) -> ProtocolDAGRef | None:
        """The task's ProtocolDAG reference, if created."""

    @abstractmethod
    def get_claimed_task(self, task: ScopedKey, identifier: str) -> ClaimedTask:
        """The task's record and DAG reference, if ``identifier`` holds its claim.

        One read for the check every compute write starts with; the recording
        writes check the claim again inside their own transaction.

        Raises:
            NotFound: there is no such task.
            ClaimLost: the task is not running, or another service (or none) holds it.
        """

    @abstractmethod
    def add_unit_result(
        self,
        task: ScopedKey,
        identifier: str,
        result: ProtocolUnitResultRef,
        claim: int | None = None,
    ) -> None:
        """Record one unit attempt (and its files) of the claimed task.

        Idempotent per ``(unit_key, attempt)``; ``ClaimLost`` if ``identifier``
        does not hold the task, or (with ``claim``) holds a later claim than that
        one (the task's ``attempts`` differs); ``NotFound`` if the task has no DAG yet.
        """

    @abstractmethod
    def get_unit_results(
        self, task: ScopedKey, ok_only: bool = False
    ) -> list[ProtocolUnitResultRef]:
        """Recorded unit attempts of the task (for resume: ``ok_only=True``)."""

    @abstractmethod
    def get_task_progress(self, task: ScopedKey) -> TaskProgress:
        """Units done / total of the task's DAG."""

    @abstractmethod
    def get_task_files(self, task: ScopedKey) -> list[ResultFileRef]:
        """Every file of every recorded unit attempt of the task."""

    @abstractmethod
    def finish_task(
        self,
        task: ScopedKey,
        identifier: str,
        result: ProtocolDAGResultRef,
        tracebacks: Sequence[str] = (),
    ) -> TaskStatus:
        """Record the task's DAG result and end the claim, in one atomic step.

        ``result.ok``: the task becomes complete and leaves every TaskHub. Otherwise
        it becomes error; then restart patterns matching ``tracebacks`` may send it
        back to waiting. Returns the new status. ``ClaimLost`` if ``identifier``
        does not hold the task (nothing is recorded); a second successful result
        for one DAG is refused.
        """

    @abstractmethod
    def get_task_results(self, task: ScopedKey) -> list[ProtocolDAGResultRef]:
        """All DAG results (failed and successful) of a task."""

    @abstractmethod
    def get_transformation_results(self, transformation: ScopedKey) -> list[ProtocolDAGResultRef]:
        """Successful DAG results of every task of a transformation."""


class RestartPatternStore(ABC):
    """Regexes on failure tracebacks that grant automatic restarts."""

    @abstractmethod
    def add_task_restart_patterns(
        self, network: ScopedKey, patterns: Sequence[str], max_retries: int
    ) -> None:
        """Add (or update the retries of) patterns enforced on the network's TaskHub."""

    @abstractmethod
    def remove_task_restart_patterns(self, network: ScopedKey, patterns: Sequence[str]) -> None:
        """Remove patterns from the network's TaskHub."""

    @abstractmethod
    def get_task_restart_patterns(self, network: ScopedKey) -> list[RestartPattern]:
        """Patterns enforced on the network's TaskHub."""


class IdentityStore(ABC):
    """Credentialed user and compute identities (hashed keys only)."""

    @abstractmethod
    def add_identity(self, identity: IdentityRecord) -> None:
        """Create an identity (``AlreadyExists`` if the identifier is taken for that kind)."""

    @abstractmethod
    def get_identity(self, kind: str, identifier: str) -> IdentityRecord:
        """One identity (``NotFound`` if absent)."""

    @abstractmethod
    def list_identities(self, kind: str) -> list[IdentityRecord]:
        """Every identity of ``kind`` ("user" or "compute")."""

    @abstractmethod
    def remove_identity(self, kind: str, identifier: str) -> None:
        """Delete an identity."""

    @abstractmethod
    def update_identity(
        self,
        kind: str,
        identifier: str,
        *,
        hashed_key: str | None = None,
        scopes: Sequence[str] | None = None,
        disabled: bool | None = None,
        expires: dt.datetime | None = None,
    ) -> IdentityRecord:
        """Change fields of an identity; returns the updated record."""


class OverviewStore(ABC):
    """Read-only aggregates for dashboards: one query each, whatever the network's size."""

    @abstractmethod
    def get_network_summaries(self, network: ScopedKey) -> list[TransformationSummary]:
        """Every transformation of a network with its Task counts and unit progress,
        ordered by name, then scoped key."""

    @abstractmethod
    def get_transformation_task_summaries(self, transformation: ScopedKey) -> list[TaskSummary]:
        """Every Task of a transformation with its progress and claimant, newest first."""

    @abstractmethod
    def get_network_estimates(self, network: ScopedKey) -> list[EstimateRecord]:
        """The stored estimates of the successful DAG results of a network's transformations,
        by transformation name, then key, then result age."""


class StateStore(
    SchemaStore,
    NetworkStore,
    TaskStore,
    ClaimStore,
    ResultStore,
    RestartPatternStore,
    IdentityStore,
    OverviewStore,
):
    """The whole state-store interface (see the module docstring)."""
