"""The dashboard app, mounted by the user API under ``/ui``: pages, assets, errors, headers.

A sub-application of its own, so that its errors are HTML pages (the JSON API's
stay JSON), it stays out of the API's OpenAPI document, and its strict security
headers cover every answer it gives. It shares the user API's :class:`AppState`:
the same stores, token settings and identity checks.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alchemiscale_like import __version__, errors
from alchemiscale_like.server.auth import AppState
from alchemiscale_like.server.errors import status_code_of
from alchemiscale_like.server.ui import pages
from alchemiscale_like.server.ui.rendering import render
from alchemiscale_like.server.ui.session import LoginRequired, base_path

log = logging.getLogger(__name__)

HERE = Path(__file__).parent

#: Headers on every dashboard answer: nothing from elsewhere, no framing, no sniffing.
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        b"object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeaders:
    """ASGI middleware adding :data:`SECURITY_HEADERS`, ``no-store`` on pages, and a
    ``Server-Timing: app;dur=<ms>`` header: the time from the request reaching the
    dashboard to its answer starting (shown by a browser's developer tools; the
    dashboard benchmark reads it)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app, adding the headers to its response start."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith(f"{scope.get('root_path', '')}/static/")
        started = time.perf_counter()

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(SECURITY_HEADERS)
                elapsed = (time.perf_counter() - started) * 1000
                headers.append((b"server-timing", f"app;dur={elapsed:.2f}".encode()))
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _wants_fragment(request: Request) -> bool:
    return request.headers.get("x-requested-with") == "fetch"


async def _login_required(request: Request, exc: Exception) -> Response:
    if _wants_fragment(request):
        return PlainTextResponse("login required", status_code=401)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(
        f"{base_path(request)}/login?next={quote(target, safe='')}", status_code=303
    )


def _error_page(request: Request, status: int, title: str, detail: str) -> Response:
    if _wants_fragment(request):
        return PlainTextResponse(detail, status_code=status)
    context: dict[str, Any] = {"title": title, "detail": detail}
    session = getattr(request.state, "ui_session", None)
    if session is not None:
        context.update(session=session, csrf=session.csrf)
    return render(request, "error.html", context, status)


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, errors.AlchemiscaleLikeError)
    status = status_code_of(exc)
    if status >= 500:
        log.error("event=ui_request_failed path=%s error=%s", request.url.path, type(exc).__name__)
    if isinstance(exc, errors.NotFound):
        # The same answer for "does not exist" and "outside your scopes".
        return _error_page(request, 404, "Not found", "There is nothing here, or not for you.")
    return _error_page(request, status, type(exc).__name__, str(exc))


async def _bad_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', '')}"
        for err in exc.errors()[:5]
    )
    return _error_page(request, 400, "Bad request", problems)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    return _error_page(request, exc.status_code, "Error", str(exc.detail))


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("event=ui_request_crashed path=%s", request.url.path)
    return _error_page(request, 500, "Internal error", "The server failed this request.")


def create_ui_app(state: AppState) -> FastAPI:
    """The dashboard on the user API's state (mount it under ``/ui``)."""
    app = FastAPI(
        title="alchemiscale-like dashboard",
        version=__version__,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.alchemiscale = state
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(errors.AlchemiscaleLikeError, _domain_error)
    app.add_exception_handler(RequestValidationError, _bad_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(pages.router)
    return app
