"""Compute services: registration, heartbeats, leases and claims."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from alchemiscale_like.errors import ClaimLost, NotFound
from alchemiscale_like.models.scope import Scope, ScopedKey
from alchemiscale_like.services.stores import Stores
from alchemiscale_like.storage.statestore.records import ClaimedTask, ComputeServiceRecord

log = logging.getLogger(__name__)


def require_claim(stores: Stores, task: ScopedKey, service_id: str) -> ClaimedTask:
    """The Task's record and DAG if ``service_id`` holds its claim, else :class:`ClaimLost`.

    A cheap early check (one read) so nothing is uploaded for a lost claim; the
    state store checks again inside each recording write. A claim found held is
    remembered (:meth:`Stores.remember_claim`).
    """
    try:
        claimed = stores.statestore.get_claimed_task(task, service_id)
    except ClaimLost:
        stores.forget_claim(task, service_id)
        raise
    stores.remember_claim(task, service_id, claimed)
    return claimed


def expire_leases(stores: Stores, now: dt.datetime | None = None) -> list[str]:
    """Deregister services silent past the lease; their tasks go back to waiting."""
    now = now or dt.datetime.now(dt.UTC)
    expired = stores.statestore.expire_computeservices(
        now - dt.timedelta(seconds=stores.lease_seconds)
    )
    for identifier in expired:
        log.warning("event=lease_expired service=%s", identifier)
    return expired


def register(
    stores: Stores, service_id: str, protocols: Sequence[str] | None
) -> ComputeServiceRecord:
    """Register a compute service; a registration left by an earlier run is replaced.

    A restarted service with the same identifier knows nothing of its
    predecessor's claims: they are released (to waiting) rather than inherited.
    """
    try:
        released = stores.statestore.deregister_computeservice(service_id)
    except NotFound:
        released = []
    if released:
        log.warning("event=stale_registration service=%s released=%d", service_id, len(released))
    record = stores.statestore.register_computeservice(service_id, protocols)
    log.info("event=service_registered service=%s", service_id)
    return record


def claim(
    stores: Stores,
    service_id: str,
    count: int,
    scopes: Sequence[Scope],
    protocols: Sequence[str] | None,
) -> list[ScopedKey]:
    """Claim up to ``count`` tasks for ``service_id``; the claim counts as a heartbeat.

    Expired leases are released first when a check is due (:meth:`Stores.lease_check_due`).

    Raises:
        NotFound: ``service_id`` is not registered (its lease may have expired).
    """
    if stores.lease_check_due():
        expire_leases(stores)
    if not scopes:
        return []
    return stores.statestore.claim_tasks(service_id, count, scopes, protocols)
