"""The claim path of the compute API: lease expiry when due, claims as heartbeats."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from alchemiscale_like.errors import NotFound
from alchemiscale_like.models import Scope
from alchemiscale_like.services import claims
from alchemiscale_like.services.stores import Stores
from alchemiscale_like.storage.objectstore.local import LocalObjectStore
from tests.storage.statestore.conftest import World


def test_lease_checks_are_spaced_out() -> None:
    stores = Stores(None, None, lease_seconds=300.0)  # type: ignore[arg-type]
    assert stores.lease_check_due()
    # The next check is due 5 s later at the earliest; these calls are microseconds apart.
    assert not stores.lease_check_due()
    assert not stores.lease_check_due()


def test_a_tiny_lease_is_checked_on_every_claim() -> None:
    stores = Stores(None, None, lease_seconds=1e-12)  # type: ignore[arg-type]
    assert all(stores.lease_check_due() for _ in range(5))


def test_a_claim_releases_expired_leases_first_when_a_check_is_due(
    statestore, tmp_path: Path
) -> None:
    world = World(statestore, n_tasks=2)
    stale = world.claim_one()
    statestore.register_computeservice("fresh")
    # A lease of one microsecond: the stale service is long past it.
    stores = Stores(statestore, LocalObjectStore(tmp_path), lease_seconds=1e-6)
    # "fresh" claims: the check is due, so "svc-1" (and "fresh", its heartbeat older
    # than a microsecond too) are expired, and the claim finds "fresh" unregistered.
    with pytest.raises(NotFound):
        claims.claim(stores, "fresh", 1, [Scope()], None)
    assert statestore.get_task_status([stale]) == {stale: "waiting"}
    with pytest.raises(NotFound):
        statestore.get_computeservice(world.service)


def test_a_claim_keeps_the_claimant_alive(statestore, tmp_path: Path) -> None:
    world = World(statestore, n_tasks=2)
    stores = Stores(statestore, LocalObjectStore(tmp_path))
    cutoff = dt.datetime.now(dt.UTC)
    assert len(claims.claim(stores, world.service, 1, [Scope()], None)) == 1
    assert statestore.expire_computeservices(cutoff) == []
