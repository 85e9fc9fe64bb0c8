"""What a measurement needs from a backend: :class:`Backend`.

A backend owns the store under test, the bare baselines (the equivalent minimal work
through the same driver, on the same database) and the setup and cleanup of that
database. The measurement modules only ever call this interface, so every
measurement runs unchanged against each backend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import Any, ClassVar

from alchemiscale_like.models import ScopedKey
from alchemiscale_like.storage.statestore.base import StateStore
from devtools.bench.statestore.measurement import timed

#: One bare claimer: ``claim(count)`` takes up to ``count`` tasks in one write
#: transaction and returns how many it took (0 once there is nothing left).
BareClaimer = Callable[[int], int]


class Backend(ABC):
    """One state-store backend under test: the store, its baselines, its database.

    Attributes:
        name: the backend's name in options and in the report (``neo4j``, ``sqlite``).
        baseline_queries: per measurement group (``submit_network``, ``read_network``,
            ``create_tasks``, ``action_tasks``, ``claims``, ``cold_claims``,
            ``network_status``), what its baseline does, for the report; ``claims``
            is a template with a ``{count}`` field.
        store: the store shared by the measurements (and by "shared store" claim runs).
        profile: whether ``--profile`` asked for query-plan summaries.
        profiles: those summaries, by query name.
    """

    name: ClassVar[str]
    baseline_queries: ClassVar[Mapping[str, str]]

    def __init__(self, store: StateStore, profile: bool) -> None:
        self.store = store
        self.profile = profile
        self.profiles: dict[str, Any] = {}

    # -- database -------------------------------------------------------------------------

    @abstractmethod
    def new_store(self) -> StateStore:
        """Another store on the same database (for "store per thread" claim runs);
        the caller closes it."""

    @abstractmethod
    def info(self) -> dict[str, Any]:
        """What the report says about the database (version, where, how started)."""

    def refusal(self) -> str | None:
        """Why this database may not be used (it holds data), or None."""
        return None

    @abstractmethod
    def prepare(self) -> None:
        """Create the store's schema and the baselines' scratch schema."""

    def reset(self) -> float:
        """The store's ``reset``, then :meth:`prepare` again; the seconds the reset took."""
        seconds, _ = timed(self.store.reset)
        self.prepare()
        return seconds

    @abstractmethod
    def task_count(self) -> int:
        """Tasks the store holds."""

    @abstractmethod
    def double_claims(self) -> int:
        """Tasks the store holds more than one claim on (must be 0)."""

    @abstractmethod
    def drop_scratch(self) -> None:
        """Delete the baselines' scratch data (so that it does not slow the store)."""

    @abstractmethod
    def cleanup(self) -> None:
        """Drop the scratch schema, leave the database as found, then :meth:`close`."""

    @abstractmethod
    def close(self) -> None:
        """Close the store and every bare connection (nothing else is touched)."""

    # -- baselines: the equivalent minimal work, bare --------------------------------------

    @abstractmethod
    def bare_submit_network(self, params: dict[str, Any]) -> None:
        """Write a network in one transaction: ``params`` has ``network`` (its scoped
        key), ``systems`` (``scoped_key``, ``name``) and ``transformations``
        (``scoped_key``, ``name``, ``state_a``, ``state_b``), all scoped key strings."""

    @abstractmethod
    def bare_read_network(self, network: ScopedKey) -> int:
        """Read the scoped keys of every member of the store's ``network``; their count."""

    @abstractmethod
    def bare_create_tasks(self, rows: Sequence[dict[str, str]]) -> None:
        """Create one scratch task per row (``scoped_key``, ``transformation``)."""

    @abstractmethod
    def bare_action_tasks(self, network: ScopedKey, tasks: Sequence[str]) -> None:
        """Link the scratch tasks ``tasks`` to the hub of ``network``, weight 0.5."""

    @abstractmethod
    def bare_network_status(self, network: ScopedKey) -> object:
        """Count the tasks of the store's ``network`` (by status where it is free)."""

    @abstractmethod
    def bare_claimers(
        self, n_tasks: int, claimers: int
    ) -> AbstractContextManager[list[BareClaimer]]:
        """``claimers`` bare claimers over ``n_tasks`` fresh scratch tasks, each for one
        thread; the scratch data is dropped on exit."""

    # -- query plans (``--profile``): each hook records nothing unless profiling -----------

    @abstractmethod
    def profile_network(self, network: ScopedKey) -> None:
        """Plans of the queries reading ``network`` back."""

    @abstractmethod
    def profile_tasks(
        self, transformations: Sequence[ScopedKey], network: ScopedKey, tasks: Sequence[ScopedKey]
    ) -> None:
        """Plans of ``create_tasks`` and ``action_tasks`` for these arguments."""

    @abstractmethod
    def profile_claims(self, hub: ScopedKey) -> None:
        """Plans of ``claim_tasks`` on the network ``hub`` (after the claim runs)."""

    @abstractmethod
    def profile_status(self, network: ScopedKey) -> None:
        """Plans of ``get_network_status`` of ``network`` and of its baseline."""
