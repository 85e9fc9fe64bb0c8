"""Compute-service tests run against the API deployment of tests/server."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from alchemiscale_like import UserClient
from alchemiscale_like.models import Scope
from alchemiscale_like.security.identity import IdentityKind
from alchemiscale_like.services import identities
from tests.server.conftest import Deployment, deployment, module_deployment, objectstore_s3

__all__ = ["Tenant", "deployment", "module_deployment", "objectstore_s3", "tenant"]


@dataclass(frozen=True)
class Tenant:
    """A user and a compute identity alone in a fresh scope of a shared deployment.

    Services of the compute identity can claim only this scope's tasks, so tests that
    share one :func:`module_deployment` never claim each other's leftovers.
    """

    deployment: Deployment
    scope: Scope
    user: str
    user_key: str
    compute: str
    compute_key: str

    def user_client(self) -> UserClient:
        """A UserClient of the tenant's user."""
        return UserClient(self.deployment.user_url, self.user, self.user_key, backoff=0.01)


@pytest.fixture
def tenant(module_deployment: Deployment) -> Tenant:
    """A fresh scope with its own user and compute identity, on the module's deployment."""
    tag = uuid.uuid4().hex[:12]
    scope = Scope.from_str(f"org-campaign-p{tag}")
    found = Tenant(
        module_deployment,
        scope,
        f"user-{tag}",
        f"user-key-{tag}-0123456789",
        f"worker-{tag}",
        f"worker-key-{tag}-0123456789",
    )
    identities.add_identity(
        module_deployment.statestore, IdentityKind.USER, found.user, found.user_key, [str(scope)]
    )
    identities.add_identity(
        module_deployment.statestore,
        IdentityKind.COMPUTE,
        found.compute,
        found.compute_key,
        [str(scope)],
    )
    return found
