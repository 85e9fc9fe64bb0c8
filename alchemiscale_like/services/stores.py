"""`Stores`: the two stores the services work on, handed in by the composition root."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from alchemiscale_like.models.scope import ScopedKey
from alchemiscale_like.storage.objectstore.base import ObjectStore
from alchemiscale_like.storage.statestore.base import StateStore
from alchemiscale_like.storage.statestore.records import ClaimedTask

#: DAGs whose unit keys are remembered at once (each a few KB).
_DAG_CACHE_SIZE = 1024
#: Claims remembered at once (one per Task a compute service holds).
_CLAIM_CACHE_SIZE = 10_000
#: Longest pause between two lease-expiry checks (shorter for short leases).
MAX_LEASE_CHECK_SECONDS = 5.0


@dataclass(frozen=True)
class Stores:
    """The state store and the object store of one deployment, and what the services cache.

    Args:
        statestore: the state store.
        objectstore: the object store.
        lease_seconds: a compute service silent for longer loses its claims.

    Expired leases are looked for at most every ``lease_seconds / 10`` (at most
    :data:`MAX_LEASE_CHECK_SECONDS`), not on every claim: a claim is the hot path of
    every compute node, and a lease is long.

    The claims seen held (with their DAG) are remembered so that a unit-result upload
    can skip its early claim check: they are hints, never trusted for a write, which
    checks the claim itself (see :func:`alchemiscale_like.services.results.record_unit_result`).
    """

    statestore: StateStore
    objectstore: ObjectStore
    lease_seconds: float = 300.0
    dag_units: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)
    _claims: OrderedDict[tuple[ScopedKey, str], ClaimedTask] = field(
        default_factory=OrderedDict, repr=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _last_lease_check: list[float] = field(default_factory=lambda: [-math.inf], repr=False)

    def lease_check_due(self) -> bool:
        """Whether it is time to look for expired leases (then the next one is later)."""
        interval = min(self.lease_seconds / 10, MAX_LEASE_CHECK_SECONDS)
        now = time.monotonic()
        with self._lock:
            if now - self._last_lease_check[0] < interval:
                return False
            self._last_lease_check[0] = now
            return True

    def remember_dag_units(self, dag_key: str, unit_keys: frozenset[str]) -> None:
        """Cache the unit keys of an (immutable, content-keyed) DAG."""
        with self._lock:
            if len(self.dag_units) >= _DAG_CACHE_SIZE:
                self.dag_units.clear()
            self.dag_units[dag_key] = unit_keys

    def remembered_claim(self, task: ScopedKey, service_id: str) -> ClaimedTask | None:
        """The claim of ``service_id`` on ``task`` last seen held, if remembered."""
        with self._lock:
            return self._claims.get((task, service_id))

    def remember_claim(self, task: ScopedKey, service_id: str, claimed: ClaimedTask) -> None:
        """Remember a claim seen held, once its Task has a DAG (the oldest go first)."""
        if claimed.dag is None:
            return
        with self._lock:
            self._claims[(task, service_id)] = claimed
            self._claims.move_to_end((task, service_id))
            while len(self._claims) > _CLAIM_CACHE_SIZE:
                self._claims.popitem(last=False)

    def forget_claim(self, task: ScopedKey, service_id: str) -> None:
        """Drop a remembered claim (it ended, or turned out to be over)."""
        with self._lock:
            self._claims.pop((task, service_id), None)
