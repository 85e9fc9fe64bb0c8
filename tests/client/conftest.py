"""Fixtures for the client tests: the misbehaving test app served by real uvicorn, and clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from requests.adapters import HTTPAdapter

from alchemiscale_like.client import APIClient
from tests.client.testapp import IDENTIFIER, KEY, AppState, build_app


class CountingAdapter(HTTPAdapter):
    """A real HTTP adapter that records the path of every request it sends."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        self.sent.append(urlsplit(request.url).path)
        return super().send(request, *args, **kwargs)


@pytest.fixture
def app_state(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppState]:
    """The test app's state (its files apart from ``tmp_path``); /slow is released at the end."""
    state = AppState(files=tmp_path_factory.mktemp("served"))
    yield state
    state.release_slow.set()


@pytest.fixture
def base_url(serve_asgi: Callable[[Any], str], app_state: AppState) -> str:
    """The test app, served by uvicorn on 127.0.0.1 for this test."""
    return serve_asgi(build_app(app_state))


@pytest.fixture
def adapter() -> CountingAdapter:
    """The adapter every client of :func:`make_client` sends through."""
    return CountingAdapter()


@pytest.fixture
def make_client(base_url: str, adapter: CountingAdapter) -> Iterator[Callable[..., APIClient]]:
    """Build clients of the test app with tiny retry pauses (closed at the end of the test)."""
    session = requests.Session()
    session.mount("http://", adapter)
    clients: list[APIClient] = []

    def make(**overrides: Any) -> APIClient:
        options: dict[str, Any] = {
            "api_url": base_url,
            "identifier": IDENTIFIER,
            "key": KEY,
            "session": session,
            "backoff": 0.01,
            **overrides,
        }
        client = APIClient(**options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
    session.close()
