"""Object store settings (environment variables ``ALCHEMISCALE_LIKE_OBJECTSTORE_*``).

Example, pointing at an S3-compatible server::

    ALCHEMISCALE_LIKE_OBJECTSTORE_BACKEND=s3
    ALCHEMISCALE_LIKE_OBJECTSTORE_ENDPOINT_URL=http://127.0.0.1:9090
    ALCHEMISCALE_LIKE_OBJECTSTORE_BUCKET=alchemiscale-like
    ALCHEMISCALE_LIKE_OBJECTSTORE_ACCESS_KEY_ID=...
    ALCHEMISCALE_LIKE_OBJECTSTORE_SECRET_ACCESS_KEY=...

``python -m devtools.services s3 up`` prints exactly these for the dev server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from alchemiscale_like.models.compression import DEFAULT_MAX_DECOMPRESSED
from alchemiscale_like.storage.objectstore.base import ObjectStore

_MIB = 1024 * 1024


class ObjectStoreSettings(BaseSettings):
    """Which object store to use and how to reach it (each field: ``..._<NAME>``)."""

    model_config = SettingsConfigDict(
        env_prefix="ALCHEMISCALE_LIKE_OBJECTSTORE_", extra="ignore", use_attribute_docstrings=True
    )

    backend: Literal["local", "s3"] = "local"
    """'local' (a folder; the embedded default) or 's3'."""
    max_json_size: Annotated[int, Field(gt=0)] = DEFAULT_MAX_DECOMPRESSED
    """Largest structured object accepted or read, in bytes of JSON."""

    # -- local backend
    path: Path = Path("alchemiscale-like-data/objects")
    """Root folder of the local store."""
    local_url_base: str = "/objectstore"
    """API route that serves local objects behind presigned URLs."""
    local_signing_key: SecretStr | None = None
    """HMAC key of local presigned URLs, shared by all API processes (default: random)."""

    # -- s3 backend
    endpoint_url: str | None = None
    """S3 endpoint, e.g. http://127.0.0.1:9090; None means AWS."""
    bucket: str = "alchemiscale-like"
    """Bucket holding every object (must exist)."""
    prefix: str = ""
    """Key prefix inside the bucket."""
    region: str = "us-east-1"
    """Region used for request signing."""
    access_key_id: str | None = None
    """Access key id; None uses boto3's default credential chain."""
    secret_access_key: SecretStr | None = None
    """Secret access key."""
    addressing_style: Literal["path", "virtual", "auto"] = "path"
    """Bucket addressing; 'path' works with every S3-compatible server."""
    part_size: Annotated[int, Field(ge=5 * _MIB)] = 8 * _MIB
    """Multipart part size in bytes (S3's minimum is 5 MiB)."""
    multipart_threshold: Annotated[int, Field(ge=5 * _MIB)] = 16 * _MIB
    """Stored sizes above this are uploaded in parts."""
    max_concurrency: Annotated[int, Field(ge=1)] = 8
    """Parts uploaded at once (from a non-file source each is held in memory)."""
    connect_timeout: Annotated[float, Field(gt=0)] = 10.0
    """Seconds to wait for a connection."""
    read_timeout: Annotated[float, Field(gt=0)] = 60.0
    """Seconds to wait for data on a connection."""
    completion_timeout: Annotated[float, Field(gt=0)] = 600.0
    """Seconds to wait for the answer to completing a multipart upload: servers that
    assemble the object first (S3Proxy, MinIO) can take minutes on a busy disk."""
    max_attempts: Annotated[int, Field(ge=1)] = 5
    """Attempts per request, retries included (botocore standard retry mode)."""
    spool_dir: Path | None = None
    """Where compressed uploads are spooled (default: the system temporary folder)."""


def build_objectstore(settings: ObjectStoreSettings | None = None) -> ObjectStore:
    """Build the object store ``settings`` describe (read from the environment if omitted).

    The S3 backend (and boto3) is imported only when asked for, so a compute node
    without boto3 can still use the local store.
    """
    settings = settings if settings is not None else ObjectStoreSettings()
    if settings.backend == "s3":
        from alchemiscale_like.storage.objectstore.s3 import S3ObjectStore

        return S3ObjectStore.from_settings(settings)
    from alchemiscale_like.storage.objectstore.local import LocalObjectStore

    key = settings.local_signing_key
    return LocalObjectStore(
        settings.path,
        url_base=settings.local_url_base,
        signing_key=key.get_secret_value().encode() if key is not None else None,
        max_json_size=settings.max_json_size,
    )
