"""Multipart uploads that survive lost parts, lost answers and busy servers.

One upload of a payload goes: CreateMultipartUpload, the parts
(:func:`~.s3_parts.upload_parts`, each part retried on its own), then
CompleteMultipartUpload. What can go wrong, and what is done about it:

* **A part fails** (timeout, dropped connection, 5xx) after botocore's own
  retries: it is sent again, a bounded number of times, with pauses.
* **Completion fails or its answer is lost.** An S3-compatible server may need
  minutes to assemble a big object on a busy disk (S3Proxy copies every part
  before it answers). A client that times out and sends the completion again
  races the first one: the first deletes the parts once the object is
  published, so the second finds them gone and gets ``InvalidPart`` although
  the object is there. So completion goes through a client with a long read
  timeout and no automatic retries, and after any failure we first look: if
  the object now holds our content (sha256 and size), the upload is done.
  Otherwise ``ListParts`` is compared with the parts we sent: parts that are
  missing or differ are sent again from the source file, and completion is
  retried, a bounded number of times.
* **The upload itself is gone** (aborted, expired) or parts cannot be re-read
  (the source is not a regular file): the upload is aborted and done once more
  from the start, with a fresh check of every byte.

Nothing is published unless the bytes sent are the bytes hashed, as for any
write (:class:`~.models.StoredPayload`); abandoned uploads are aborted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import (  # type: ignore[import-untyped,unused-ignore]
    BotoCoreError,
    ClientError,
    HTTPClientError,
)
from botocore.exceptions import (  # type: ignore[import-untyped,unused-ignore]
    ConnectionError as BotoConnectionError,
)

from alchemiscale_like.errors import IntegrityError, StoreUnavailable
from alchemiscale_like.storage.objectstore.models import (
    ObjectInfo,
    StoredPayload,
    WriteMode,
    resolve_existing,
)
from alchemiscale_like.storage.objectstore.s3_errors import boundary, error_code, translate
from alchemiscale_like.storage.objectstore.s3_parts import SentPart, part_window, upload_parts

logger = logging.getLogger(__name__)

#: Pauses before sending a failed part again (after botocore's own retries).
PART_PAUSES = (0.5, 2.0)
#: Pauses before retrying a failed completion (after checking what the server has).
COMPLETE_PAUSES = (0.5, 2.0, 5.0)
#: AWS answers 409 when two conditional writes of one key overlap; retry after these.
CONFLICT_PAUSES = (0.05, 0.1, 0.2, 0.4)
#: Errors after which the same request may succeed later.
_TRANSIENT_CODES = frozenset(
    {
        "RequestTimeout",
        "RequestTimeoutException",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "InternalError",
        "ServiceUnavailable",
        "OperationAborted",
    }
)
_TRANSIENT_BOTOCORE = (BotoConnectionError, HTTPClientError)
_MAX_PARTS = 10_000


class _Restart(Exception):
    """This upload cannot be finished (gone, or parts not re-readable): start a new one."""


def _transient(exc: Exception) -> bool:
    if isinstance(exc, ClientError):
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        return status >= 500 or error_code(exc) in _TRANSIENT_CODES
    return isinstance(exc, _TRANSIENT_BOTOCORE)


def _etag(value: str) -> str:
    return value.strip('"')


class MultipartWriter:
    """Writes payloads to one bucket by multipart upload, recovering as the module says.

    Args:
        client: boto3 S3 client for parts and bookkeeping (botocore retries on).
        completion_client: client for CompleteMultipartUpload: long read timeout,
            no automatic retries (see the module docstring).
        bucket: the bucket.
        stat: the stored object's info at a location, or None if there is none.
    """

    def __init__(
        self,
        client: Any,
        completion_client: Any,
        bucket: str,
        stat: Callable[[str], ObjectInfo | None],
    ) -> None:
        self.client = client
        self.completion_client = completion_client
        self.bucket = bucket
        self.stat = stat

    def write(
        self,
        payload: StoredPayload,
        key: str,
        put_args: dict[str, Any],
        mode: WriteMode,
        *,
        part_size: int,
        max_concurrency: int,
    ) -> ObjectInfo:
        """Upload ``payload`` to ``key`` in parts (``put_args``: metadata, content type...).

        ``part_size`` is raised as needed to fit S3's 10,000 parts; ``max_concurrency``
        parts are in flight at once.

        Raises:
            StoreUnavailable: the upload failed twice, or an error that retrying
                cannot fix (credentials, missing bucket).
            IntegrityError: the source changed while it was being uploaded.
            AlreadyExists: ``mode`` is CREATE and different content got there first.
        """
        location = payload.info.location
        start = payload.source.tell()
        failure: _Restart | None = None
        for _ in range(2):
            if failure is not None:
                logger.warning(
                    "event=s3_multipart_restart bucket=%s key=%s reason=%r",
                    self.bucket,
                    key,
                    str(failure),
                )
                payload.source.seek(start)
            with boundary("start multipart upload", location):
                upload_id = str(
                    self.client.create_multipart_upload(Bucket=self.bucket, Key=key, **put_args)[
                        "UploadId"
                    ]
                )
            upload = _Upload(self, payload, key, upload_id, start)
            try:
                return upload.run(mode, part_size, max_concurrency)
            except _Restart as exc:
                failure = exc
            finally:
                if not upload.completed:
                    self._abort(key, upload_id)
        raise StoreUnavailable(
            f"S3 multipart upload of {location!r} failed twice; last: {failure}"
        ) from failure

    def _abort(self, key: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)
        except (ClientError, BotoCoreError) as exc:
            if isinstance(exc, ClientError) and error_code(exc) == "NoSuchUpload":
                return  # completed after all (an answer we lost), or aborted already
            # The original failure is what the caller needs; the server expires
            # abandoned uploads (lifecycle rule) if this cleanup is lost.
            logger.warning(
                "event=s3_abort_failed bucket=%s key=%s upload_id=%s error=%r",
                self.bucket,
                key,
                upload_id,
                exc,
            )


class _Upload:
    """One multipart upload id of a payload, from its first part to its completion."""

    def __init__(
        self, writer: MultipartWriter, payload: StoredPayload, key: str, upload_id: str, start: int
    ) -> None:
        self._writer = writer
        self._payload = payload
        self._key = key
        self._upload_id = upload_id
        self._start = start
        #: The server answered our CompleteMultipartUpload with success (else: abort it).
        self.completed = False

    def run(self, mode: WriteMode, part_size: int, max_concurrency: int) -> ObjectInfo:
        """Send the parts and complete the upload."""
        part_size = max(part_size, -(-self._payload.stored_size // _MAX_PARTS))
        parts = upload_parts(self._send_part, self._payload, part_size, max_concurrency)
        return self._complete(parts, mode)

    # -- parts -----------------------------------------------------------------------------

    def _send_part(self, number: int, body: Any) -> str:
        """Send one part, again after a transient failure; return its ETag."""
        location = self._payload.info.location
        for pause in (*PART_PAUSES, None):
            if not isinstance(body, bytes):
                body.seek(0)
            try:
                response = self._writer.client.upload_part(
                    Bucket=self._writer.bucket,
                    Key=self._key,
                    UploadId=self._upload_id,
                    PartNumber=number,
                    Body=body,
                )
                return str(response["ETag"])
            except (ClientError, BotoCoreError) as exc:
                if isinstance(exc, ClientError) and error_code(exc) == "NoSuchUpload":
                    raise _Restart(f"the upload vanished while sending part {number}") from exc
                if pause is None or not _transient(exc):
                    raise translate(exc, f"upload of part {number}", location) from exc
                logger.warning(
                    "event=s3_part_retry key=%s part=%d pause=%.1f error=%r",
                    self._key,
                    number,
                    pause,
                    exc,
                )
                time.sleep(pause)
        raise AssertionError("unreachable")  # pragma: no cover

    def _repair(self, parts: list[SentPart]) -> list[SentPart]:
        """Compare the server's ``ListParts`` with ``parts``; send missing or differing ones."""
        listed = self._listed_parts()
        bad = [p for p in parts if listed.get(p.number) != (p.length, _etag(p.etag))]
        if not bad:
            return parts
        logger.warning(
            "event=s3_parts_resent key=%s upload_id=%s parts=%s",
            self._key,
            self._upload_id,
            ",".join(str(p.number) for p in bad),
        )
        repaired = {p.number: p for p in parts}
        for part in bad:
            window = part_window(self._payload.source, self._start, part)
            if window is None:
                raise _Restart(f"part {part.number} was lost and cannot be read again")
            etag = self._send_part(part.number, window)
            repaired[part.number] = SentPart(part.number, part.offset, part.length, etag)
        unchanged = self._payload.unchanged
        if unchanged is not None and not unchanged():
            raise IntegrityError(
                f"{self._payload.info.location}: the file was modified while it was being stored"
            )
        return [repaired[p.number] for p in parts]

    def _listed_parts(self) -> dict[int, tuple[int, str]]:
        """Part number -> (size, ETag) as the server lists them."""
        found: dict[int, tuple[int, str]] = {}
        marker = 0
        location = self._payload.info.location
        while True:
            try:
                page = self._writer.client.list_parts(
                    Bucket=self._writer.bucket,
                    Key=self._key,
                    UploadId=self._upload_id,
                    PartNumberMarker=marker,
                )
            except ClientError as exc:
                if error_code(exc) == "NoSuchUpload":
                    raise _Restart("the upload vanished before it was completed") from exc
                raise translate(exc, "listing of parts", location) from exc
            except BotoCoreError as exc:
                raise translate(exc, "listing of parts", location) from exc
            for entry in page.get("Parts", []):
                found[int(entry["PartNumber"])] = (int(entry["Size"]), _etag(str(entry["ETag"])))
            if not page.get("IsTruncated"):
                return found
            marker = int(page["NextPartNumberMarker"])

    # -- completion ------------------------------------------------------------------------

    def _complete(self, parts: list[SentPart], mode: WriteMode) -> ObjectInfo:
        info = self._payload.info
        condition = {} if mode is WriteMode.OVERWRITE else {"IfNoneMatch": "*"}
        conflicts = iter(CONFLICT_PAUSES)
        pauses = iter(COMPLETE_PAUSES)
        while True:
            try:
                self._writer.completion_client.complete_multipart_upload(
                    Bucket=self._writer.bucket,
                    Key=self._key,
                    UploadId=self._upload_id,
                    MultipartUpload={"Parts": [p.as_completed() for p in parts]},
                    **condition,
                )
                self.completed = True
                return info
            except (ClientError, BotoCoreError) as exc:
                code = error_code(exc) if isinstance(exc, ClientError) else ""
                if code == "PreconditionFailed":
                    settled = self._settled(mode)
                    if settled is None:
                        raise StoreUnavailable(
                            f"S3 write of {info.location!r} was refused because the object "
                            "exists, yet it is not there"
                        ) from exc
                    return settled
                conflict = next(conflicts, None) if code == "ConditionalRequestConflict" else None
                if conflict is not None:
                    time.sleep(conflict)
                    continue
                if code not in ("InvalidPart", "NoSuchUpload") and not _transient(exc):
                    raise translate(exc, "write", info.location) from exc
                failure: Exception = exc
            # The answer may have been lost after the server published the object.
            settled = self._settled(mode)
            if settled is not None:
                logger.warning(
                    "event=s3_complete_recovered key=%s upload_id=%s error=%r",
                    self._key,
                    self._upload_id,
                    failure,
                )
                return settled
            if code == "NoSuchUpload":
                # Not completed by us (checked just above): aborted or expired.
                raise _Restart("the upload vanished before it was completed") from failure
            pause = next(pauses, None)
            if pause is None:
                raise translate(failure, "write", info.location) from failure
            parts = self._repair(parts)
            logger.warning(
                "event=s3_complete_retry key=%s upload_id=%s pause=%.1f error=%r",
                self._key,
                self._upload_id,
                pause,
                failure,
            )
            time.sleep(pause)

    def _settled(self, mode: WriteMode) -> ObjectInfo | None:
        """The write's outcome if what is stored now decides it, else None.

        Our content is there: done. Another writer's content is there: what
        ``mode`` says (kept, or :class:`AlreadyExists`). Nothing there, or when
        overwriting other content than ours: None, the upload must go on.
        """
        info = self._payload.info
        existing = self._writer.stat(info.location)
        if existing is None:
            return None
        if mode is WriteMode.OVERWRITE:
            if (existing.sha256, existing.size) != (info.sha256, info.size):
                return None
            return existing
        return resolve_existing(existing, info, mode)
