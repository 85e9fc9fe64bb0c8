"""S3-only behaviour: presigned URLs, multipart, metadata on the wire, unreachable servers."""

from __future__ import annotations

import hashlib
import io
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import zstandard

from alchemiscale_like.errors import AlreadyExists, NotFound, StoreUnavailable, UnsafeFileName
from alchemiscale_like.storage.objectstore import build_objectstore
from alchemiscale_like.storage.objectstore.layout import (
    MAX_LOCATION_LENGTH,
    MAX_PREFIX_LENGTH,
    task_prefix,
)
from alchemiscale_like.storage.objectstore.s3 import S3ObjectStore
from devtools.servers.common import free_port
from tests.fixtures.s3_server import S3TestServer
from tests.storage.objectstore.conftest import TASK, UNIT

MIB = 1 << 20


@pytest.fixture
def store(s3_server: S3TestServer, s3_prefix: str) -> S3ObjectStore:
    return S3ObjectStore.from_settings(s3_server.settings(s3_prefix))


def test_presigned_url_serves_the_file(store: S3ObjectStore) -> None:
    data = os.urandom(3 * MIB)
    info = store.put_file(TASK, UNIT, 1, "traj.dcd", io.BytesIO(data))
    response = requests.get(store.presigned_url(info.location, expires=60), timeout=30)
    assert response.status_code == 200
    assert response.content == data
    assert response.headers["x-amz-meta-sha256"] == info.sha256


def test_presigned_url_of_compressed_file(store: S3ObjectStore) -> None:
    data = b"ATOM      1  N   ALA A   1\n" * 5000
    info = store.put_file(TASK, UNIT, 1, "system.pdb", io.BytesIO(data))
    response = requests.get(store.presigned_url(info.location), timeout=30, stream=True)
    assert response.status_code == 200
    assert response.headers["Content-Encoding"] == "zstd"
    stored = response.raw.read(decode_content=False)
    assert zstandard.ZstdDecompressor().decompressobj().decompress(stored) == data


def test_presigned_url_expires(store: S3ObjectStore) -> None:
    info = store.put_file(TASK, UNIT, 1, "x.bin", io.BytesIO(b"x"))
    url = store.presigned_url(info.location, expires=1)
    time.sleep(2.1)
    assert requests.get(url, timeout=30).status_code == 403


def test_metadata_travels_with_the_object(store: S3ObjectStore, s3_server: S3TestServer) -> None:
    info = store.put_dag(TASK, {"units": ["u"]})
    head = s3_server.client().head_object(
        Bucket=s3_server.bucket, Key=f"{store.prefix}/{info.location}"
    )
    assert head["Metadata"] == {"sha256": info.sha256, "size": str(info.size), "encoding": "zstd"}
    assert head["ContentEncoding"] == "zstd"


def test_the_longest_location_under_the_longest_prefix_is_a_valid_s3_key(
    s3_server: S3TestServer, s3_prefix: str
) -> None:
    # S3 keys are at most 1024 bytes: prefix, "/", location.
    assert MAX_PREFIX_LENGTH + 1 + MAX_LOCATION_LENGTH == 1024
    prefix = s3_prefix + "/" + "p" * (MAX_PREFIX_LENGTH - len(s3_prefix) - 1)
    store = S3ObjectStore.from_settings(s3_server.settings(prefix))
    room = MAX_LOCATION_LENGTH - len(task_prefix(TASK))
    full_segments = (room - 1) // 200
    relpath = ("r" * 199 + "/") * full_segments + "s" * (room - 200 * full_segments)
    info = store.put_task_file(TASK, relpath, io.BytesIO(b"longest"))
    assert len(f"{store.prefix}/{info.location}".encode()) == 1024
    head = s3_server.client().head_object(
        Bucket=s3_server.bucket, Key=f"{store.prefix}/{info.location}"
    )
    assert head["Metadata"]["sha256"] == info.sha256
    assert b"".join(store.open_task_file(TASK, relpath)) == b"longest"
    with pytest.raises(UnsafeFileName):
        store.put_task_file(TASK, relpath + "s", io.BytesIO(b"too long"))
    with pytest.raises(UnsafeFileName):
        store.stat(info.location + "s")


@pytest.mark.parametrize(
    "prefix", ["p" * (MAX_PREFIX_LENGTH + 1), "a/../b", "ü", "a b", "a\\b", "a//b"]
)
def test_unsafe_or_long_prefixes_are_refused(s3_server: S3TestServer, prefix: str) -> None:
    with pytest.raises(UnsafeFileName):
        S3ObjectStore.from_settings(s3_server.settings(prefix))


