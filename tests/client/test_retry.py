"""Retries over real HTTP (counted in attempts, never timed), and the backoff rules."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from alchemiscale_like.client import APIClient
from alchemiscale_like.client.errors import ResponseError
from alchemiscale_like.client.retry import MAX_DELAY, RetryPolicy, parse_retry_after
from alchemiscale_like.errors import APIUnavailable, NotFound, StoreUnavailable
from tests.client.conftest import CountingAdapter
from tests.client.testapp import IDENTIFIER, KEY, AppState

pytestmark = pytest.mark.timeout(120)

MakeClient = Callable[..., APIClient]


@pytest.mark.parametrize("status", [502, 503, 504])
def test_retryable_statuses_are_retried_until_success(
    make_client: MakeClient, app_state: AppState, status: int
) -> None:
    client = make_client(max_retries=6)
    assert client._get_json(f"/flaky/3/{status}") == {"attempts": 4}
    assert app_state.hits[f"flaky/3/{status}"] == 4


def test_retries_stop_at_max_retries_with_the_servers_error(
    make_client: MakeClient, app_state: AppState
) -> None:
    client = make_client(max_retries=2)
    with pytest.raises(StoreUnavailable) as caught:
        client._get_json("/flaky/10/503")
    assert app_state.hits["flaky/10/503"] == 3
    assert isinstance(caught.value, ResponseError)
    assert caught.value.detail == "neo4j is restarting"


def test_retries_stop_at_max_retry_time(make_client: MakeClient, app_state: AppState) -> None:
    client = make_client(max_retries=100, max_retry_time=0.0)
    with pytest.raises(StoreUnavailable):
        client._get_json("/flaky/10/503")
    assert app_state.hits["flaky/10/503"] == 1


def test_no_retry_on_other_errors(make_client: MakeClient, app_state: AppState) -> None:
    client = make_client(max_retries=6)
    with pytest.raises(NotFound):
        client._get_json("/error/404/NotFound")
    with pytest.raises(ResponseError):
        client._get_json("/error/500/InternalError")
    assert app_state.hits["error"] == 2


def test_retry_after_zero_is_retried(make_client: MakeClient, app_state: AppState) -> None:
    assert make_client()._get_json("/retry-after/0") == {"attempts": 2}


def test_retry_after_in_the_past_is_retried(make_client: MakeClient, app_state: AppState) -> None:
    past = format_datetime(datetime.now(UTC) - timedelta(hours=1), usegmt=True)
    assert make_client()._get_json(f"/retry-after/{past}") == {"attempts": 2}


def test_retry_after_beyond_the_time_budget_gives_up_at_once(
    make_client: MakeClient, app_state: AppState
) -> None:
    client = make_client(max_retries=6, max_retry_time=120.0)
    with pytest.raises(StoreUnavailable):
        client._get_json("/retry-after/3600")
    assert app_state.hits["retry-after"] == 1


def test_dropped_connection_is_retried_then_raises_api_unavailable(
    make_client: MakeClient, app_state: AppState
) -> None:
    client = make_client(max_retries=2)
    with pytest.raises(APIUnavailable, match="ChunkedEncodingError") as caught:
        client._get_json("/drop")
    assert app_state.hits["drop"] == 3
    assert isinstance(caught.value, StoreUnavailable)


def test_read_timeout_is_retried_then_raises_api_unavailable(
    make_client: MakeClient, adapter: CountingAdapter, app_state: AppState
) -> None:
    # /slow answers only when released, long after this read timeout.
    client = make_client(timeout=(10, 0.2), max_retries=1)
    with pytest.raises(APIUnavailable, match="ReadTimeout"):
        client._get_json("/slow")
    assert adapter.sent.count("/slow") == 2


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A port bound on 127.0.0.1 but not listening: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def test_refused_connection_is_retried_then_raises_api_unavailable(refusing_port: int) -> None:
    import requests

    adapter = CountingAdapter()
    with requests.Session() as session:
        session.mount("http://", adapter)
        client = APIClient(
            f"http://127.0.0.1:{refusing_port}",
            IDENTIFIER,
            KEY,
            session=session,
            max_retries=3,
            backoff=0.01,
        )
        with pytest.raises(APIUnavailable, match="ConnectionError"):
            client._get_json("/whoami")
    assert adapter.sent == ["/token"] * 4  # the token request is the one retried


# The backoff rules, with a fake clock: pure, no HTTP.


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_backoff_doubles_with_full_jitter_and_a_cap() -> None:
    budget = RetryPolicy(max_retries=20, max_retry_time=1e9, backoff=0.5).start(Clock())
    for failure in range(1, 21):
        delay = budget.next_delay()
        assert delay is not None
        assert 0.0 <= delay <= min(MAX_DELAY, 0.5 * 2 ** (failure - 1))
    assert budget.next_delay() is None  # the 21st failure: max_retries spent


def test_jitter_spreads_the_pauses() -> None:
    budget = RetryPolicy(max_retries=1000, max_retry_time=1e9, backoff=1000.0).start(Clock())
    delays = {budget.next_delay() for _ in range(50)}
    assert len(delays) > 40  # full jitter, not a fixed schedule


def test_no_retry_may_start_after_max_retry_time() -> None:
    clock = Clock()
    budget = RetryPolicy(max_retries=100, max_retry_time=10.0, backoff=0.0).start(clock)
    clock.now = 9.5
    assert budget.next_delay() == 0.0
    assert budget.next_delay(retry_after=0.4) == 0.4  # starts at 9.9: allowed
    assert budget.next_delay(retry_after=0.6) is None  # would start at 10.1


def test_retry_after_sets_a_floor_on_the_pause() -> None:
    budget = RetryPolicy(max_retries=5, max_retry_time=1e9, backoff=0.01).start(Clock())
    assert budget.next_delay(retry_after=7.0) == 7.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("0", 0.0),
        (" 12 ", 12.0),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),  # in the past
        ("soon", None),
        ("-5", None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = datetime(2015, 10, 21, 7, 28, 0, tzinfo=UTC)
    assert parse_retry_after(value, now=now) == expected
