"""The ``backend`` fixture: each conformance test runs against the local store and S3Proxy.

A :class:`Backend` bundles a fresh store with the means to tamper with it
behind its back (corrupt stored bytes keeping the metadata, plant an object
without metadata) and to find debris a failed write left behind.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from alchemiscale_like.models.scope import ScopedKey
from alchemiscale_like.storage.objectstore import LocalObjectStore, ObjectStore
from alchemiscale_like.storage.objectstore.local import FOOTER_SIZE, TMP_DIR
from alchemiscale_like.storage.objectstore.s3 import S3ObjectStore, build_client
from tests.fixtures.s3_server import S3TestServer

TASK = ScopedKey.from_str(f"Task-{'a' * 32}-org-campaign-project")
OTHER_TASK = ScopedKey.from_str(f"Task-{'b' * 32}-org-campaign-project")
UNIT = f"ProtocolUnit-{'c' * 32}"


def flip_first_byte(data: bytes) -> bytes:
    """Same length, one bit different."""
    return bytes([data[0] ^ 0x01]) + data[1:]


@dataclass
class Backend:
    """A store under test plus backend-specific ways to misbehave behind its back."""

    name: str
    store: ObjectStore
    _rewrite: Callable[[str, Callable[[bytes], bytes]], None]
    _plant: Callable[[str, bytes], None]
    _leftovers: Callable[[], list[str]]

    def tamper(self, location: str, mutate: Callable[[bytes], bytes] = flip_first_byte) -> None:
        """Replace the stored bytes of ``location`` by ``mutate(stored)``, metadata kept."""
        self._rewrite(location, mutate)

    def plant_without_metadata(self, location: str, data: bytes) -> None:
        """Create ``location`` holding ``data`` but no sha256/size metadata."""
        self._plant(location, data)

    def leftovers(self) -> list[str]:
        """Temporary files or unfinished multipart uploads left in the store."""
        return self._leftovers()


def _local_backend(root: Path) -> Backend:
    store = LocalObjectStore(root)

    def rewrite(location: str, mutate: Callable[[bytes], bytes]) -> None:
        path = root / location
        data = path.read_bytes()
        path.write_bytes(mutate(data[:-FOOTER_SIZE]) + data[-FOOTER_SIZE:])

    def plant(location: str, data: bytes) -> None:
        (root / location).parent.mkdir(parents=True, exist_ok=True)
        (root / location).write_bytes(data)

    def leftovers() -> list[str]:
        tmp = root / TMP_DIR
        return sorted(os.listdir(tmp)) if tmp.exists() else []

    return Backend("local", store, rewrite, plant, leftovers)


def _s3_backend(server: S3TestServer, prefix: str) -> Backend:
    settings = server.settings(prefix)
    store = S3ObjectStore.from_settings(settings)
    # A second client only for the tests that go behind the store's back (most don't).
    client = cache(lambda: build_client(settings))

    def rewrite(location: str, mutate: Callable[[bytes], bytes]) -> None:
        key = f"{prefix}/{location}"
        response = client().get_object(Bucket=server.bucket, Key=key)
        extra: dict[str, Any] = {"Metadata": response["Metadata"]}
        if response.get("ContentEncoding"):
            extra["ContentEncoding"] = response["ContentEncoding"]
        client().put_object(
            Bucket=server.bucket, Key=key, Body=mutate(response["Body"].read()), **extra
        )

    def plant(location: str, data: bytes) -> None:
        client().put_object(Bucket=server.bucket, Key=f"{prefix}/{location}", Body=data)

    def leftovers() -> list[str]:
        response = client().list_multipart_uploads(Bucket=server.bucket, Prefix=f"{prefix}/")
        return [upload["Key"] for upload in response.get("Uploads", [])]

    return Backend("s3", store, rewrite, plant, leftovers)


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """A fresh, empty store of each backend (S3: a unique prefix in the session bucket)."""
    if request.param == "local":
        return _local_backend(tmp_path / "store")
    server: S3TestServer = request.getfixturevalue("s3_server")
    prefix: str = request.getfixturevalue("s3_prefix")
    return _s3_backend(server, prefix)


@pytest.fixture
def objectstore(backend: Backend) -> ObjectStore:
    """The store of :func:`backend`."""
    return backend.store
