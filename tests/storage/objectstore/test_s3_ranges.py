"""Large S3 downloads by concurrent ranges: verified, resumed, pinned to one object version."""

from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError

from alchemiscale_like.errors import IntegrityError
from alchemiscale_like.storage.objectstore.s3 import S3ObjectStore
from tests.fixtures.s3_server import S3TestServer
from tests.storage.objectstore.conftest import TASK, UNIT, flip_first_byte
from tests.storage.objectstore.faults import Call, FaultyClient

MIB = 1 << 20
#: Four ranges of 5 MiB (the last one short).
SIZE = 16 * MIB + 123


@pytest.fixture
def client(s3_server: S3TestServer) -> FaultyClient:
    return FaultyClient(
        s3_server.client(
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
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
        max_concurrency=3,
    )


def ranges_asked(client: FaultyClient) -> int:
    return client.calls["get_object"]


def test_a_large_file_is_downloaded_by_ranges(
    store: S3ObjectStore, client: FaultyClient, tmp_path: Path
) -> None:
    data = os.urandom(SIZE)
    info = store.put_file(TASK, UNIT, 1, "big.bin", io.BytesIO(data))
    dest = tmp_path / "out" / "big.bin"
    assert store.download_file(info.location, dest) == info
    assert dest.read_bytes() == data
    assert ranges_asked(client) == 4
    assert os.listdir(dest.parent) == ["big.bin"]


def test_a_compressed_large_file_is_streamed_whole(
    store: S3ObjectStore, client: FaultyClient, tmp_path: Path
) -> None:
    data = os.urandom(SIZE)
    info = store.put_file(TASK, UNIT, 1, "big.bin", io.BytesIO(data), compress=True)
    assert store.download_file(info.location, tmp_path / "big.bin") == info
    assert (tmp_path / "big.bin").read_bytes() == data
    assert ranges_asked(client) == 1  # zstd: one stream, decompressed in order


def cut_after_one_read(call: Call, kwargs: dict[str, Any]) -> Any:
    """A fault: the answer's body breaks after its first read (a dropped connection)."""
    response = call(**kwargs)
    body = response["Body"]

    class Broken:
        reads = 0

        def read(self, size: int | None = None) -> bytes:
            self.reads += 1
            if self.reads > 1:
                raise ReadTimeoutError(endpoint_url="http://s3/injected-mid-body")
            return bytes(body.read(size))

        def close(self) -> None:
            body.close()

    response["Body"] = Broken()
    return response


def test_a_range_cut_short_is_resumed_where_it_stopped(
    store: S3ObjectStore, client: FaultyClient, tmp_path: Path
) -> None:
    data = os.urandom(SIZE)
    info = store.put_file(TASK, UNIT, 1, "big.bin", io.BytesIO(data))
    client.inject(
        "get_object", cut_after_one_read, when=lambda kw: kw["Range"] == "bytes=0-5242879"
    )
    store.download_file(info.location, tmp_path / "big.bin")
    assert (tmp_path / "big.bin").read_bytes() == data
    asked = [kwargs["Range"] for method, kwargs in client.history if method == "get_object"]
    assert "bytes=1048576-5242879" in asked  # the first range, from its second MiB on
    assert client.pending == 0


def test_an_object_replaced_during_the_download_is_downloaded_again(
    store: S3ObjectStore, client: FaultyClient, tmp_path: Path
) -> None:
    old, new = os.urandom(SIZE), os.urandom(SIZE)
    store.put_checkpoint(TASK, UNIT, "state.chk", io.BytesIO(old))

    def replace_first(call: Call, kwargs: dict[str, Any]) -> Any:
        store.put_checkpoint(TASK, UNIT, "state.chk", io.BytesIO(new))
        return call(**kwargs)  # If-Match on the old ETag: 412

    client.inject("get_object", replace_first, when=lambda kw: kw["Range"].startswith("bytes=5"))
    info = store.get_checkpoint(TASK, UNIT, "state.chk", tmp_path / "state.chk")
    assert info.sha256 == hashlib.sha256(new).hexdigest()
    assert (tmp_path / "state.chk").read_bytes() == new
    assert os.listdir(tmp_path) == ["state.chk"]


def test_corrupt_large_file_is_refused_and_leaves_nothing(
    store: S3ObjectStore, s3_server: S3TestServer, tmp_path: Path
) -> None:
    data = os.urandom(SIZE)
    info = store.put_file(TASK, UNIT, 1, "big.bin", io.BytesIO(data))
    raw = s3_server.client()
    key = f"{store.prefix}/{info.location}"
    metadata = raw.head_object(Bucket=s3_server.bucket, Key=key)["Metadata"]
    raw.put_object(Bucket=s3_server.bucket, Key=key, Body=flip_first_byte(data), Metadata=metadata)
    dest = tmp_path / "out" / "big.bin"
    dest.parent.mkdir()
    dest.write_bytes(b"previous")
    with pytest.raises(IntegrityError, match="sha256"):
        store.download_file(info.location, dest)
    assert dest.read_bytes() == b"previous"
    assert os.listdir(dest.parent) == ["big.bin"]
