"""The one map from domain errors to HTTP responses (conventions.md, habit 12).

Every error body is ``{"error": <class name>, "detail": <message>}``; clients map
the class name back onto :mod:`alchemiscale_like.errors`.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from alchemiscale_like import errors

log = logging.getLogger(__name__)

#: Most specific class first: the first match decides the status code.
STATUS_CODES: tuple[tuple[type[errors.AlchemiscaleLikeError], int], ...] = (
    (errors.PayloadTooLarge, 413),
    (errors.RequestTimeout, 408),
    (errors.UnsupportedMediaType, 415),
    (errors.ValidationError, 400),
    (errors.AuthenticationFailed, 401),
    (errors.Forbidden, 403),
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.IntegrityError, 422),
    (errors.StoreUnavailable, 503),
)

_AUTH_HEADERS = {"WWW-Authenticate": "Bearer"}


def status_code_of(exc: errors.AlchemiscaleLikeError) -> int:
    """The HTTP status code of a domain error (500 for one without a mapping)."""
    for cls, code in STATUS_CODES:
        if isinstance(exc, cls):
            return code
    return 500


def error_response(status: int, error: str, detail: str) -> JSONResponse:
    """A JSON error response in the project's one error shape."""
    headers = _AUTH_HEADERS if status == 401 else None
    return JSONResponse({"error": error, "detail": detail}, status_code=status, headers=headers)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.AlchemiscaleLikeError)
    status = status_code_of(exc)
    if status >= 500:
        log.error("event=request_failed path=%s error=%s", request.url.path, type(exc).__name__)
    return error_response(status, type(exc).__name__, str(exc))


async def _request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', '')}"
        for err in exc.errors()[:10]
    )
    return error_response(422, "ValidationError", f"invalid request: {problems}")


#: The error name of an HTTP error raised by the framework itself (routing, form parsing).
_HTTP_ERROR_NAMES = {
    400: "ValidationError",
    401: "AuthenticationFailed",
    403: "Forbidden",
    404: "NotFound",
    405: "ValidationError",
    408: "RequestTimeout",
    409: "Conflict",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    422: "ValidationError",
    503: "StoreUnavailable",
}


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = exc.status_code
    fallback = "ValidationError" if 400 <= code < 500 else "InternalError"
    return error_response(code, _HTTP_ERROR_NAMES.get(code, fallback), str(exc.detail))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("event=request_crashed path=%s", request.url.path)
    return error_response(500, "InternalError", "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(errors.AlchemiscaleLikeError, _domain_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
