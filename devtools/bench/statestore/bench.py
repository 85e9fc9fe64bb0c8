"""What one backend's run shares: :class:`Sizes` and :class:`Bench`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from alchemiscale_like.models import ScopedKey
from alchemiscale_like.storage.statestore.base import StateStore
from devtools.bench.common import log
from devtools.bench.statestore.backends.base import Backend
from devtools.bench.statestore.measurement import Measurement


def _size(default: float, what: str) -> Any:
    return field(default=default, metadata={"help": what})


@dataclass(frozen=True)
class Sizes:
    """How big each measurement is; the defaults are the targets' sizes, and each
    field is also an option (``--hub-tasks``), documented by its ``help`` metadata."""

    systems: int = _size(1_000, "chemical systems of the network (twice as many transformations)")
    tasks: int = _size(1_000, "tasks of each create_tasks / action_tasks call")
    hub_tasks: int = _size(20_000, "waiting tasks of each claims TaskHub")
    status_tasks: int = _size(100_000, "tasks of the network whose status is counted")
    reset_tasks: int = _size(
        100_000, "tasks the database holds before the reset of cold_claims_after_reset"
    )
    claim_seconds: float = _size(10.0, "time bound of each claim run")
    claim_max: int = _size(3_000, "tasks-claimed bound of each claim run")

    def problems(self) -> list[str]:
        """Why these sizes cannot run together (empty if they can)."""
        found = []
        if min(self.systems, self.tasks, self.claim_max) < 1 or self.claim_seconds <= 0:
            found.append("every size must be positive")
        if self.tasks > 2 * self.systems:
            found.append("--tasks must be <= 2 x --systems (one task per transformation)")
        # A 50-task warm-up and four runs share one hub; when a run reaches claim_max
        # the other 7 claimers' calls in flight still claim (up to 7 and 79 tasks).
        if self.hub_tasks < 4 * self.claim_max + 57 + 2 * 7 + 2 * 79:
            found.append("--hub-tasks must be >= 4 x --claim-max + 229 (four runs on one hub)")
        if self.status_tasks < 6 * self.tasks:
            found.append("--status-tasks must be >= 6 x --tasks (the task runs' own tasks)")
        return found

    def to_json(self) -> dict[str, Any]:
        """The JSON form."""
        return asdict(self)


@dataclass
class Bench:
    """One run against one backend: its measurements land in ``results``; the network
    and tasks made by the earlier ones are kept for the later ones."""

    backend: Backend
    sizes: Sizes
    results: dict[str, Measurement] = field(default_factory=dict)
    network: ScopedKey | None = None
    transformations: list[ScopedKey] = field(default_factory=list)
    tasks_created: int = 0
    first_tasks: list[ScopedKey] = field(default_factory=list)

    @property
    def store(self) -> StateStore:
        """The backend's shared store."""
        return self.backend.store

    def log(self, message: str) -> None:
        """Progress on stderr, naming the backend."""
        log(f"bench {self.backend.name}: {message}")
