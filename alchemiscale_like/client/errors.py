"""Turning an API error response back into the domain error the server raised.

The server answers every error with ``{"error": "<class name>", "detail": "<message>"}``
(see the HTTP contract). The client maps the name back onto a class of
:mod:`alchemiscale_like.errors` through an explicit table, never by importing a
name from the payload, and falls back on the status code when the name is unknown
or the body is not ours (a proxy's HTML page, S3's XML).

The exception raised is both the domain class and a :class:`ResponseError`::

    ResponseError (mixin, carries status_code, error, detail, response)
     ├── NotFound + ResponseError         isinstance(exc, NotFound) is True
     ├── InvalidTransition + ResponseError
     └── ...one per class a response can map to (RESPONSE_ERRORS)
"""

from __future__ import annotations

import json
from typing import Any

import requests

from alchemiscale_like.errors import (
    AlchemiscaleLikeError,
    AlreadyExists,
    APIError,
    APIUnavailable,
    AuthenticationFailed,
    ClaimLost,
    Conflict,
    DAGError,
    Forbidden,
    IntegrityError,
    InvalidScope,
    InvalidTransition,
    KeyMismatch,
    NotFound,
    PayloadTooLarge,
    RequestTimeout,
    StoreUnavailable,
    UnknownClass,
    UnsafeFileName,
    UnsupportedMediaType,
    ValidationError,
)

#: The error names a server may send, and the class each one means on this side.
DOMAIN_ERRORS: dict[str, type[AlchemiscaleLikeError]] = {
    cls.__name__: cls
    for cls in (
        ValidationError,
        UnknownClass,
        KeyMismatch,
        InvalidScope,
        PayloadTooLarge,
        RequestTimeout,
        UnsupportedMediaType,
        UnsafeFileName,
        DAGError,
        NotFound,
        Conflict,
        InvalidTransition,
        ClaimLost,
        AlreadyExists,
        IntegrityError,
        StoreUnavailable,
        AuthenticationFailed,
        Forbidden,
    )
}

#: Status codes with a meaning of their own when the body names no known class.
STATUS_ERRORS: dict[int, type[AlchemiscaleLikeError]] = {
    401: AuthenticationFailed,
    403: Forbidden,
    404: NotFound,
    408: RequestTimeout,
    409: Conflict,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    502: APIUnavailable,
    503: StoreUnavailable,
    504: APIUnavailable,
}

#: At most this much of an error body is read (error bodies are short; a proxy's may not be).
MAX_ERROR_BODY = 64 * 1024


class ResponseError(AlchemiscaleLikeError):
    """An error the API answered with; mixed into the domain class it maps to.

    Attributes:
        status_code: the HTTP status of the response.
        error: the error name the server sent (``""`` when the body named none).
        detail: the server's message (or the start of a body that is not ours).
        response: the response itself (its body already read).
    """

    def __init__(
        self, detail: str, *, status_code: int, error: str, response: requests.Response
    ) -> None:
        super().__init__(f"{detail} (HTTP {status_code})")
        self.status_code = status_code
        self.error = error
        self.detail = detail
        self.response = response


def _with_response(domain: type[AlchemiscaleLikeError]) -> type[ResponseError]:
    """The class that is both ``domain`` and :class:`ResponseError`."""
    return type(
        domain.__name__,
        (ResponseError, domain),
        {"__module__": __name__, "__doc__": f"{domain.__doc__} (answered by the API)"},
    )


#: For each class an error response can map to, the class actually raised.
RESPONSE_ERRORS: dict[type[AlchemiscaleLikeError], type[ResponseError]] = {
    cls: _with_response(cls)
    for cls in (*DOMAIN_ERRORS.values(), *STATUS_ERRORS.values(), ValidationError, APIError)
}


def fallback_class(status_code: int) -> type[AlchemiscaleLikeError]:
    """The domain class for ``status_code`` when the body names no known class."""
    if status_code in STATUS_ERRORS:
        return STATUS_ERRORS[status_code]
    if 400 <= status_code < 500:
        return ValidationError
    return APIError


def error_from_response(response: requests.Response) -> ResponseError:
    """The exception to raise for the non-2xx ``response`` (reads at most its first 64 KiB)."""
    body = _read_capped(response)
    error, detail = _parse_error_body(body)
    domain = DOMAIN_ERRORS.get(error) or fallback_class(response.status_code)
    if not detail:
        detail = body.decode("utf-8", errors="replace").strip()[:500] or response.reason or ""
    return RESPONSE_ERRORS[domain](
        detail, status_code=response.status_code, error=error, response=response
    )


def _parse_error_body(body: bytes) -> tuple[str, str]:
    """``(error, detail)`` from the contract's error body, ``("", "")`` for anything else."""
    try:
        data: Any = json.loads(body)
    except ValueError:
        return "", ""
    if not isinstance(data, dict):
        return "", ""
    error, detail = data.get("error"), data.get("detail")
    if not isinstance(error, str):
        error = ""
    if not isinstance(detail, str):
        # FastAPI's own 422 bodies carry a list of problems as the detail.
        detail = "" if detail is None else json.dumps(detail, ensure_ascii=False)[:2000]
    return error, detail


def _read_capped(response: requests.Response) -> bytes:
    """At most :data:`MAX_ERROR_BODY` bytes of the body, whether it was streamed or not."""
    parts: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(8192):
            parts.append(chunk)
            size += len(chunk)
            if size >= MAX_ERROR_BODY:
                break
    except requests.RequestException:
        pass  # a truncated error body still says enough: the status code decides the class
    finally:
        response.close()
    return b"".join(parts)[:MAX_ERROR_BODY]
