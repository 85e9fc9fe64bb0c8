"""Helpers every router uses: typed bodies within limits, key parsing, raw JSON and streams."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pydantic
from fastapi import Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ConfigDict

from alchemiscale_like.models.resultfile import ResultFile
from alchemiscale_like.models.scope import ScopedKey
from alchemiscale_like.models.tokenization import wrap_validation_error
from alchemiscale_like.server.auth import AppState
from alchemiscale_like.server.body import read_json_body

Body = TypeVar("Body", bound=BaseModel)
T = TypeVar("T")


class RequestBody(BaseModel):
    """Base of request bodies: unknown fields are an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def body_spec(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` documenting a body the route reads itself (see :func:`parse_body`)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


#: ``openapi_extra`` of routes whose body is a keyed chain (a JSON array of [key, object]).
CHAIN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "array",
                        "prefixItems": [{"type": "string"}, {"type": "object"}],
                        "minItems": 2,
                        "maxItems": 2,
                    },
                }
            }
        },
    }
}

#: ``openapi_extra`` of routes whose body is a file's raw bytes.
FILE_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    },
    "parameters": [
        {
            "name": "X-Content-SHA256",
            "in": "header",
            "required": True,
            "schema": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
        }
    ],
}

#: ``responses`` of routes answering with a raw keyed chain.
CHAIN_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/json": {"schema": {"type": "array"}}}}
}

#: ``responses`` of routes answering with a file's bytes.
FILE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/octet-stream": {"schema": {"type": "string"}}}},
    307: {"description": "redirect to a presigned URL (with ?redirect=true)"},
}


async def parse_body(request: Request, state: AppState, model: type[Body]) -> Body:
    """Read the JSON body within the API's limits and validate it as ``model``."""
    data = await read_json_body(request, state.settings)
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        raise wrap_validation_error(model, exc) from exc


async def chain_body(request: Request, state: AppState) -> Any:
    """Read a keyed-chain JSON body within the API's limits (verified by the services)."""
    return await read_json_body(request, state.settings)


async def in_thread(function: Callable[..., T], *args: Any) -> T:
    """Run a blocking store operation off the event loop."""
    return await run_in_threadpool(function, *args)


def scoped_key(text: str) -> ScopedKey:
    """A path parameter as a :class:`ScopedKey` (``InvalidScope`` -> 400)."""
    return ScopedKey.from_str(text)


def keys(texts: list[str]) -> list[ScopedKey]:
    """Body strings as scoped keys, in order."""
    return [ScopedKey.from_str(text) for text in texts]


def raw_json(value: Any) -> Response:
    """A JSON response of a stored value (a keyed chain), sent as it is."""
    body = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return Response(body, media_type="application/json")


def stream(chunks: Iterator[bytes], sha256: str, size: int) -> StreamingResponse:
    """Stream a verified object's bytes with its sha256 and size in the headers."""
    return StreamingResponse(
        chunks,
        media_type="application/octet-stream",
        headers={"X-Content-SHA256": sha256, "Content-Length": str(size)},
    )


def file_response(ref: ResultFile, chunks: Iterator[bytes]) -> StreamingResponse:
    """Stream a recorded result file."""
    return stream(chunks, ref.sha256, ref.size)
