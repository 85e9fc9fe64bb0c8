"""Fixtures of the benchmark smoke tests: the suite's own servers, wiped around each run."""

from __future__ import annotations

import os
from collections.abc import Iterator

import neo4j
import pytest

from tests.fixtures.neo4j_server import WIPE_ALL_DATA, Neo4jTestServer
from tests.fixtures.s3_server import S3TestServer


@pytest.fixture
def bench_env(
    neo4j_server: Neo4jTestServer, neo4j_clean_driver: neo4j.Driver, s3_server: S3TestServer
) -> Iterator[dict[str, str]]:
    """The environment of ``--servers-from-env``: this worker's Neo4j and S3 servers.

    A benchmark leaves its data behind, so the graph is wiped after it too (the S3 data
    sits under the run's own prefix).
    """
    yield {
        **os.environ,
        "NEO4J_URL": neo4j_server.url,
        "NEO4J_USER": neo4j_server.user,
        "NEO4J_PASSWORD": neo4j_server.password,
        "ALCHEMISCALE_LIKE_OBJECTSTORE_BACKEND": "s3",
        "ALCHEMISCALE_LIKE_OBJECTSTORE_ENDPOINT_URL": s3_server.endpoint_url,
        "ALCHEMISCALE_LIKE_OBJECTSTORE_BUCKET": s3_server.bucket,
        "ALCHEMISCALE_LIKE_OBJECTSTORE_REGION": s3_server.region,
        "ALCHEMISCALE_LIKE_OBJECTSTORE_ACCESS_KEY_ID": s3_server.access_key_id,
        "ALCHEMISCALE_LIKE_OBJECTSTORE_SECRET_ACCESS_KEY": s3_server.secret_access_key,
    }
    with neo4j_clean_driver.session() as session:
        session.run(WIPE_ALL_DATA).consume()
