"""What a dashboard shows, read from both stores: networks, transformations, tasks, services.

Every function takes keys the caller has already checked against the identity's
scopes (the ``/ui`` routes do that in one dependency); :func:`compute_services`
is given the scope check itself, since services are not scoped objects but the
Tasks they hold are.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from alchemiscale_like.models.estimate import (
    ResultEstimate,
    TransformationEstimate,
    combine_estimates,
)
from alchemiscale_like.models.scope import Scope, ScopedKey
from alchemiscale_like.models.task import TaskStatus
from alchemiscale_like.models.verify import VerifiedEntry, verify_keyed_chain
from alchemiscale_like.services.files import TaskFile, UnitFailure, list_task_files, task_failures
from alchemiscale_like.services.networks import object_chain
from alchemiscale_like.services.stores import Stores
from alchemiscale_like.storage.statestore.records import (
    ProtocolDAGResultRef,
    ProtocolUnitResultRef,
    TaskRecord,
    TaskSummary,
    TransformationSummary,
)

#: Statuses in the order a dashboard shows them (progress bars stack in this order).
STATUS_ORDER: tuple[str, ...] = tuple(s.value for s in TaskStatus)


@dataclass(frozen=True)
class StatusCounts:
    """Task counts by status, with the totals a progress bar needs."""

    counts: dict[str, int]

    @property
    def total(self) -> int:
        """All Tasks counted."""
        return sum(self.counts.values())

    def get(self, status: str) -> int:
        """The count of one status (0 if none)."""
        return self.counts.get(status, 0)

    def percent(self, status: str) -> float:
        """The share of ``status`` in percent (0 when there are no Tasks)."""
        return 100.0 * self.get(status) / self.total if self.total else 0.0


def _summed(summaries: Sequence[TransformationSummary]) -> StatusCounts:
    counts: dict[str, int] = {}
    for summary in summaries:
        for status, n in summary.status.items():
            counts[status] = counts.get(status, 0) + n
    return StatusCounts(counts)


@dataclass(frozen=True)
class NetworkOverview:
    """One network in a list: name, state and Task counts."""

    scoped_key: ScopedKey
    name: str
    state: str
    status: StatusCounts


def networks_in_scopes(
    stores: Stores, scopes: Sequence[Scope], state: str | None = None
) -> list[NetworkOverview]:
    """The networks within ``scopes`` (already limited to what the caller may see), by name."""
    found: set[ScopedKey] = set()
    for scope in scopes:
        found.update(stores.statestore.query_networks(None, scope, state))
    overviews = [
        NetworkOverview(
            scoped_key=sk,
            name=stores.statestore.get_network_name(sk),
            state=str(stores.statestore.get_network_state(sk)),
            status=StatusCounts(stores.statestore.get_network_status(sk)),
        )
        for sk in found
    ]
    return sorted(overviews, key=lambda n: (n.name, str(n.scoped_key)))


@dataclass(frozen=True)
class NetworkView:
    """One network with every transformation's counts and unit progress."""

    scoped_key: ScopedKey
    name: str
    state: str
    transformations: list[TransformationSummary]
    status: StatusCounts


def network_view(stores: Stores, network: ScopedKey) -> NetworkView:
    """The network page's data: one aggregate query for the transformations."""
    summaries = stores.statestore.get_network_summaries(network)
    return NetworkView(
        scoped_key=network,
        name=stores.statestore.get_network_name(network),
        state=str(stores.statestore.get_network_state(network)),
        transformations=summaries,
        status=_summed(summaries),
    )


def _root_name(chain: Any) -> str:
    entries = verify_keyed_chain(chain)
    return str(entries[-1].keyed_dict.get("name") or "")


@dataclass(frozen=True)
class TransformationView:
    """One transformation with its Tasks."""

    scoped_key: ScopedKey
    name: str
    protocol: str
    networks: list[ScopedKey]
    tasks: list[TaskSummary]
    status: StatusCounts


def transformation_view(stores: Stores, transformation: ScopedKey) -> TransformationView:
    """The transformation page's data."""
    tasks = stores.statestore.get_transformation_task_summaries(transformation)
    counts: dict[str, int] = {}
    for task in tasks:
        counts[str(task.record.status)] = counts.get(str(task.record.status), 0) + 1
    return TransformationView(
        scoped_key=transformation,
        name=_root_name(object_chain(stores, transformation)),
        protocol=stores.statestore.get_transformation_protocol(transformation),
        networks=stores.statestore.get_transformation_networks(transformation),
        tasks=tasks,
        status=StatusCounts(counts),
    )


@dataclass(frozen=True)
class UnitView:
    """One unit of a Task's DAG: its state and every recorded attempt."""

    key: str
    name: str
    depends_on: list[str]
    state: str
    attempts: list[ProtocolUnitResultRef] = field(default_factory=list)

    @property
    def last(self) -> ProtocolUnitResultRef | None:
        """The latest recorded attempt."""
        return self.attempts[-1] if self.attempts else None

    @property
    def seconds(self) -> float | None:
        """How long the latest recorded attempt ran (None if its times are unknown)."""
        last = self.last
        if last is None or last.started is None or last.finished is None:
            return None
        return (last.finished - last.started).total_seconds()


