"""The token cache and the /token answer, without HTTP (the HTTP side is in test_base.py)."""

from __future__ import annotations

import threading
import time

import pytest

from alchemiscale_like.client.auth import (
    REFRESH_AT,
    BearerAuth,
    TokenCache,
    read_token_answer,
    token_form,
)
from alchemiscale_like.errors import APIError


class Fetcher:
    """Hands out token-1, token-2, ... each valid until ``refresh_at``."""

    def __init__(self, refresh_at: float = float("inf")) -> None:
        self.count = 0
        self.refresh_at = refresh_at
        self._lock = threading.Lock()

    def __call__(self) -> tuple[str, float]:
        with self._lock:
            self.count += 1
            token = f"token-{self.count}"
        time.sleep(0.05)  # a slow /token: concurrent callers overlap if nothing serializes them
        return token, self.refresh_at


def test_token_is_fetched_once_and_reused() -> None:
    fetch = Fetcher()
    cache = TokenCache(fetch)
    assert fetch.count == 0
    assert cache.current() == cache.current() == "token-1"
    assert fetch.count == 1


def test_concurrent_first_callers_share_one_fetch() -> None:
    fetch = Fetcher()
    cache = TokenCache(fetch)
    seen: list[str] = []
    start = threading.Barrier(8)

    def call() -> None:
        start.wait()
        seen.append(cache.current())

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert seen == ["token-1"] * 8
    assert fetch.count == 1


def test_a_token_past_its_refresh_time_is_fetched_again() -> None:
    fetch = Fetcher(refresh_at=time.monotonic() - 1.0)
    cache = TokenCache(fetch)
    assert cache.current() == "token-1"
    assert cache.current() == "token-2"


def test_forget_drops_only_the_stale_token() -> None:
    fetch = Fetcher()
    cache = TokenCache(fetch)
    stale = cache.current()
    cache.forget(stale)
    fresh = cache.current()
    assert fresh == "token-2"
    cache.forget(stale)  # a second thread reporting the same 401 late
    assert cache.current() == fresh
    assert fetch.count == 2


def test_token_answer_sets_the_refresh_time_from_expires_in() -> None:
    before = time.monotonic()
    token, refresh_at = read_token_answer(
        {"access_token": "abc", "token_type": "bearer", "expires_in": 100}
    )
    after = time.monotonic()
    assert token == "abc"
    assert before + REFRESH_AT * 100 <= refresh_at <= after + REFRESH_AT * 100
    assert read_token_answer({"access_token": "abc"})[1] == float("inf")


@pytest.mark.parametrize("answer", [None, [], {}, {"access_token": ""}, {"access_token": 5}])
def test_token_answer_without_a_token_is_refused(answer: object) -> None:
    with pytest.raises(APIError, match="access_token"):
        read_token_answer(answer)


def test_secrets_stay_out_of_reprs() -> None:
    assert "s3cret" not in repr(BearerAuth("s3cret"))
    assert "s3cret" not in repr(TokenCache(lambda: ("s3cret", 0.0)))
    assert token_form("alice", "p&ss=word") == (
        b"grant_type=password&username=alice&password=p%26ss%3Dword"
    )
