"""The demo network: submit it, follow its progress, gather each transformation's estimate.

Everything here goes through the user API with a :class:`~alchemiscale_like.UserClient`,
as a user's own script would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from alchemiscale_like.cli.quickstart.errors import QuickstartError

if TYPE_CHECKING:
    from alchemiscale_like.client import UserClient
    from alchemiscale_like.models.scope import ScopedKey
    from alchemiscale_like.protocols import HarmonicTISettings

#: The scope the demo network is submitted to (the compute identity's only scope).
DEMO_SCOPE = "quickstart-demo-harmonic"
#: The demo network's name (``client.query_networks(name=...)``).
DEMO_NETWORK_NAME = "harmonic-example"


@dataclass(frozen=True)
class DemoSize:
    """How big the demo is: Tasks per transformation and Monte Carlo steps per window.

    Each Task's DAG is a setup unit, ``n_lambda`` sampling units (one per lambda
    window, each checkpointing ten times) and an analysis unit.
    """

    repeats: int = 3
    n_steps: int = 30_000
    n_lambda: int = 5
    """Five Gauss-Legendre nodes: the quadrature error (< 1e-4 kT) stays far below the
    statistical error of any demo size."""

    def settings(self) -> HarmonicTISettings:
        """The HarmonicTI settings of every transformation."""
        from alchemiscale_like.protocols import HarmonicTISettings

        return HarmonicTISettings(
            n_lambda=self.n_lambda,
            n_repeats=1,
            n_steps=self.n_steps,
            checkpoint_interval=max(1, self.n_steps // 10),
        )

    @property
    def units_per_task(self) -> int:
        """Units in each Task's DAG."""
        return self.n_lambda + 2


@dataclass
class DemoTransformation:
    """One submitted transformation and its Tasks."""

    key: ScopedKey
    name: str
    tasks: list[ScopedKey]


@dataclass
class SubmittedDemo:
    """The submitted network and its transformations."""

    network: ScopedKey
    transformations: list[DemoTransformation]

    @property
    def tasks(self) -> list[ScopedKey]:
        """Every Task of the demo."""
        return [task for t in self.transformations for task in t.tasks]

    def transformation_of(self, task: ScopedKey) -> DemoTransformation:
        """The transformation ``task`` belongs to."""
        return next(t for t in self.transformations if task in t.tasks)


def submit_demo(client: UserClient, size: DemoSize) -> SubmittedDemo:
    """Submit the HarmonicTI example network and action ``size.repeats`` Tasks per edge."""
    from alchemiscale_like.models.scope import Scope
    from alchemiscale_like.protocols.examples import harmonic_network

    network = harmonic_network(settings=size.settings(), name=DEMO_NETWORK_NAME)
    names = {t.key: t.name or t.key for t in network.edges}
    network_sk = client.create_network(network, Scope.from_str(DEMO_SCOPE))
    submitted = []
    for transformation in client.get_network_transformations(network_sk):
        tasks = client.create_tasks(transformation, count=size.repeats)
        client.action_tasks(tasks, network_sk)
        submitted.append(DemoTransformation(transformation, names[transformation.gufe_key], tasks))
    submitted.sort(key=lambda t: t.name)
    return SubmittedDemo(network_sk, submitted)


@dataclass
class TransformationProgress:
    """Tasks complete and units done of one transformation, right now."""

    name: str
    tasks_total: int
    tasks_complete: int = 0
    tasks_error: int = 0
    units_done: int = 0
    units_total: int = 0

    @property
    def finished(self) -> bool:
        """Every Task is complete."""
        return self.tasks_complete == self.tasks_total


@dataclass
class ProgressTracker:
    """Polls the user API for the progress of each transformation of a demo.

    A Task known complete is not asked about again: its progress cannot change.
    """

    client: UserClient
    demo: SubmittedDemo
    units_per_task: int
    _final: dict[ScopedKey, tuple[int, int]] = field(default_factory=dict)

    def poll(self) -> list[TransformationProgress]:
        """The progress of every transformation (a few requests per unfinished Task)."""
        from alchemiscale_like.models.task import TaskStatus

        rows = []
        for transformation in self.demo.transformations:
            row = TransformationProgress(transformation.name, len(transformation.tasks))
            pending = [t for t in transformation.tasks if t not in self._final]
            statuses = self.client.get_tasks_status(pending) if pending else []
            for task, status in zip(pending, statuses, strict=True):
                if status is TaskStatus.ERROR:
                    row.tasks_error += 1
                progress = self.client.get_task_progress(task)
                counts = (progress.done, progress.total or self.units_per_task)
                if status is TaskStatus.COMPLETE:
                    self._final[task] = counts
                else:
                    row.units_done += counts[0]
                    row.units_total += counts[1]
            for task in transformation.tasks:
                if task in self._final:
                    row.tasks_complete += 1
                    row.units_done += self._final[task][0]
                    row.units_total += self._final[task][1]
            rows.append(row)
        return rows


def describe_failures(client: UserClient, demo: SubmittedDemo) -> str:
    """Each failed unit attempt of the demo's Tasks in error: unit, exception."""
    from alchemiscale_like.models.task import TaskStatus

    lines = []
    tasks = demo.tasks
    for task, status in zip(tasks, client.get_tasks_status(tasks), strict=True):
        if status is not TaskStatus.ERROR:
            continue
        for failure in client.get_task_failures(task):
            kind, message = failure.exception
            lines.append(f"task {task}: unit {failure.unit_key}: {kind}: {message}")
    return "\n".join(lines) or "(no failure recorded)"


@dataclass(frozen=True)
class EstimateRow:
    """One line of the final table."""

    name: str
    transformation: str
    estimate: float
    uncertainty: float
    exact: float
    tasks: int

    @property
    def sigmas(self) -> float:
        """|estimate - exact| in units of the estimate's standard error."""
        if self.uncertainty > 0:
            return abs(self.estimate - self.exact) / self.uncertainty
        return 0.0 if self.estimate == self.exact else math.inf

    def as_json(self) -> dict[str, Any]:
        """The row as plain JSON (``summary.json``)."""
        return {
            "name": self.name,
            "transformation": self.transformation,
            "estimate": self.estimate,
            "uncertainty": self.uncertainty,
            "exact": self.exact,
            "sigmas": self.sigmas,
            "tasks": self.tasks,
        }


def gather_estimates(client: UserClient, demo: SubmittedDemo) -> list[EstimateRow]:
    """Each transformation's gathered estimate (client side, as a user would)."""
    rows = []
    for transformation in demo.transformations:
        result = client.get_transformation_results(transformation.key)
        if result is None:
            raise QuickstartError(f"{transformation.name} has no result although it is complete")
        data = result.data
        rows.append(
            EstimateRow(
                name=transformation.name,
                transformation=str(transformation.key),
                estimate=float(data["estimate"]),
                uncertainty=float(data["uncertainty"]),
                exact=float(data["analytic"]),
                tasks=len(transformation.tasks),
            )
        )
    return rows
