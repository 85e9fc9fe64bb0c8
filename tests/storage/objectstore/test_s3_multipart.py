"""Multipart uploads that lose parts, answers or the whole upload still store the right bytes.

Against the real S3Proxy; the faults come from a client wrapper
(:mod:`tests.storage.objectstore.faults`) or from a second client acting on the
server behind the store's back, as a racing request would.
"""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ConnectionClosedError

from alchemiscale_like.errors import StoreUnavailable
from alchemiscale_like.storage.objectstore.s3 import S3ObjectStore
from tests.fixtures.s3_server import S3TestServer
from tests.storage.objectstore.conftest import TASK, UNIT
from tests.storage.objectstore.faults import Call, FaultyClient, answer_lost, never_sent

MIB = 1 << 20
#: Four parts of 5 MiB (the last one short).
SIZE = 16 * MIB + 123


@pytest.fixture
def client(s3_server: S3TestServer) -> FaultyClient:
    """The store's client (configured like production's), with faults on demand."""
    return FaultyClient(
        s3_server.client(
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"max_attempts": 3, "mode": "standard"},
        )
    )


@pytest.fixture
def store(client: FaultyClient, s3_server: S3TestServer, s3_prefix: str) -> S3ObjectStore:
    return S3ObjectStore(
        client,
        s3_server.bucket,
        s3_prefix,
        part_size=5 * MIB,
        multipart_threshold=5 * MIB,
        max_concurrency=2,
    )


@pytest.fixture
def data() -> bytes:
    return os.urandom(SIZE)


@pytest.fixture
def source(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    return path


def part(number: int) -> Any:
    """A fault filter: calls about part ``number``."""
    return lambda kwargs: kwargs.get("PartNumber") == number


def assert_stored(store: S3ObjectStore, client: FaultyClient, location: str, data: bytes) -> None:
    """``location`` holds ``data`` and no multipart upload is left on the server."""
    assert hashlib.sha256(b"".join(store.open_file(location))).digest() == (
        hashlib.sha256(data).digest()
    )
    uploads = client.real.list_multipart_uploads(Bucket=store.bucket, Prefix=f"{store.prefix}/")
    assert uploads.get("Uploads", []) == []
    assert client.pending == 0  # every injected fault did happen


@pytest.mark.parametrize("fault", [answer_lost, never_sent])
def test_a_failed_part_is_sent_again(
    store: S3ObjectStore, client: FaultyClient, source: Path, data: bytes, fault: Any
) -> None:
    # As if botocore's own retries of part 2 had all failed.
    client.inject("upload_part", fault, when=part(2))
    info = store.put_file(TASK, UNIT, 1, "big.bin", source)
    assert client.calls["upload_part"] == 5  # 4 parts, one of them twice
    assert_stored(store, client, info.location, data)


def test_a_lost_completion_answer_is_recovered(
    store: S3ObjectStore, client: FaultyClient, source: Path, data: bytes
) -> None:
    # The server assembled the object but the client timed out: a second
    # CompleteMultipartUpload would find the parts gone (InvalidPart).
    client.inject("complete_multipart_upload", answer_lost)
    info = store.put_file(TASK, UNIT, 1, "big.bin", source)
    assert client.calls["complete_multipart_upload"] == 1
    assert store.stat(info.location) == info
    assert_stored(store, client, info.location, data)


def replace_part(client: FaultyClient, number: int) -> Any:
    """A fault: another request uploads different bytes as part ``number``, then completion."""

    def fault(call: Call, kwargs: dict[str, Any]) -> Any:
        client.real.upload_part(
            Bucket=kwargs["Bucket"],
            Key=kwargs["Key"],
            UploadId=kwargs["UploadId"],
            PartNumber=number,
            Body=b"x" * (5 * MIB),
        )
        return call(**kwargs)

    return fault


def test_a_part_replaced_on_the_server_is_sent_again(
    store: S3ObjectStore, client: FaultyClient, source: Path, data: bytes
) -> None:
    # The server answers the completion with InvalidPart (part 3's ETag differs);
    # ListParts shows which part, and only that one is sent again.
    client.inject("complete_multipart_upload", replace_part(client, 3))
    info = store.put_file(TASK, UNIT, 1, "big.bin", source)
    assert client.calls["upload_part"] == 5
    assert client.calls["create_multipart_upload"] == 1
    assert_stored(store, client, info.location, data)


def test_a_replaced_part_of_a_stream_restarts_the_upload(
    store: S3ObjectStore, client: FaultyClient, data: bytes
) -> None:
    # From a file object that is not a file on disk a part cannot be read twice
    # without hashing it again: the upload is done once more, from the start.
    client.inject("complete_multipart_upload", replace_part(client, 1))
    info = store.put_checkpoint(TASK, UNIT, "state.chk", io.BytesIO(data))
    assert client.calls["create_multipart_upload"] == 2
    assert store.list_checkpoints(TASK, UNIT)["state.chk"] == info
    assert_stored(store, client, info.location, data)


def abort_first(client: FaultyClient) -> Any:
    """A fault: the upload is aborted (by a lifecycle rule, an operator) before completion."""

    def fault(call: Call, kwargs: dict[str, Any]) -> Any:
        client.real.abort_multipart_upload(
            Bucket=kwargs["Bucket"], Key=kwargs["Key"], UploadId=kwargs["UploadId"]
        )
        return call(**kwargs)

    return fault


def test_a_vanished_upload_is_restarted_once(
    store: S3ObjectStore, client: FaultyClient, source: Path, data: bytes
) -> None:
    client.inject("complete_multipart_upload", abort_first(client))
    info = store.put_file(TASK, UNIT, 1, "big.bin", source)
    assert client.calls["create_multipart_upload"] == 2
    assert client.calls["upload_part"] == 8
    assert_stored(store, client, info.location, data)


def test_an_upload_lost_twice_fails_and_leaves_nothing(
    store: S3ObjectStore, client: FaultyClient, source: Path
) -> None:
    client.inject("complete_multipart_upload", abort_first(client), times=2)
    with pytest.raises(StoreUnavailable, match="failed twice"):
        store.put_file(TASK, UNIT, 1, "big.bin", source)
    assert client.calls["create_multipart_upload"] == 2
    assert list(store.list_objects()) == []  # nothing published
    uploads = client.real.list_multipart_uploads(Bucket=store.bucket, Prefix=f"{store.prefix}/")
    assert uploads.get("Uploads", []) == []


def test_a_part_body_cut_short_is_sent_again_from_its_start(
    store: S3ObjectStore, client: FaultyClient, source: Path, data: bytes
) -> None:
    # botocore itself retries a part whose connection dropped mid-body: it rewinds
    # the body (our FileWindow over the source file) and sends all of it again.
    cut: list[int] = []

    def drop_mid_body(request: Any, **_: Any) -> None:
        if cut or "partNumber=2" not in request.url:
            return
        cut.append(len(request.body.read(MIB)))
        raise ConnectionClosedError(endpoint_url=request.url)

    client.real.meta.events.register_first("before-send.s3.UploadPart", drop_mid_body)
    info = store.put_file(TASK, UNIT, 1, "big.bin", source)
    assert cut == [MIB]
    assert_stored(store, client, info.location, data)
