"""A deployment for API tests: both apps under real uvicorn on the worker's Neo4j and S3Proxy."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import neo4j
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
from alchemiscale_like.storage.objectstore.local import LocalObjectStore
from alchemiscale_like.storage.statestore import StateStore
from alchemiscale_like.storage.statestore.sqlite import SQLiteStateStore
from tests.fixtures.http_server import serve_app
from tests.fixtures.neo4j_server import WIPE_ALL_DATA
from tests.fixtures.s3_server import S3TestServer

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


@contextmanager
def deploy(
    store: StateStore, objectstore: ObjectStore, settings: APISettings
) -> Iterator[Deployment]:
    """Add alice, bob, worker and rival-worker to ``store``; serve both apps until exit."""
    for name, kind, scope in (
        ("alice", IdentityKind.USER, SCOPE),
        ("bob", IdentityKind.USER, OTHER_SCOPE),
        ("worker", IdentityKind.COMPUTE, SCOPE),
        ("rival-worker", IdentityKind.COMPUTE, OTHER_SCOPE),
    ):
        identities.add_identity(store, kind, name, KEYS[name], [str(scope)])
    tokens = TokenSettings(secret_key=SECRET)  # type: ignore[arg-type]
    user_app = create_user_app(settings, store, objectstore, tokens)
    compute_app = create_compute_app(settings, store, objectstore, tokens)
    with serve_app(user_app) as user_url, serve_app(compute_app) as compute_url:
        yield Deployment(store, objectstore, user_url, compute_url, tokens)


def _neo4j_s3_deployment(
    request: pytest.FixtureRequest, neo4j_statestore, neo4j_clean_driver, objectstore_s3
) -> Iterator[Deployment]:
    """Fresh stores, alice (user, SCOPE), bob (user, OTHER_SCOPE), worker and rival-worker.

    APISettings overrides come from indirect parametrization:
    ``@pytest.mark.parametrize("deployment", [{"max_body_size": 4096}], indirect=True)``.
    """
    settings = api_settings(**getattr(request, "param", {}))
    with deploy(neo4j_statestore, objectstore_s3, settings) as deployed:
        yield deployed


# The production stores: ``deployment`` in most modules, ``neo4j_s3_deployment`` where a
# module's own ``deployment`` chooses between it and :func:`embedded_deployment`.
deployment = pytest.fixture(_neo4j_s3_deployment, name="deployment")
neo4j_s3_deployment = pytest.fixture(_neo4j_s3_deployment, name="neo4j_s3_deployment")


@pytest.fixture
def embedded_deployment(tmp_path) -> Iterator[Deployment]:
    """Like :func:`deployment`, on the embedded default: SQLite and the local object store."""
    store = SQLiteStateStore(tmp_path / "state.sqlite3")
    store.initialize()
    objectstore = LocalObjectStore(tmp_path / "objects")
    try:
        with deploy(store, objectstore, api_settings()) as deployed:
            yield deployed
    finally:
        store.close()


@pytest.fixture(scope="module")
def module_deployment(
    request: pytest.FixtureRequest,
    neo4j_statestore,
    neo4j_driver: neo4j.Driver,
    s3_server: S3TestServer,
) -> Iterator[Deployment]:
    """Like :func:`deployment`, shared by one module's tests (for tests that change nothing).

    The graph is wiped and the object store gets a fresh prefix when the module starts.
    APISettings overrides come from the module's ``API_SETTINGS`` dict, if it has one.
    A module using this must not also use :func:`deployment`: that one wipes the graph.
    """
    with neo4j_driver.session() as session:
        session.run(WIPE_ALL_DATA).consume()
    objectstore = build_objectstore(s3_server.settings(f"test-{uuid.uuid4().hex}"))
    settings = api_settings(**getattr(request.module, "API_SETTINGS", {}))
    with deploy(neo4j_statestore, objectstore, settings) as deployed:
        yield deployed
