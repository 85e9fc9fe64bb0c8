"""`Stores`: the two stores the services work on, handed in by the composition root."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

from alchemiscale_like.storage.objectstore.base import ObjectStore
from alchemiscale_like.storage.statestore.base import StateStore

#: DAGs whose unit keys are remembered at once (each a few KB).
_DAG_CACHE_SIZE = 1024
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
    """

    statestore: StateStore
    objectstore: ObjectStore
    lease_seconds: float = 300.0
    dag_units: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)
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
