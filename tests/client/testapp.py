"""A small FastAPI app that misbehaves on purpose, for driving APIClient over real HTTP.

Every route counts the requests it receives (``state.hits[name]``), so tests can
assert how many attempts the client made.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zstandard
from fastapi import FastAPI, Form, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

IDENTIFIER = "alice"
KEY = "correct-horse-battery-staple"
SHA256_HEADER = "X-Content-SHA256"


@dataclass
class AppState:
    """What the test app saw and holds: hits per route, tokens, stored files."""

    files: Path
    hits: Counter[str] = field(default_factory=Counter)
    tokens_issued: int = 0
    valid_tokens: set[str] = field(default_factory=set)
    #: The Authorization header each request to /presigned carried (None: absent).
    presigned_auth: list[str | None] = field(default_factory=list)
    #: Headers of each upload received.
    upload_headers: list[dict[str, str]] = field(default_factory=list)
    #: Set by a test to let /slow answer (it waits at most 10 s otherwise).
    release_slow: threading.Event = field(default_factory=threading.Event)
    #: The ``expires_in`` /token announces (seconds).
    token_lifetime: int = 3600


def error(status: int, name: str, detail: str, **headers: str) -> JSONResponse:
    """An error body in the contract's shape."""
    return JSONResponse({"error": name, "detail": detail}, status_code=status, headers=headers)


