"""The serve_app helper: a real uvicorn that answers, then stops and lets go of its port."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import requests
from fastapi import FastAPI

from tests.fixtures.http_server import serve_app

pytestmark = pytest.mark.timeout(120)


def uvicorn_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("uvicorn-")]


def test_serves_then_stops_and_frees_its_port() -> None:
    app = FastAPI()

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {"status": "ok"}

    before = uvicorn_threads()
    with serve_app(app) as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        assert requests.get(f"{base_url}/ping", timeout=30).json() == {"status": "ok"}
        port = int(base_url.rsplit(":", 1)[1])
        assert f"uvicorn-{port}" in uvicorn_threads()
    assert uvicorn_threads() == before
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port)):
        pass


def test_a_request_in_flight_completes_on_exit() -> None:
    app = FastAPI()
    arrived = threading.Event()

    @app.get("/slow")
    async def slow() -> dict[str, bool]:
        arrived.set()
        await asyncio.sleep(0.2)
        return {"done": True}

    answers: list[object] = []
    with serve_app(app) as base_url:

        def call() -> None:
            answers.append(requests.get(f"{base_url}/slow", timeout=30).json())

        caller = threading.Thread(target=call)
        caller.start()
        assert arrived.wait(30)
    caller.join(30)
    assert answers == [{"done": True}]


def test_an_app_that_fails_to_start_raises_and_leaves_no_thread() -> None:
    @asynccontextmanager
    async def broken(app: FastAPI) -> AsyncIterator[None]:
        raise RuntimeError("cannot start on purpose")
        yield

    before = uvicorn_threads()
    with (
        pytest.raises(RuntimeError, match="exited before listening"),
        serve_app(FastAPI(lifespan=broken)),
    ):
        pass
    assert uvicorn_threads() == before
