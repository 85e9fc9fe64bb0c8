"""Reading request bodies within limits: JSON (optionally zstd) and login forms.

Bodies are read incrementally and refused as soon as they pass their limit, so
an oversized or endless body costs at most the limit. zstd bodies are
decompressed in bounded chunks (a zstd bomb stops at the decompressed limit).
File uploads are streamed to the store: see :mod:`~.uploads`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import zstandard
from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alchemiscale_like.errors import (
    PayloadTooLarge,
    RequestTimeout,
    UnsupportedMediaType,
    ValidationError,
)
from alchemiscale_like.models.keyedchain import parse_json
from alchemiscale_like.server.errors import error_response
from alchemiscale_like.server.settings import APISettings

_JSON_TYPES = ("application/json",)
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_CHUNK = 1 << 20
#: Largest form body accepted (the login form of ``POST /token``: an identifier and a key).
MAX_FORM_SIZE = 16 * 1024


def media_type(request: Request) -> str:
    """The request's ``Content-Type`` without parameters, lowercased."""
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def content_encoding(request: Request) -> str:
    """The request's ``Content-Encoding``: ``identity`` or ``zstd`` (else UnsupportedMediaType)."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "zstd"):
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported (use zstd)")
    return encoding


def declared_length(request: Request, limit: int) -> int | None:
    """The request's ``Content-Length`` (None when the body is chunked), within ``limit``.

    Raises:
        ValidationError: not a non-negative integer.
        PayloadTooLarge: over ``limit``.
    """
    declared = request.headers.get("content-length")
    if declared is None:
        return None
    if not declared.isdigit():
        raise ValidationError("Content-Length must be a non-negative integer")
    if int(declared) > limit:
        raise PayloadTooLarge(f"request body of {declared} bytes exceeds the limit of {limit}")
    return int(declared)


async def body_chunks(request: Request, idle_timeout: float) -> AsyncIterator[bytes]:
    """The request's body chunk by chunk, each within ``idle_timeout`` seconds of the last.

    Every body the APIs read comes through here, so a client that stops sending (or
    drips a byte now and then slower than that) cannot hold a request open forever.

    Raises:
        RequestTimeout: no new part of the body arrived within ``idle_timeout``.
    """
    chunks = request.stream().__aiter__()
    while True:
        try:
            chunk = await asyncio.wait_for(chunks.__anext__(), idle_timeout)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise RequestTimeout(
                f"the request body stopped arriving (nothing for {idle_timeout:g} s)"
            ) from None
        yield chunk


async def read_json_body(request: Request, settings: APISettings) -> Any:
    """The request's JSON body, checked for type, size, encoding and nesting.

    Raises:
        UnsupportedMediaType: not ``application/json``, or an unknown Content-Encoding.
        PayloadTooLarge: the body (or its decompressed form) is over its limit.
        ValidationError: malformed JSON or zstd, or nesting too deep.
    """
    if media_type(request) not in _JSON_TYPES:
        raise UnsupportedMediaType("request body must be application/json")
    encoding = content_encoding(request)
    declared_length(request, settings.max_body_size)
    raw = bytearray()
    async for chunk in body_chunks(request, settings.body_idle_timeout):
        raw += chunk
        if len(raw) > settings.max_body_size:
            raise PayloadTooLarge(
                f"request body exceeds the limit of {settings.max_body_size} bytes"
            )
    data = bytes(raw)
    if encoding == "zstd":
        data = _decompress(data, settings.max_decompressed_size)
    try:
        return parse_json(data, settings.max_decompressed_size)
    except ValidationError:
        raise
    except ValueError as exc:
        # json refuses integers longer than sys.get_int_max_str_digits() with a bare
        # ValueError, which parse_json lets through.
        raise ValidationError(f"malformed JSON: {exc}") from exc


def _decompress(data: bytes, limit: int) -> bytes:
    out = bytearray()
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(data)
        with reader:
            while chunk := reader.read(_CHUNK):
                out += chunk
                if len(out) > limit:
                    raise PayloadTooLarge(
                        f"decompressed request body exceeds the limit of {limit} bytes"
                    )
    except zstandard.ZstdError as exc:
        raise ValidationError(f"request body is not valid zstd: {exc}") from exc
    return bytes(out)


class LimitFormBodies:
    """ASGI middleware: a form body over :data:`MAX_FORM_SIZE` is refused (413) as it arrives,
    and one that stops arriving for ``idle_timeout`` seconds is refused (408).

    Starlette parses a form whole before any route code runs, so its size cannot be
    checked in the route: the body is read here, up to the limit, and handed on.
    """

    def __init__(self, app: ASGIApp, idle_timeout: float = 60.0) -> None:
        self.app = app
        self.idle_timeout = idle_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Buffer a form request's body within the limit, then run the app on it."""
        if scope["type"] != "http" or _scope_media_type(scope) not in _FORM_TYPES:
            await self.app(scope, receive, send)
            return
        too_large = error_response(
            413, "PayloadTooLarge", f"form bodies are limited to {MAX_FORM_SIZE} bytes"
        )
        declared = _scope_header(scope, b"content-length")
        if declared.isdigit() and int(declared) > MAX_FORM_SIZE:
            await too_large(scope, receive, send)
            return
        body = bytearray()
        while True:
            try:
                message = await asyncio.wait_for(receive(), self.idle_timeout)
            except TimeoutError:
                stalled = error_response(408, "RequestTimeout", "the request body stopped arriving")
                await stalled(scope, receive, send)
                return
            if message["type"] != "http.request":
                return  # the client went away: there is no one to answer
            body += message.get("body", b"")
            if len(body) > MAX_FORM_SIZE:
                await too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)


def _scope_header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


def _scope_media_type(scope: Scope) -> str:
    return _scope_header(scope, b"content-type").split(";", 1)[0].strip().lower()
