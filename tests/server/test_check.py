"""``GET /check``: 200 with both stores up, else 503 naming only the store that is down.

The route is public (a health probe), so its answer must not repeat the stores' own
messages: they carry endpoints and bucket names.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from alchemiscale_like.security.tokens import TokenSettings
from alchemiscale_like.server.compute_api import create_compute_app
from alchemiscale_like.server.user_api import create_user_app
from alchemiscale_like.storage.objectstore import build_objectstore
from alchemiscale_like.storage.objectstore.local import LocalObjectStore
from alchemiscale_like.storage.statestore.neo4j import Neo4jStateStore
from devtools.servers.common import free_port
from tests.fixtures.http_server import serve_app
from tests.fixtures.s3_server import S3TestServer
from tests.server.conftest import SECRET, api_settings

APPS = [create_user_app, create_compute_app]
HIDDEN_BUCKET = "bucket-name-that-must-not-leak"


def check(
    factory: Callable[..., object], statestore: object, objectstore: object
) -> requests.Response:
    tokens = TokenSettings(secret_key=SECRET)  # type: ignore[arg-type]
    app = factory(api_settings(), statestore, objectstore, tokens)
    with serve_app(app) as url:
        return requests.get(f"{url}/check", timeout=60)


@pytest.mark.parametrize("factory", APPS)
def test_check_is_ok_when_both_stores_answer(factory, neo4j_statestore, tmp_path: Path) -> None:
    answer = check(factory, neo4j_statestore, LocalObjectStore(tmp_path))
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok"}


@pytest.mark.parametrize("factory", APPS)
def test_a_down_state_store_is_named_without_its_address(factory, tmp_path: Path) -> None:
    port = free_port()
    store = Neo4jStateStore(f"bolt://127.0.0.1:{port}", password="secret-password")
    try:
        answer = check(factory, store, LocalObjectStore(tmp_path))
    finally:
        store.close()
    assert answer.status_code == 503
    assert answer.json() == {
        "error": "StoreUnavailable",
        "detail": "the state store is unavailable",
    }
    assert str(port) not in answer.text


@pytest.mark.parametrize("factory", APPS)
def test_a_down_object_store_is_named_without_its_bucket(
    factory, neo4j_statestore, s3_server: S3TestServer
) -> None:
    port = free_port()
    settings = s3_server.settings(
        endpoint_url=f"http://127.0.0.1:{port}",
        bucket=HIDDEN_BUCKET,
        max_attempts=1,
        connect_timeout=1,
    )
    answer = check(factory, neo4j_statestore, build_objectstore(settings))
    assert answer.status_code == 503
    assert answer.json() == {
        "error": "StoreUnavailable",
        "detail": "the object store is unavailable",
    }
    assert HIDDEN_BUCKET not in answer.text
    assert str(port) not in answer.text
