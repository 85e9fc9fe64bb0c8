"""A deployment for API tests: both apps under real uvicorn on the worker's Neo4j and S3Proxy."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from alchemiscale_like.models import Scope
from alchemiscale_like.security.identity import IdentityKind
from alchemiscale_like.security.tokens import TokenSettings
from alchemiscale_like.server.compute_api import create_compute_app
from alchemiscale_like.server.settings import APISettings
from alchemiscale_like.server.user_api import create_user_app
from alchemiscale_like.services import identities
from alchemiscale_like.services.stores import Stores
from alchemiscale_like.storage.objectstore import ObjectStore, build_objectstore
from alchemiscale_like.storage.statestore import StateStore
from tests.fixtures.http_server import serve_app

SCOPE = Scope.from_str("org-campaign-project")
OTHER_SCOPE = Scope.from_str("rival-campaign-project")
SECRET = "test-secret-" + "x" * 40
KEYS = {
    "alice": "alice-key-0123456789abcdef",
    "bob": "bob-key-0123456789abcdef00",
    "worker": "worker-key-0123456789abcdef",
    "rival-worker": "rival-worker-key-0123456789",
}


@dataclass
class Deployment:
    """Both APIs serving one pair of stores, with identities in two scopes."""

    statestore: StateStore
    objectstore: ObjectStore
    user_url: str
    compute_url: str
    tokens: TokenSettings

    @property
    def stores(self) -> Stores:
        return Stores(self.statestore, self.objectstore)


def api_settings(**overrides: object) -> APISettings:
    return APISettings(**overrides)  # type: ignore[arg-type]


@pytest.fixture
def objectstore_s3(s3_settings) -> ObjectStore:
    return build_objectstore(s3_settings)


@pytest.fixture
def deployment(neo4j_statestore, neo4j_clean_driver, objectstore_s3) -> Iterator[Deployment]:
    """Fresh stores, alice (user, SCOPE), bob (user, OTHER_SCOPE), worker and rival-worker."""
    store = neo4j_statestore
    for name, kind, scope in (
        ("alice", IdentityKind.USER, SCOPE),
        ("bob", IdentityKind.USER, OTHER_SCOPE),
        ("worker", IdentityKind.COMPUTE, SCOPE),
        ("rival-worker", IdentityKind.COMPUTE, OTHER_SCOPE),
    ):
        identities.add_identity(store, kind, name, KEYS[name], [str(scope)])
    tokens = TokenSettings(secret_key=SECRET)  # type: ignore[arg-type]
    settings = api_settings()
    user_app = create_user_app(settings, store, objectstore_s3, tokens)
    compute_app = create_compute_app(settings, store, objectstore_s3, tokens)
    with serve_app(user_app) as user_url, serve_app(compute_app) as compute_url:
        yield Deployment(store, objectstore_s3, user_url, compute_url, tokens)
