"""APIClient over real HTTP: the token, JSON helpers, secrets kept out of logs, closing."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
import requests

from alchemiscale_like.client import APIClient
from alchemiscale_like.client.errors import ResponseError
from alchemiscale_like.errors import APIError, AuthenticationFailed, ValidationError
from tests.client.conftest import CountingAdapter
from tests.client.testapp import IDENTIFIER, KEY, AppState

pytestmark = pytest.mark.timeout(120)

MakeClient = Callable[..., APIClient]


def test_token_is_fetched_on_first_request_and_reused(
    make_client: MakeClient, app_state: AppState
) -> None:
    client = make_client()
    assert app_state.hits["token"] == 0  # nothing is sent before the first request

    assert client._get_json("/whoami") == {"token": "token-1"}
    assert client._get_json("/whoami") == {"token": "token-1"}
    assert app_state.tokens_issued == 1


def test_401_refreshes_the_token_once_and_resends(
    make_client: MakeClient, app_state: AppState
) -> None:
    client = make_client()
    client._get_json("/whoami")
    client._post_json("/revoke", {})  # token-1 is now refused, as if expired

    assert client._get_json("/whoami") == {"token": "token-2"}
    assert app_state.tokens_issued == 2
    assert app_state.hits["whoami"] == 3  # ok, refused, ok after the refresh


def test_a_second_401_is_raised_after_one_refresh(
    make_client: MakeClient, app_state: AppState
) -> None:
    client = make_client()
    with pytest.raises(AuthenticationFailed) as caught:
        client._get_json("/always-401")

    assert app_state.hits["always-401"] == 2
    assert app_state.tokens_issued == 2
    assert isinstance(caught.value, ResponseError)
    assert caught.value.status_code == 401


def test_wrong_key_raises_authentication_failed_without_retrying(
    make_client: MakeClient, app_state: AppState
) -> None:
    client = make_client(key="wrong")
    with pytest.raises(AuthenticationFailed, match="wrong credentials"):
        client._get_json("/whoami")
    assert app_state.hits["token"] == 1
    assert app_state.hits["whoami"] == 0


def test_key_and_token_never_reach_logs_or_repr(
    make_client: MakeClient, app_state: AppState, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client()
    with caplog.at_level(logging.DEBUG):
        client._get_json("/flaky/2/503")  # retries are logged
        client._post_json("/revoke", {})
        client._get_json("/whoami")  # a refresh is logged
        with pytest.raises(AuthenticationFailed):
            client._get_json("/always-401")
    assert "event=api_retry" in caplog.text
    assert "event=api_token_refresh" in caplog.text
    for secret in (KEY, "token-1", "token-2", "token-3"):
        assert secret not in caplog.text
        assert secret not in repr(client)
    assert repr(client) == f"APIClient(api_url={client.api_url!r}, identifier={IDENTIFIER!r})"


def test_post_and_put_json_send_plain_or_zstd_bodies(make_client: MakeClient) -> None:
    client = make_client()
    body = {"network": ["Zürich", 1, 2.5, None, {"nested": True}]}

    plain = client._post_json("/echo", body)
    assert plain["body"] == body
    assert plain["content_encoding"] == "identity"
    assert plain["content_type"] == "application/json"

    compressed = client._post_json("/echo", body, compress=True)
    assert compressed["body"] == body
    assert compressed["content_encoding"] == "zstd"

    assert client._put_json("/echo", body)["method"] == "PUT"


def test_body_that_is_not_json_is_refused_before_sending(
    make_client: MakeClient, app_state: AppState
) -> None:
    client = make_client()
    with pytest.raises(ValidationError, match="cannot be sent as JSON"):
        client._post_json("/echo", {"value": float("nan")})
    with pytest.raises(ValidationError, match="cannot be sent as JSON"):
        client._post_json("/echo", {"value": object()})
    assert app_state.hits["echo"] == 0


def test_delete_get_raw_and_answers_that_are_not_json(make_client: MakeClient) -> None:
    client = make_client()
    assert client._delete("/items/x") is None  # 204, no body
    assert client._get_raw("/chain") == b'[["A-1",{"x":1}]]'
    with pytest.raises(APIError, match="not JSON"):
        client._get_json("/ok-not-json")


@pytest.mark.parametrize("url", ["127.0.0.1:8000", "ftp://host/", "http://", "not a url"])
def test_api_url_must_be_http(url: str) -> None:
    with pytest.raises(ValidationError, match="http"):
        APIClient(url, IDENTIFIER, KEY)


def test_negative_retry_settings_are_refused() -> None:
    with pytest.raises(ValidationError, match="negative"):
        APIClient("http://127.0.0.1:1", IDENTIFIER, KEY, max_retries=-1)


def test_close_closes_only_the_clients_own_session(base_url: str) -> None:
    def open_pools(session: requests.Session) -> int:
        adapter: Any = session.get_adapter(base_url)
        return len(adapter.poolmanager.pools)

    with APIClient(base_url, IDENTIFIER, KEY) as own:
        own._get_json("/whoami")
        assert open_pools(own._session) == 1
    assert open_pools(own._session) == 0

    injected = requests.Session()
    injected.mount("http://", CountingAdapter())
    with APIClient(base_url, IDENTIFIER, KEY, session=injected) as borrowing:
        borrowing._get_json("/whoami")
    assert open_pools(injected) == 1  # still the caller's to use and close
    injected.close()