def test_large_files_use_multipart_and_stay_write_once(
    s3_server: S3TestServer, s3_prefix: str, tmp_path: Path
) -> None:
    store = S3ObjectStore.from_settings(
        s3_server.settings(s3_prefix, part_size=5 * MIB, multipart_threshold=5 * MIB)
    )
    data = os.urandom(11 * MIB)
    source = tmp_path / "big.bin"
    source.write_bytes(data)
    info = store.put_file(TASK, UNIT, 1, "big.bin", source)
    key = f"{store.prefix}/{info.location}"
    head = s3_server.client().head_object(Bucket=s3_server.bucket, Key=key)
    assert head["ETag"].endswith('-3"')  # 5 + 5 + 1 MiB parts
    assert store.put_file(TASK, UNIT, 1, "big.bin", source) == info
    source.write_bytes(data[:-1] + b"!")
    with pytest.raises(AlreadyExists):
        store.put_file(TASK, UNIT, 1, "big.bin", source)
    assert hashlib.sha256(b"".join(store.open_file(info.location))).hexdigest() == info.sha256
    # A checkpoint may be replaced, also by multipart.
    store.put_checkpoint(TASK, UNIT, "state.chk", io.BytesIO(data))
    replaced = store.put_checkpoint(TASK, UNIT, "state.chk", source)
    assert store.list_checkpoints(TASK, UNIT)["state.chk"] == replaced
    client = s3_server.client()
    uploads = client.list_multipart_uploads(Bucket=s3_server.bucket, Prefix=store.prefix)
    assert uploads.get("Uploads", []) == []


class DroppingServer:
    """A TCP listener on 127.0.0.1 that closes every connection at once, counting them."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            self.connections += 1
            connection.close()

    def close(self) -> None:
        self._socket.close()


@pytest.fixture
def dropping_server() -> Iterator[DroppingServer]:
    server = DroppingServer()
    yield server
    server.close()


def test_unreachable_server_raises_store_unavailable(s3_server: S3TestServer) -> None:
    settings = s3_server.settings(
        "x", endpoint_url=f"http://127.0.0.1:{free_port()}", max_attempts=1, connect_timeout=1
    )
    store = build_objectstore(settings)
    for call in [
        lambda: store.put_object(f"Thing-{'0' * 32}", {}),
        lambda: store.get_object(f"Thing-{'0' * 32}"),
        lambda: store.put_file(TASK, UNIT, 1, "f.bin", io.BytesIO(b"f")),
        lambda: list(store.list_objects()),
        store.check,
    ]:
        with pytest.raises(StoreUnavailable) as caught:
            call()
        assert caught.value.__cause__ is not None


@pytest.mark.parametrize("max_attempts", [1, 3])
def test_a_failing_server_is_tried_a_bounded_number_of_times(
    s3_server: S3TestServer, dropping_server: DroppingServer, max_attempts: int
) -> None:
    """Every call tries exactly ``max_attempts`` times, then gives up (botocore's own
    ``max_attempts`` would try once more: it counts retries only)."""
    settings = s3_server.settings(
        "x",
        endpoint_url=f"http://127.0.0.1:{dropping_server.port}",
        max_attempts=max_attempts,
        connect_timeout=5,
    )
    store = build_objectstore(settings)
    for call in [
        lambda: store.put_object(f"Thing-{'0' * 32}", {}),
        lambda: store.get_object(f"Thing-{'0' * 32}"),
        lambda: store.put_file(TASK, UNIT, 1, "f.bin", io.BytesIO(b"f")),
        lambda: list(store.list_objects()),
        store.check,
    ]:
        before = dropping_server.connections
        with pytest.raises(StoreUnavailable):
            call()
        assert dropping_server.connections - before == max_attempts


def test_check_reports_a_missing_bucket(s3_server: S3TestServer) -> None:
    store = build_objectstore(s3_server.settings(bucket="no-such-bucket"))
    with pytest.raises(StoreUnavailable, match="no-such-bucket"):
        store.check()


def test_wrong_credentials(s3_server: S3TestServer) -> None:
    store = build_objectstore(s3_server.settings(secret_access_key="wrong", max_attempts=1))
    with pytest.raises(StoreUnavailable):
        store.check()
    with pytest.raises((StoreUnavailable, NotFound)):
        store.get_object(f"Thing-{'0' * 32}")
