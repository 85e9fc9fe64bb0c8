"""The S3 object store (boto3): AWS, MinIO, Ceph, S3Proxy...

An object's sha256, size and encoding travel as user metadata
(``x-amz-meta-sha256`` etc.). Visibility is atomic by S3's own rules: an object
appears only when a single ``PutObject`` or a ``CompleteMultipartUpload``
succeeds. Write-once uses conditional writes (``If-None-Match: *``, supported
by AWS S3, MinIO, recent Ceph and S3Proxy 4); the loser of a race gets ``412``
and compares contents. A server that ignores the header makes write-once
"last writer wins" under a race.

Files above ``multipart_threshold`` are uploaded in parts of ``part_size``
bytes, ``max_concurrency`` at a time, recovering from lost parts and lost
answers (:mod:`.s3_multipart`); nothing is published unless the bytes sent are
the bytes hashed (:class:`~.models.StoredPayload`). Downloads of such files
fetch ranges of that size concurrently (:mod:`.s3_ranges`).

boto3 is imported here only; the package imports this module lazily.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import boto3  # type: ignore[import-untyped,unused-ignore]
import botocore.loaders  # type: ignore[import-untyped,unused-ignore]
import botocore.session  # type: ignore[import-untyped,unused-ignore]
from botocore.config import Config  # type: ignore[import-untyped,unused-ignore]
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped,unused-ignore]

from alchemiscale_like.errors import (
    IntegrityError,
    NotFound,
    StoreUnavailable,
)
from alchemiscale_like.models.compression import DEFAULT_MAX_DECOMPRESSED
from alchemiscale_like.storage.objectstore.base import ObjectStore
from alchemiscale_like.storage.objectstore.layout import check_prefix
from alchemiscale_like.storage.objectstore.models import (
    ListedObject,
    ObjectInfo,
    RawObject,
    StoredPayload,
    WriteMode,
    resolve_existing,
)
from alchemiscale_like.storage.objectstore.s3_errors import boundary, error_code, translate
from alchemiscale_like.storage.objectstore.s3_multipart import CONFLICT_PAUSES, MultipartWriter
from alchemiscale_like.storage.objectstore.s3_ranges import SourceChanged, download_ranges
from alchemiscale_like.storage.objectstore.settings import ObjectStoreSettings

_MIB = 1024 * 1024

# Loading botocore's S3 service model costs 0.1-0.5 s per new session (seconds on a
# busy machine); the parsed model is read-only, so every client shares one loader.
_loader_lock = threading.Lock()
_shared_loader: Any = None


def _loader() -> Any:
    global _shared_loader
    with _loader_lock:
        if _shared_loader is None:
            data_path = botocore.session.Session().get_config_variable("data_path")
            _shared_loader = botocore.loaders.create_loader(data_path)
        return _shared_loader


def build_client(settings: ObjectStoreSettings, **config: Any) -> Any:
    """A boto3 S3 client for ``settings`` (``config`` overrides botocore ``Config`` fields)."""
    secret = settings.secret_access_key
    options: dict[str, Any] = {
        "s3": {"addressing_style": settings.addressing_style},
        "signature_version": "s3v4",
        # Integrity is end to end with our own sha256; botocore's default CRC32
        # trailers (aws-chunked bodies) cost 20-40% of upload throughput against
        # S3Proxy and are not understood by some S3-compatible servers.
        "request_checksum_calculation": "when_required",
        "response_checksum_validation": "when_required",
        # botocore's "max_attempts" counts retries only; "total_max_attempts" counts every try.
        "retries": {"total_max_attempts": settings.max_attempts, "mode": "standard"},
        "connect_timeout": settings.connect_timeout,
        "read_timeout": settings.read_timeout,
        "max_pool_connections": max(10, 2 * settings.max_concurrency),
        **config,
    }
    session = botocore.session.Session()
    session.register_component("data_loader", _loader())
    return boto3.session.Session(botocore_session=session).client(
        "s3",
        endpoint_url=settings.endpoint_url,
        region_name=settings.region,
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=secret.get_secret_value() if secret is not None else None,
        config=Config(**options),
    )


class _BodyReader:
    """A GET response body whose read errors surface as ``StoreUnavailable``."""

    def __init__(self, body: Any, location: str) -> None:
        self._body = body
        self._location = location

    def read(self, size: int = -1, /) -> bytes:
        try:
            return bytes(self._body.read(None if size < 0 else size))
        except (BotoCoreError, OSError) as exc:
            raise StoreUnavailable(f"S3 read of {self._location!r} failed: {exc}") from exc

    def close(self) -> None:
        self._body.close()


def _info_from_metadata(location: str, metadata: dict[str, str]) -> ObjectInfo:
    try:
        return ObjectInfo(
            location=location,
            sha256=metadata["sha256"],
            size=int(metadata["size"]),
            encoding=metadata.get("encoding", "identity"),  # type: ignore[arg-type]
        )
    except (KeyError, ValueError) as exc:
        raise IntegrityError(f"{location}: object lacks valid sha256/size metadata") from exc


class S3ObjectStore(ObjectStore):
    """Object store in an S3 bucket, under an optional key prefix.

    Args:
        client: a boto3 S3 client (thread-safe; shared by upload threads).
        bucket: the bucket; it must exist (see :meth:`check`).
        prefix: key prefix; locations are relative to it. At most
            :data:`~.layout.MAX_PREFIX_LENGTH` characters of the file-name rule's
            segments, so that every location still fits S3's 1024-byte keys.
        part_size: multipart part size in bytes (raised automatically so a file
            fits in 10,000 parts).
        multipart_threshold: stored sizes above this use multipart uploads, and
            downloads of uncompressed files above it fetch ranges concurrently.
        max_concurrency: parts (or ranges) in flight at once.
        max_json_size, spool_dir: see :class:`ObjectStore`.
        completion_client: the client for CompleteMultipartUpload (default:
            ``client``); :meth:`from_settings` gives it a long read timeout and
            no automatic retries (see :mod:`.s3_multipart`).
    """

    def __init__(
        self,
        client: Any,
        bucket: str,
        prefix: str = "",
        *,
        part_size: int = 8 * _MIB,
        multipart_threshold: int = 16 * _MIB,
        max_concurrency: int = 8,
        max_json_size: int = DEFAULT_MAX_DECOMPRESSED,
        spool_dir: Path | None = None,
        completion_client: Any = None,
    ) -> None:
        super().__init__(max_json_size=max_json_size, spool_dir=spool_dir)
        prefix = prefix.strip("/")
        if prefix:
            check_prefix(prefix)
        self._client = client
        self.bucket = bucket
        self.prefix = prefix
        self.part_size = part_size
        self.multipart_threshold = multipart_threshold
        self.max_concurrency = max_concurrency
        self._multipart = MultipartWriter(
            client,
            client if completion_client is None else completion_client,
            bucket,
            self._stat_or_none,
        )

    @classmethod
    def from_settings(cls, settings: ObjectStoreSettings) -> S3ObjectStore:
        """Build the store and its boto3 clients from :class:`ObjectStoreSettings`."""
        completion_client = build_client(
            settings,
            read_timeout=max(settings.read_timeout, settings.completion_timeout),
            retries={"total_max_attempts": 1, "mode": "standard"},
        )
        return cls(
            build_client(settings),
            settings.bucket,
            settings.prefix,
            part_size=settings.part_size,
            multipart_threshold=settings.multipart_threshold,
            max_concurrency=settings.max_concurrency,
            max_json_size=settings.max_json_size,
            spool_dir=settings.spool_dir,
            completion_client=completion_client,
        )

    def __repr__(self) -> str:
        return f"S3ObjectStore(bucket={self.bucket!r}, prefix={self.prefix!r})"

    # -- ObjectStore primitives ------------------------------------------------------------

    def _write(self, payload: StoredPayload, mode: WriteMode) -> ObjectInfo:
        if payload.stored_size <= self.multipart_threshold:
            return self._put_single(payload, mode)
        if mode is not WriteMode.OVERWRITE:
            # A retried upload of a big file: don't send gigabytes to learn it is there.
            existing = self._stat_or_none(payload.info.location)
            if existing is not None:
                return resolve_existing(existing, payload.info, mode)
        return self._multipart.write(
            payload,
            self._key(payload.info.location),
            self._put_args(payload.info),
            mode,
            part_size=self.part_size,
            max_concurrency=self.max_concurrency,
        )

    def _open(self, location: str) -> RawObject:
        with boundary("get", location):
            response = self._client.get_object(Bucket=self.bucket, Key=self._key(location))
        body = response["Body"]
        try:
            info = _info_from_metadata(location, response.get("Metadata", {}))
        except IntegrityError:
            body.close()
            raise
        return RawObject(info=info, stream=_BodyReader(body, location), close=body.close)

    def _download(self, location: str, dest: Path) -> ObjectInfo:
        for _ in range(2):
            with boundary("head", location):
                head = self._client.head_object(Bucket=self.bucket, Key=self._key(location))
            info = _info_from_metadata(location, head.get("Metadata", {}))
            stored_size = int(head["ContentLength"])
            if info.encoding != "identity" or stored_size <= self.multipart_threshold:
                return super()._download(location, dest)
            if stored_size != info.size:
                raise IntegrityError(
                    f"{location}: content has {stored_size} bytes, {info.size} recorded"
                )
            fetch = partial(self._fetch_range, location, str(head["ETag"]))
            try:
                download_ranges(
                    fetch,
                    dest,
                    location=location,
                    size=stored_size,
                    sha256=info.sha256,
                    part_size=self.part_size,
                    max_concurrency=self.max_concurrency,
                )
                return info
            except SourceChanged:
                continue  # a checkpoint replaced while we read it: read the new one
        raise StoreUnavailable(f"S3 object {location!r} kept changing while being downloaded")

    def _fetch_range(self, location: str, etag: str, start: int, end: int) -> _BodyReader:
        """Bytes ``start`` to ``end - 1`` of ``location``, provided its ETag is still ``etag``."""
        try:
            response = self._client.get_object(
                Bucket=self.bucket,
                Key=self._key(location),
                Range=f"bytes={start}-{end - 1}",
                IfMatch=etag,
            )
        except ClientError as exc:
            if error_code(exc) == "PreconditionFailed":
                raise SourceChanged(location) from exc
            raise translate(exc, "get", location) from exc
        except BotoCoreError as exc:
            raise translate(exc, "get", location) from exc
        body = response["Body"]
        if not str(response.get("ContentRange", "")).startswith(f"bytes {start}-"):
            body.close()
            raise StoreUnavailable(f"S3 server ignored the Range of a GET of {location!r}")
        return _BodyReader(body, location)

    def _stat(self, location: str) -> ObjectInfo:
        with boundary("head", location):
            response = self._client.head_object(Bucket=self.bucket, Key=self._key(location))
        return _info_from_metadata(location, response.get("Metadata", {}))

    def _exists(self, location: str) -> bool:
        return self._stat_or_none(location) is not None

    def _list(self, prefix: str, page_size: int) -> Iterator[ListedObject]:
        strip = len(self._key(""))
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(
            Bucket=self.bucket, Prefix=self._key(prefix), PaginationConfig={"PageSize": page_size}
        )
        with boundary("list", prefix):
            for page in pages:
                for entry in page.get("Contents", []):
                    yield ListedObject(location=entry["Key"][strip:], stored_size=entry["Size"])

    def _delete(self, location: str) -> None:
        with boundary("delete", location):
            self._client.delete_object(Bucket=self.bucket, Key=self._key(location))

    def _delete_prefix(self, prefix: str) -> int:
        count = 0
        batch: list[dict[str, str]] = []
        for entry in self._list(prefix, 1000):
            batch.append({"Key": self._key(entry.location)})
            if len(batch) == 1000:
                count += self._delete_batch(batch, prefix)
                batch = []
        if batch:
            count += self._delete_batch(batch, prefix)
        return count

    def _presigned_url(self, location: str, expires: int) -> str:
        with boundary("presign", location):
            return str(
                self._client.generate_presigned_url(
                    "get_object",
                    Params={"Bucket": self.bucket, "Key": self._key(location)},
                    ExpiresIn=expires,
                )
            )

    def check(self) -> None:
        """Check the bucket is reachable and writable (writes and deletes a probe object)."""
        probe = self._key(f".check/{uuid.uuid4().hex}")
        try:
            self._client.head_bucket(Bucket=self.bucket)
            self._client.put_object(Bucket=self.bucket, Key=probe, Body=b"check")
            self._client.delete_object(Bucket=self.bucket, Key=probe)
        except ClientError as exc:
            code = error_code(exc)
            reason = "does not exist" if code in ("404", "NoSuchBucket") else f"failed: {code}"
            raise StoreUnavailable(
                f"S3 bucket {self.bucket!r} at {self._client.meta.endpoint_url} {reason}"
            ) from exc
        except BotoCoreError as exc:
            raise StoreUnavailable(
                f"S3 bucket {self.bucket!r} at {self._client.meta.endpoint_url} is "
                f"unreachable: {exc}"
            ) from exc

    # -- helpers ---------------------------------------------------------------------------

    def _key(self, location: str) -> str:
        return f"{self.prefix}/{location}" if self.prefix else location

    def _stat_or_none(self, location: str) -> ObjectInfo | None:
        try:
            return self._stat(location)
        except NotFound:
            return None

    def _put_args(self, info: ObjectInfo) -> dict[str, Any]:
        args: dict[str, Any] = {
            "Metadata": {"sha256": info.sha256, "size": str(info.size), "encoding": info.encoding},
            "ContentType": "application/octet-stream",
        }
        if info.encoding == "zstd":
            args["ContentEncoding"] = "zstd"
        return args

    def _conditional(
        self, send: Callable[[dict[str, str]], object], info: ObjectInfo, mode: WriteMode
    ) -> ObjectInfo:
        """Run a publishing request, with ``If-None-Match: *`` unless overwriting.

        ``send`` gets the extra request arguments. Returns the stored object's info.
        """
        condition = {} if mode is WriteMode.OVERWRITE else {"IfNoneMatch": "*"}
        for pause in (*CONFLICT_PAUSES, None):
            try:
                send(condition)
                return info
            except ClientError as exc:
                code = error_code(exc)
                if code == "PreconditionFailed":
                    return resolve_existing(self._stat(info.location), info, mode)
                if code == "ConditionalRequestConflict" and pause is not None:
                    time.sleep(pause)
                    continue
                raise translate(exc, "write", info.location) from exc
            except BotoCoreError as exc:
                raise translate(exc, "write", info.location) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _put_single(self, payload: StoredPayload, mode: WriteMode) -> ObjectInfo:
        info = payload.info
        body = payload.source.read(payload.stored_size)
        sent = payload.tracker()
        sent.update(body)
        sent.check()

        def send(condition: dict[str, str]) -> None:
            self._client.put_object(
                Bucket=self.bucket,
                Key=self._key(info.location),
                Body=body,
                **self._put_args(info),
                **condition,
            )

        return self._conditional(send, info, mode)

    def _delete_batch(self, batch: list[dict[str, str]], prefix: str) -> int:
        with boundary("delete", prefix):
            response = self._client.delete_objects(
                Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
            )
        errors = response.get("Errors", [])
        if errors:
            first = errors[0]
            raise StoreUnavailable(
                f"S3 delete under {prefix!r} failed for {len(errors)} objects, e.g. "
                f"{first.get('Key')}: {first.get('Code')} {first.get('Message')}"
            )
        return len(batch)
