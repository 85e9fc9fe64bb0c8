"""The bearer token of a client: the OAuth2 password form, caching, refresh, auth objects.

The token and the key are secrets: nothing here logs them or puts them in a repr.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import requests
import requests.auth

from alchemiscale_like.errors import APIError

#: A token is refreshed once this fraction of its lifetime has passed, so that a
#: long upload does not start with a token about to expire.
REFRESH_AT = 0.9


class BearerAuth(requests.auth.AuthBase):
    """Sets ``Authorization: Bearer``; as an ``auth=`` object it also keeps ~/.netrc out."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "BearerAuth(<hidden>)"


class NoAuth(requests.auth.AuthBase):
    """Sends no ``Authorization`` at all (a presigned URL carries its own signature)."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers.pop("Authorization", None)
        return request


def token_form(identifier: str, key: str) -> bytes:
    """The body of ``POST /token``: the OAuth2 password form."""
    return urlencode({"grant_type": "password", "username": identifier, "password": key}).encode()


def read_token_answer(answer: Any) -> tuple[str, float]:
    """The token in a ``/token`` answer, and the monotonic time at which to refresh it.

    Raises:
        APIError: the answer carries no token.
    """
    token = answer.get("access_token") if isinstance(answer, dict) else None
    if not isinstance(token, str) or not token:
        raise APIError("POST /token: the answer carries no access_token")
    lifetime = answer.get("expires_in")
    refresh_at = float("inf")
    if isinstance(lifetime, int | float) and lifetime > 0:
        refresh_at = time.monotonic() + REFRESH_AT * lifetime
    return token, refresh_at


class TokenCache:
    """One client's token, shared by its threads: fetched when missing or near expiry.

    Args:
        fetch: gets a new token and its refresh time (see :func:`read_token_answer`).
    """

    def __init__(self, fetch: Callable[[], tuple[str, float]]) -> None:
        self._fetch = fetch
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = threading.Lock()

    def current(self) -> str:
        """The token to send now (fetched first if needed; other threads wait for it)."""
        with self._lock:
            if self._token is None or time.monotonic() >= self._refresh_at:
                self._token, self._refresh_at = self._fetch()
            return self._token

    def forget(self, stale: str) -> None:
        """Drop ``stale`` after a 401, unless another thread has replaced it already."""
        with self._lock:
            if self._token == stale:
                self._token = None

    def __repr__(self) -> str:
        return "TokenCache(<hidden>)"