def _dag_units(entries: list[VerifiedEntry]) -> list[tuple[str, str, list[str]]]:
    """``(key, name, dependency keys)`` of each unit, in the DAG's own order."""
    root = entries[-1]
    unit_keys = [ref[":key:"] for ref in root.keyed_dict.get("protocol_units", [])]
    by_key = {entry.key: entry for entry in entries}
    units = set(unit_keys)
    return [
        (
            key,
            str(by_key[key].keyed_dict.get("name") or key),
            sorted(set(by_key[key].references) & units),
        )
        for key in unit_keys
    ]


def _unit_state(ok: bool, failed: bool, deps_done: bool, task_status: TaskStatus) -> str:
    if ok:
        return "complete"
    if task_status == TaskStatus.RUNNING and deps_done:
        return "running"  # ready: the claimant runs it now or next
    if failed:
        return "failed"
    return "pending"


def _unit_views(
    stores: Stores, task: ScopedKey, record: TaskRecord, refs: list[ProtocolUnitResultRef]
) -> list[UnitView]:
    dag = stores.statestore.get_task_dag(task)
    if dag is None:
        return []
    entries = verify_keyed_chain(stores.objectstore.get_task_json(task, dag.relpath))
    attempts: dict[str, list[ProtocolUnitResultRef]] = {}
    for ref in refs:
        attempts.setdefault(ref.unit_key, []).append(ref)
    done = {key for key, tried in attempts.items() if any(r.ok for r in tried)}
    names = {key: name for key, name, _ in _dag_units(entries)}
    views = []
    for key, name, deps in _dag_units(entries):
        tried = sorted(attempts.get(key, []), key=lambda r: r.attempt)
        state = _unit_state(
            key in done, any(not r.ok for r in tried), set(deps) <= done, record.status
        )
        views.append(UnitView(key, name, [names[d] for d in deps], state, tried))
    return views


@dataclass(frozen=True)
class TaskView:
    """One Task: status, claimant, its DAG's units, failures, files and results."""

    record: TaskRecord
    claimant: str | None
    units: list[UnitView]
    failures: list[UnitFailure]
    files: list[TaskFile]
    results: list[ProtocolDAGResultRef]

    @property
    def done(self) -> int:
        """Units with a successful result."""
        return sum(1 for unit in self.units if unit.state == "complete")


def task_view(stores: Stores, task: ScopedKey) -> TaskView:
    """The task page's data (the DAG is read from the object store, as plain JSON)."""
    record = stores.statestore.get_task(task)
    refs = stores.statestore.get_unit_results(task)
    return TaskView(
        record=record,
        claimant=stores.statestore.get_task_claimant(task),
        units=_unit_views(stores, task, record, refs),
        failures=task_failures(stores, task, refs),
        files=list_task_files(stores, task, refs),
        results=stores.statestore.get_task_results(task),
    )


@dataclass(frozen=True)
class ServiceView:
    """A registered compute service as one identity sees it."""

    identifier: str
    registered: dt.datetime
    heartbeat_age: float
    protocols: tuple[str, ...] | None
    tasks_held: list[ScopedKey]
    claims_total: int
    claims_last_minute: float


def compute_services(stores: Stores, can_see: Callable[[Scope], bool]) -> list[ServiceView]:
    """Registered services, each with only the held Tasks in scopes ``can_see`` allows."""
    now = dt.datetime.now(dt.UTC)
    return [
        ServiceView(
            identifier=record.identifier,
            registered=record.registered,
            heartbeat_age=max(0.0, (now - record.heartbeat).total_seconds()),
            protocols=record.protocols,
            tasks_held=[task for task in record.claimed if can_see(task.scope)],
            claims_total=record.claims_total,
            claims_last_minute=record.claims_last_minute,
        )
        for record in stores.statestore.list_computeservices()
    ]


def network_estimates(stores: Stores, network: ScopedKey) -> list[TransformationEstimate]:
    """The transformations of a network that have estimates, each with the combination of
    its Tasks' estimates (see :func:`~alchemiscale_like.models.estimate.combine_estimates`),
    by name."""
    grouped: dict[ScopedKey, tuple[str, list[ResultEstimate]]] = {}
    for record in stores.statestore.get_network_estimates(network):
        grouped.setdefault(record.transformation, (record.name, []))[1].append(record.estimate)
    return [
        TransformationEstimate(
            transformation=str(sk),
            name=name,
            estimate=combined,
            n_results=len(estimates),
        )
        for sk, (name, estimates) in grouped.items()
        if (combined := combine_estimates(estimates)) is not None
    ]
