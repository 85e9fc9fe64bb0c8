"""botocore errors translated into the project's errors, at the S3 boundary."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped,unused-ignore]

from alchemiscale_like.errors import AlchemiscaleLikeError, NotFound, StoreUnavailable

_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})


def error_code(exc: ClientError) -> str:
    """The S3 error code of a ``ClientError`` (``"404"`` for bodiless HEAD answers)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def translate(exc: Exception, action: str, location: str) -> AlchemiscaleLikeError:
    """The project error for a botocore error raised while doing ``action`` on ``location``.

    A missing key becomes :class:`NotFound`; anything else (refused connection,
    timeout, missing bucket, bad credentials, server error) :class:`StoreUnavailable`.
    """
    if isinstance(exc, ClientError):
        code = error_code(exc)
        if code in _MISSING:
            return NotFound(f"object {location} not found")
        message = exc.response.get("Error", {}).get("Message", "")
        return StoreUnavailable(f"S3 {action} of {location!r} failed: {code} {message}".strip())
    return StoreUnavailable(f"S3 {action} of {location!r} failed: {exc}")


@contextmanager
def boundary(action: str, location: str) -> Iterator[None]:
    """Translate botocore errors raised inside the block (``raise ... from exc``)."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        raise translate(exc, action, location) from exc