def build_app(state: AppState) -> FastAPI:
    """The test app over ``state``."""
    app = FastAPI()

    def authorized(request: Request) -> bool:
        header = request.headers.get("authorization", "")
        return header.startswith("Bearer ") and header[7:] in state.valid_tokens

    def denied() -> JSONResponse:
        return error(401, "AuthenticationFailed", "missing, expired or forged token")

    @app.post("/token")
    def token(username: str = Form(), password: str = Form()) -> Response:
        state.hits["token"] += 1
        if (username, password) != (IDENTIFIER, KEY):
            return error(401, "AuthenticationFailed", "wrong credentials")
        state.tokens_issued += 1
        issued = f"token-{state.tokens_issued}"
        state.valid_tokens.add(issued)
        return JSONResponse(
            {"access_token": issued, "token_type": "bearer", "expires_in": state.token_lifetime}
        )

    @app.get("/whoami")
    def whoami(request: Request) -> Response:
        state.hits["whoami"] += 1
        if not authorized(request):
            return denied()
        return JSONResponse({"token": request.headers["authorization"][7:]})

    @app.post("/revoke")
    def revoke(request: Request) -> Response:
        """Invalidate every token issued so far (as if they had all expired)."""
        if not authorized(request):
            return denied()
        state.valid_tokens.clear()
        return JSONResponse({"revoked": True})

    @app.get("/always-401")
    def always_401() -> Response:
        state.hits["always-401"] += 1
        return denied()

    @app.get("/flaky/{failures}/{status}")
    def flaky(failures: int, status: int, request: Request) -> Response:
        """Fail ``failures`` times with ``status`` (StoreUnavailable body), then answer."""
        name = f"flaky/{failures}/{status}"
        state.hits[name] += 1
        if not authorized(request):
            return denied()
        if state.hits[name] <= failures:
            return error(status, "StoreUnavailable", "neo4j is restarting")
        return JSONResponse({"attempts": state.hits[name]})

    @app.get("/retry-after/{value}")
    def retry_after(value: str) -> Response:
        """503 with ``Retry-After: value`` the first time, then success."""
        state.hits["retry-after"] += 1
        if state.hits["retry-after"] == 1:
            return error(503, "StoreUnavailable", "busy", **{"Retry-After": value})
        return JSONResponse({"attempts": state.hits["retry-after"]})

    @app.get("/error/{status}/{name}")
    def named_error(status: int, name: str) -> Response:
        state.hits["error"] += 1
        return error(status, name, f"a {name} on purpose")

    @app.get("/not-json/{status}")
    def not_json(status: int) -> Response:
        state.hits["not-json"] += 1
        return Response("<html>bad gateway</html>", status_code=status, media_type="text/html")

    @app.get("/ok-not-json")
    def ok_not_json() -> Response:
        return Response("plain text", media_type="text/plain")

    @app.get("/drop")
    def drop() -> Response:
        """Promise 100 bytes, send 10, then break the connection."""
        state.hits["drop"] += 1

        def broken() -> Any:
            yield b"0123456789"
            raise RuntimeError("dropping the connection on purpose")

        return StreamingResponse(broken(), headers={"Content-Length": "100"})

    @app.get("/slow")
    async def slow() -> Response:
        state.hits["slow"] += 1
        for _ in range(1000):
            if state.release_slow.is_set():
                break
            await asyncio.sleep(0.01)
        return JSONResponse({"slow": True})

    @app.post("/echo")
    @app.put("/echo")
    async def echo(request: Request) -> Response:
        """The JSON body back, with how it was encoded on the wire."""
        state.hits["echo"] += 1
        raw = await request.body()
        encoding = request.headers.get("content-encoding", "identity")
        if encoding == "zstd":
            raw = zstandard.ZstdDecompressor().decompress(raw)
        return JSONResponse(
            {
                "method": request.method,
                "content_encoding": encoding,
                "content_type": request.headers.get("content-type"),
                "body": json.loads(raw),
            }
        )

    @app.delete("/items/{item}")
    def delete_item(item: str, request: Request) -> Response:
        if not authorized(request):
            return denied()
        return Response(status_code=204)

    @app.get("/chain")
    def chain() -> Response:
        return Response(b'[["A-1",{"x":1}]]', media_type="application/json")

    @app.put("/upload/{name}")
    async def upload(name: str, request: Request) -> Response:
        """Stream the body to disk, hashing; refuse a sha256 mismatch (nothing kept)."""
        return await receive_upload(name, request, failures=0)

    @app.put("/upload-flaky/{failures}/{name}")
    async def upload_flaky(failures: int, name: str, request: Request) -> Response:
        """Read the whole body, then answer 503 ``failures`` times before storing it."""
        return await receive_upload(name, request, failures=failures)

    @app.put("/upload-auth-first/{name}")
    async def upload_auth_first(name: str, request: Request) -> Response:
        """Refuse a bad token before reading the body, as an auth dependency does."""
        if not authorized(request):
            state.hits[f"upload/{name}"] += 1
            return denied()
        return await receive_upload(name, request, failures=0)

    async def receive_upload(name: str, request: Request, failures: int) -> Response:
        key = f"upload/{name}"
        state.hits[key] += 1
        target = state.files / name
        partial = target.with_suffix(".part")
        digest = hashlib.sha256()
        size = 0
        # The body is read before any check, so that the client always gets the answer:
        # a server closing a connection with unread data makes the kernel reset it.
        with open(partial, "wb") as out:
            async for chunk in request.stream():
                digest.update(chunk)
                size += len(chunk)
                out.write(chunk)
        if not authorized(request):
            partial.unlink()
            return denied()
        state.upload_headers.append(dict(request.headers))
        claimed = request.headers.get(SHA256_HEADER.lower())
        if claimed is None:
            partial.unlink()
            return error(400, "ValidationError", "X-Content-SHA256 is required")
        if state.hits[key] <= failures:
            partial.unlink()
            return error(503, "StoreUnavailable", "s3 is restarting")
        if digest.hexdigest() != claimed:
            partial.unlink()
            return error(422, "IntegrityError", f"sha256 {digest.hexdigest()} != {claimed}")
        partial.rename(target)
        return JSONResponse(
            {"name": name, "size": size, "sha256": claimed, "location": f"files/{name}"}
        )

    def file_response(name: str, sha256: str | None) -> Response:
        data = (state.files / name).read_bytes()
        headers = {"Content-Length": str(len(data))}
        if sha256 is not None:
            headers[SHA256_HEADER] = sha256
        return Response(data, media_type="application/octet-stream", headers=headers)

    @app.get("/download/{name}")
    def download(name: str, request: Request) -> Response:
        state.hits[f"download/{name}"] += 1
        if not authorized(request):
            return denied()
        if not (state.files / name).exists():
            return error(404, "NotFound", f"no file {name}")
        sha256 = hashlib.sha256((state.files / name).read_bytes()).hexdigest()
        return file_response(name, sha256)

    @app.get("/download-big/{name}")
    def download_big(name: str) -> Response:
        """A file streamed from disk in chunks, for the bounded-memory test."""
        path = state.files / name

        async def chunks() -> AsyncIterator[bytes]:
            with open(path, "rb") as source:
                while chunk := source.read(64 * 1024):
                    yield chunk

        return StreamingResponse(
            chunks(),
            media_type="application/octet-stream",
            headers={
                "Content-Length": str(path.stat().st_size),
                SHA256_HEADER: (state.files / f"{name}.sha256").read_text(),
            },
        )

    @app.get("/download-wrong/{name}")
    def download_wrong(name: str) -> Response:
        state.hits["download-wrong"] += 1
        return file_response(name, "0" * 64)

    @app.get("/download-noheader/{name}")
    def download_noheader(name: str) -> Response:
        return file_response(name, None)

    @app.get("/download-truncated/{name}")
    def download_truncated(name: str) -> Response:
        """Promise the whole file, send half, then break the connection."""
        state.hits["download-truncated"] += 1
        data = (state.files / name).read_bytes()

        def half() -> Any:
            yield data[: len(data) // 2]
            raise RuntimeError("dropping the connection on purpose")

        return StreamingResponse(
            half(),
            headers={
                "Content-Length": str(len(data)),
                SHA256_HEADER: hashlib.sha256(data).hexdigest(),
            },
        )

    @app.get("/redirect/{name}")
    def redirect(name: str, request: Request, redirect: bool = False) -> Response:
        """With ``?redirect=true``: 307 to a presigned-style URL on this server."""
        state.hits["redirect"] += 1
        if not authorized(request):
            return denied()
        if not redirect:
            return error(400, "ValidationError", "expected redirect=true")
        location = str(request.url_for("presigned", name=name)) + "?signature=abc123"
        return Response(status_code=307, headers={"Location": location})

    @app.get("/presigned/{name}")
    def presigned(name: str, request: Request, signature: str = "") -> Response:
        state.hits["presigned"] += 1
        state.presigned_auth.append(request.headers.get("authorization"))
        if signature != "abc123":
            return error(403, "Forbidden", "bad signature")
        if "authorization" in request.headers:
            # S3 refuses a presigned request that also carries an Authorization header.
            return error(400, "ValidationError", "presigned request with Authorization header")
        sha256 = hashlib.sha256((state.files / name).read_bytes()).hexdigest()
        return file_response(name, sha256)

    return app
