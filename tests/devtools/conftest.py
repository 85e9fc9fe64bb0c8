"""Fixtures of the benchmark smoke tests: the suite's own servers, wiped around each run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import neo4j
import pytest

from devtools.servers.common import REPO_ROOT
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


QuickBench = Callable[[str], tuple[dict[str, Any], int]]


@pytest.fixture
def run_quick_bench(bench_env: dict[str, str]) -> QuickBench:
    """Run ``python -m MODULE --quick --servers-from-env``: its JSON report and exit status.

    The status must be 0 or 1 (targets met or missed; anything else shows the stderr
    tail), and stdout must hold the report and nothing else.
    """

    def run(module: str) -> tuple[dict[str, Any], int]:
        result = subprocess.run(
            [sys.executable, "-m", module, "--quick", "--servers-from-env", "--time-limit", "480"],
            cwd=REPO_ROOT,
            env=bench_env,
            capture_output=True,
            timeout=540,
            check=False,
        )
        stderr_tail = result.stderr.decode(errors="replace")[-4000:]
        assert result.returncode in (0, 1), stderr_tail
        return json.loads(result.stdout), result.returncode

    return run
