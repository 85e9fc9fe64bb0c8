"""File uploads go on to the store while they arrive, and are stored only when whole and right.

A body with a ``Content-Length`` is sent on to S3 part by part as it comes in
(:mod:`alchemiscale_like.server.uploads`); these tests use bodies above the
multipart threshold, so several parts are out before the last byte arrives.
Whatever goes wrong, the stores end as they were and no multipart upload is
left open; a body without a length (chunked) is received first, then stored.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import neo4j
import pytest
import requests

from alchemiscale_like.errors import IntegrityError
from alchemiscale_like.models import ScopedKey
from alchemiscale_like.storage.objectstore.s3 import S3ObjectStore
from tests.fixtures.s3_server import S3TestServer
from tests.server.conftest import Deployment
from tests.server.helpers import (
    TIMEOUT,
    assert_error,
    bearer,
    claimed_with_dag,
    expire_lease,
    snapshot,
    token,
)

MIB = 1 << 20
#: Just above the 16 MiB multipart threshold: three parts at the default part size (8 MiB).
SIZE = 16 * MIB + 11


@pytest.fixture
def big_file(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "big.bin"
    data = os.urandom(SIZE)
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def _open_uploads(d: Deployment, s3_server: S3TestServer) -> list[str]:
    store = d.objectstore
    assert isinstance(store, S3ObjectStore)
    listing = s3_server.client().list_multipart_uploads(
        Bucket=store.bucket, Prefix=f"{store.prefix}/"
    )
    return [upload["Key"] for upload in listing.get("Uploads", [])]


def _chunks(path: Path, size: int = MIB) -> Iterator[bytes]:
    with open(path, "rb") as source:
        while chunk := source.read(size):
            yield chunk


def _put_file(
    d: Deployment, service_id: str, task: ScopedKey, unit: str, body: Any, sha256: str
) -> requests.Response:
    """A raw PUT of ``body`` as result file ``big.bin`` of ``unit``, attempt 1."""
    return requests.put(
        f"{d.compute_url}/computeservice/{service_id}/tasks/{task}/units/{unit}/1/files/big.bin",
        data=body,
        headers={
            **bearer(token(d.compute_url, "worker")),
            "Content-Type": "application/octet-stream",
            "X-Content-SHA256": sha256,
        },
        timeout=TIMEOUT,
    )


def test_a_big_upload_is_stored_whole(
    deployment: Deployment, big_file: tuple[Path, str], s3_server: S3TestServer
) -> None:
    d = deployment
    path, sha = big_file
    task, service, _, dag = claimed_with_dag(d, "big", "big")
    unit = dag.protocol_units[0].key
    stored = service.upload_result_file(task, unit, 1, "big.bin", path, sha)
    assert (stored.sha256, stored.size) == (sha, SIZE)
    assert b"".join(d.objectstore.open_task_file(task, stored.location)) == path.read_bytes()
    # The same upload again (a retry whose answer was lost) is the same file.
    assert service.upload_result_file(task, unit, 1, "big.bin", path, sha) == stored
    assert _open_uploads(d, s3_server) == []


def test_a_big_upload_that_does_not_match_its_sha256_stores_nothing(
    deployment: Deployment,
    big_file: tuple[Path, str],
    s3_server: S3TestServer,
    neo4j_clean_driver: neo4j.Driver,
) -> None:
    d = deployment
    path, _ = big_file
    task, service, _, dag = claimed_with_dag(d, "mismatch", "mismatch")
    before = snapshot(neo4j_clean_driver, d.objectstore)
    with pytest.raises(IntegrityError, match="not the declared"):
        service.upload_result_file(task, dag.protocol_units[0].key, 1, "big.bin", path, "0" * 64)
    with pytest.raises(IntegrityError, match="not the declared"):
        service.upload_checkpoint(task, dag.protocol_units[0].key, "state.bin", path, "1" * 64)
    assert snapshot(neo4j_clean_driver, d.objectstore) == before
    assert _open_uploads(d, s3_server) == []


def test_a_chunked_upload_is_received_then_stored(
    deployment: Deployment, big_file: tuple[Path, str], s3_server: S3TestServer
) -> None:
    d = deployment
    path, sha = big_file
    task, service, _, dag = claimed_with_dag(d, "chunked", "chunked")
    unit = dag.protocol_units[0].key
    answer = _put_file(d, service.service_id, task, unit, _chunks(path), sha)  # sent chunked
    assert answer.status_code == 200, answer.text
    location = answer.json()["location"]
    assert b"".join(d.objectstore.open_task_file(task, location)) == path.read_bytes()
    assert _open_uploads(d, s3_server) == []


def test_a_big_upload_after_the_claim_is_lost_gets_409_and_changes_nothing(
    deployment: Deployment,
    big_file: tuple[Path, str],
    s3_server: S3TestServer,
    neo4j_clean_driver: neo4j.Driver,
) -> None:
    # The store refuses at once, while the body is still coming: the API reads the
    # rest (so the client gets its answer, not a reset connection) and stores nothing.
    d = deployment
    path, sha = big_file
    task, late, _, dag = claimed_with_dag(d, "lost", "lost")
    expire_lease(d, late)
    before = snapshot(neo4j_clean_driver, d.objectstore)
    with open(path, "rb") as body:
        answer = _put_file(d, late.service_id, task, dag.protocol_units[0].key, body, sha)
    assert_error(answer, 409, "ClaimLost")
    assert snapshot(neo4j_clean_driver, d.objectstore) == before
    assert _open_uploads(d, s3_server) == []
