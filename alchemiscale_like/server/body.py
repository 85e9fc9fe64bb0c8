"""Reading request bodies within limits: JSON (optionally zstd) and streamed file uploads.

Bodies are read incrementally and refused as soon as they pass their limit, so
an oversized or endless body costs at most the limit. zstd bodies are
decompressed in bounded chunks (a zstd bomb stops at the decompressed limit).
File uploads are spooled to disk while hashed: never held in memory.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import zstandard
from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alchemiscale_like.errors import (
    IntegrityError,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationError,
)
from alchemiscale_like.models.keyedchain import parse_json
from alchemiscale_like.models.patterns import is_sha256
from alchemiscale_like.server.errors import error_response
from alchemiscale_like.server.settings import APISettings

_JSON_TYPES = ("application/json",)
_FILE_TYPES = ("application/octet-stream",)
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_CHUNK = 1 << 20
#: Largest form body accepted (the login form of ``POST /token``: an identifier and a key).
MAX_FORM_SIZE = 16 * 1024


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def _encoding(request: Request) -> str:
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "zstd"):
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported (use zstd)")
    return encoding


def _declared_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length")
    if declared is None:
        return
    if not declared.isdigit():
        raise ValidationError("Content-Length must be a non-negative integer")
    if int(declared) > limit:
        raise PayloadTooLarge(f"request body of {declared} bytes exceeds the limit of {limit}")


async def read_json_body(request: Request, settings: APISettings) -> Any:
    """The request's JSON body, checked for type, size, encoding and nesting.

    Raises:
        UnsupportedMediaType: not ``application/json``, or an unknown Content-Encoding.
        PayloadTooLarge: the body (or its decompressed form) is over its limit.
        ValidationError: malformed JSON or zstd, or nesting too deep.
    """
    if _media_type(request) not in _JSON_TYPES:
        raise UnsupportedMediaType("request body must be application/json")
    encoding = _encoding(request)
    _declared_length(request, settings.max_body_size)
    raw = bytearray()
    async for chunk in request.stream():
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


def declared_sha256(request: Request) -> str:
    """The ``X-Content-SHA256`` header (required on uploads)."""
    value = request.headers.get("x-content-sha256", "")
    if not is_sha256(value):
        raise ValidationError("uploads need an X-Content-SHA256 header of 64 lowercase hex digits")
    return value


@dataclass(frozen=True)
class Upload:
    """A spooled upload whose bytes matched their declared sha256 (file rewound)."""

    file: IO[bytes]
    sha256: str
    size: int

    def close(self) -> None:
        """Delete the spool file."""
        self.file.close()


async def spool_upload(request: Request, settings: APISettings) -> Upload:
    """Stream a file upload to a spool file, checking its declared sha256.

    The caller closes the returned :class:`Upload` (which deletes the spool file).

    Raises:
        UnsupportedMediaType: not ``application/octet-stream`` (or an encoding).
        PayloadTooLarge: over ``max_file_size``.
        IntegrityError: the bytes do not hash to the declared sha256.
    """
    if _media_type(request) not in _FILE_TYPES:
        raise UnsupportedMediaType("file uploads must be application/octet-stream")
    if _encoding(request) != "identity":
        raise UnsupportedMediaType("file uploads are sent as they are (no Content-Encoding)")
    sha256 = declared_sha256(request)
    _declared_length(request, settings.max_file_size)
    spool_dir = Path(settings.spool_dir) if settings.spool_dir is not None else None
    spool = tempfile.TemporaryFile(prefix="upload-", dir=spool_dir)  # noqa: SIM115
    try:
        digest = hashlib.sha256()
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > settings.max_file_size:
                raise PayloadTooLarge(f"upload exceeds the limit of {settings.max_file_size} bytes")
            digest.update(chunk)
            spool.write(chunk)
        if digest.hexdigest() != sha256:
            raise IntegrityError(
                f"uploaded bytes hash to {digest.hexdigest()}, not the declared {sha256}"
            )
        spool.flush()
        spool.seek(0)
        return Upload(spool, sha256, size)
    except BaseException:
        spool.close()
        raise


class LimitFormBodies:
    """ASGI middleware: a form body over :data:`MAX_FORM_SIZE` is refused (413) as it arrives.

    Starlette parses a form whole before any route code runs, so its size cannot be
    checked in the route: the body is read here, up to the limit, and handed on.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

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
            message = await receive()
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
