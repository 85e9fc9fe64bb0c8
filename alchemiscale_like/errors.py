"""One exception hierarchy for the whole project.

Every error the project raises on purpose derives from :class:`AlchemiscaleLikeError`.
The server maps these types to HTTP status codes in exactly one place, so a
subclass here is the way to give a failure its own meaning.
"""

from __future__ import annotations


class AlchemiscaleLikeError(Exception):
    """Base class of every error raised on purpose by alchemiscale-like."""


class ValidationError(AlchemiscaleLikeError, ValueError):
    """Input is malformed: bad JSON, wrong keys, illegal values."""


class UnknownClass(ValidationError):
    """A payload names a class that is not in the registry; nothing was imported."""


class KeyMismatch(ValidationError):
    """A key recomputed from an object's JSON differs from the key it claims."""


class InvalidScope(ValidationError):
    """A scope string or scope fields break the scope rules."""


class PayloadTooLarge(ValidationError):
    """A body or a decompressed payload exceeds its size limit."""


class RequestTimeout(ValidationError):
    """A request body stopped arriving (a client that sends too slowly, or not at all)."""


class UnsupportedMediaType(ValidationError):
    """A request body's Content-Type or Content-Encoding is not one the API accepts."""


class UnsafeFileName(ValidationError):
    """A result file name tries path traversal or contains forbidden characters."""


class DAGError(ValidationError):
    """A ProtocolDAG is malformed: a cycle, a missing dependency, a duplicate key."""


class NotFound(AlchemiscaleLikeError, LookupError):
    """The requested object does not exist (or is not visible in the caller's scope)."""


class Conflict(AlchemiscaleLikeError):
    """The request conflicts with the current state."""


class InvalidTransition(Conflict):
    """A Task status change that the transition table forbids; nothing changed."""


class ClaimLost(Conflict):
    """A compute service acted on a Task it no longer holds the claim on."""


class AlreadyExists(Conflict):
    """A write-once object already exists with different content."""


class IntegrityError(AlchemiscaleLikeError):
    """Stored bytes do not match their recorded sha256 or size."""


class StoreUnavailable(AlchemiscaleLikeError):
    """A backing server (Neo4j, S3) cannot be reached or failed mid-operation."""


class AuthenticationFailed(AlchemiscaleLikeError):
    """Credentials are wrong, expired or disabled."""


class Forbidden(AlchemiscaleLikeError):
    """The identity is authenticated but may not touch this object or scope."""


class ExecutionError(AlchemiscaleLikeError):
    """A ProtocolDAG could not be executed to completion."""


class UnitInterrupted(AlchemiscaleLikeError):
    """A unit stopped on request after saving a checkpoint; it is not a failure."""


class APIError(AlchemiscaleLikeError):
    """The API answered with an error it does not name: a 5xx, or an error body that is not ours."""


class APIUnavailable(StoreUnavailable):
    """The API cannot be reached: connection errors, timeouts or 502/504 outlasted the retries."""


def log_token(exc: BaseException) -> str:
    """``exc`` as one quoted ``key=value`` log token: ``'ClassName: message'``.

    A bare ``repr(exc)`` has spaces and parentheses that split the field in the
    structured logs (and in their JSON form); a quoted string stays one value.
    """
    return repr(f"{type(exc).__name__}: {exc}")
