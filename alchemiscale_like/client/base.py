"""The shared base of the API clients: auth, retries, domain errors, streamed transfers.

:class:`APIClient` speaks the HTTP contract of both APIs (user and compute):
it fetches a bearer token lazily from ``POST /token`` and refreshes it once when
a request is refused with 401; it retries connection errors, timeouts and
502/503/504 with exponential backoff and full jitter (see :mod:`.retry`); it
raises the server's own error class for any other error (see :mod:`.errors`);
and it streams uploads and downloads in bounded chunks, verified by sha256
(see :mod:`.transfer`). ``UserClient`` and ``ComputeClient`` add the routes.
"""

from __future__ import annotations

import logging
import time
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Self
from urllib.parse import urljoin, urlsplit

import requests

from alchemiscale_like.client.auth import (
    BearerAuth,
    NoAuth,
    TokenCache,
    read_token_answer,
    token_form,
)
from alchemiscale_like.client.errors import error_from_response
from alchemiscale_like.client.retry import (
    RETRYABLE_STATUS,
    RetryBudget,
    RetryPolicy,
    is_retryable,
    parse_retry_after,
)
from alchemiscale_like.client.transfer import (
    SHA256_HEADER,
    BytesBody,
    FileBody,
    Progress,
    RequestBody,
    expected_digest,
    json_body,
    json_of,
    verified_chunks,
)
from alchemiscale_like.errors import APIError, APIUnavailable, ValidationError
from alchemiscale_like.storage.objectstore.transfer import write_atomically

logger = logging.getLogger(__name__)

try:
    _USER_AGENT = f"alchemiscale-like/{metadata.version('alchemiscale-like')}"
except metadata.PackageNotFoundError:  # running from a source tree that was never installed
    _USER_AGENT = "alchemiscale-like"


class APIClient:
    """An authenticated, retrying HTTP client of one alchemiscale-like API.

    Args:
        api_url: base URL of the API, e.g. ``http://127.0.0.1:8000``.
        identifier: the identity's identifier (the OAuth2 username).
        key: the identity's secret key (the OAuth2 password); never logged.
        session: a ``requests.Session`` to send through (tests and the in-process
            quickstart mount adapters on one); the caller keeps it and closes it.
            By default the client makes its own and closes it in :meth:`close`.
        timeout: seconds, or ``(connect, read)`` seconds, for each send.
        max_retries: retries of one request after its first send.
        max_retry_time: no retry starts later than this many seconds after the first send.
        backoff: upper bound of the first pause between sends; it doubles each retry.
        verify: TLS verification, as in requests (False, or a CA bundle path).

    Every request raises, on failure, either the server's error class mixed with
    :class:`~alchemiscale_like.client.errors.ResponseError` (``isinstance(exc,
    NotFound)``; ``exc.status_code``, ``exc.error``, ``exc.detail``,
    ``exc.response``), or :class:`~alchemiscale_like.errors.APIUnavailable` (a
    ``StoreUnavailable``) when the API could not be reached within the retries.

    Raises:
        ValidationError: ``api_url`` is not an http(s) URL, or a retry setting is negative.
    """

    def __init__(
        self,
        api_url: str,
        identifier: str,
        key: str,
        *,
        session: requests.Session | None = None,
        timeout: float | tuple[float, float] = (10, 300),
        max_retries: int = 6,
        max_retry_time: float = 120.0,
        backoff: float = 0.5,
        verify: bool | str = True,
    ) -> None:
        parts = urlsplit(api_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValidationError(f"api_url must be an http(s) URL, not {api_url!r}")
        try:
            self._retry = RetryPolicy(max_retries, max_retry_time, backoff)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc
        self.api_url = api_url.rstrip("/")
        self.identifier = identifier
        self._key = key
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        self._timeout = timeout
        self._verify = verify
        self._tokens = TokenCache(self._fetch_token)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(api_url={self.api_url!r}, identifier={self.identifier!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the client's own session (an injected one stays open: it is the caller's)."""
        if self._owns_session:
            self._session.close()

    # Helpers for the concrete clients -------------------------------------------------

    def _get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """``GET path`` and the JSON it answers."""
        return json_of(self._request("GET", self._url(path), params=params))

    def _post_json(
        self,
        path: str,
        body: Any,
        *,
        compress: bool = False,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """``POST path`` with a JSON body (zstd-compressed if ``compress``) and optional
        query ``params``; the JSON answer."""
        data, headers = json_body(body, compress)
        return json_of(
            self._request("POST", self._url(path), params=params, body=data, headers=headers)
        )

    def _put_json(self, path: str, body: Any, *, compress: bool = False) -> Any:
        """``PUT path`` with a JSON body (zstd-compressed if ``compress``); the JSON answer."""
        data, headers = json_body(body, compress)
        return json_of(self._request("PUT", self._url(path), body=data, headers=headers))

    def _delete(self, path: str) -> Any:
        """``DELETE path``; the JSON answer, or None for an empty one."""
        return json_of(self._request("DELETE", self._url(path)))

    def _get_raw(self, path: str, params: dict[str, Any] | None = None) -> bytes:
        """``GET path`` and its body as bytes (raw keyed-chain JSON, to decode as it is)."""
        return self._request("GET", self._url(path), params=params).content

    def _upload_file(
        self,
        path: str,
        source: Path | BinaryIO,
        sha256: str | None = None,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """``PUT path`` with the bytes of ``source`` streamed as the body; the JSON answer.

        ``source`` is a path or a binary file object read from its current
        position. Its sha256, when not given, is computed in a first pass; it is
        sent as ``X-Content-SHA256`` with ``Content-Length``. A retry re-opens a
        path and rewinds a seekable file; a one-way stream (a pipe) needs
        ``sha256``, is sent chunked, and is never retried.

        Raises:
            ValidationError: a one-way stream without ``sha256``.
            IntegrityError: the server found a different sha256, or the file
                shrank while being sent.
        """
        body = FileBody(source, sha256, progress)
        headers = {"Content-Type": "application/octet-stream", SHA256_HEADER: body.sha256}
        answer = json_of(self._request("PUT", self._url(path), body=body, headers=headers))
        if not isinstance(answer, dict):
            raise APIError(f"PUT {path}: expected a JSON object, got {type(answer).__name__}")
        return answer

    def _download_file(
        self,
        path: str,
        dest: Path,
        expected_sha256: str | None = None,
        redirect: bool = False,
        progress: Progress | None = None,
    ) -> Path:
        """``GET path`` into ``dest``, streamed, verified by sha256, and landed atomically.

        The bytes go to a temporary file next to ``dest``, are checked against
        ``expected_sha256`` and the ``X-Content-SHA256`` headers (all that are
        present must agree, and at least one must be), then fsynced and renamed
        to ``dest``. With ``redirect`` the API is asked for a presigned URL
        (``307``), which is fetched without the ``Authorization`` header. A body
        cut short is fetched again, within the retry budget. ``progress`` may be
        called from a helper thread.

        Raises:
            IntegrityError: the bytes or the headers disagree with the sha256; ``dest``
                is left as it was.
        """
        budget = self._retry.start()
        attempts = 0
        while True:
            attempts += 1
            try:
                self._download_once(path, dest, expected_sha256, redirect, progress, budget)
                return dest
            except requests.RequestException as exc:  # raised while reading the body
                delay = budget.next_delay() if is_retryable(exc) else None
                if delay is None:
                    raise APIUnavailable(
                        f"GET {path}: download failed ({type(exc).__name__}) "
                        f"after {attempts} attempt(s)"
                    ) from exc
                _log_retry("GET", path, budget, type(exc).__name__, delay)
                time.sleep(delay)

    def _download_once(
        self,
        path: str,
        dest: Path,
        expected_sha256: str | None,
        redirect: bool,
        progress: Progress | None,
        budget: RetryBudget,
    ) -> None:
        headers = {"Accept": "application/octet-stream", "Accept-Encoding": "identity"}
        response = self._request(
            "GET",
            self._url(path),
            params={"redirect": "true"} if redirect else None,
            headers=headers,
            stream=True,
            accept_redirect=True,
            budget=budget,
        )
        digests = [response.headers.get(SHA256_HEADER)]
        if response.is_redirect:
            location = urljoin(response.url, response.headers["Location"])
            response.close()
            response = self._request(
                "GET", location, headers=headers, stream=True, authenticate=False, budget=budget
            )
            digests.append(response.headers.get(SHA256_HEADER))
        with response:
            sha256 = expected_digest(expected_sha256, digests, f"GET {path}")
            write_atomically(dest, verified_chunks(response, sha256, f"GET {path}", progress))

    # Sending ------------------------------------------------------------------------------

    def _url(self, path: str) -> str:
        if not path.startswith("/"):
            raise ValidationError(f"API paths start with '/': {path!r}")
        return self.api_url + path

    def _request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        body: RequestBody | None = None,
        headers: dict[str, str] | None = None,
        stream: bool = False,
        authenticate: bool = True,
        accept_redirect: bool = False,
        budget: RetryBudget | None = None,
    ) -> requests.Response:
        """Send until a 2xx (or, if ``accept_redirect``, a redirect) comes back.

        Retries transport failures and 502/503/504 within ``budget``; refreshes
        the token once on a 401. Redirects are never followed here.

        Raises:
            ResponseError: (mixed into the mapped domain class) any other answer.
            APIUnavailable: transport failures outlasted the retries.
        """
        budget = budget if budget is not None else self._retry.start()
        log_path = urlsplit(url).path  # never the query: a presigned URL's is a credential
        all_headers = {"Accept": "application/json", "User-Agent": _USER_AGENT, **(headers or {})}
        refreshed = False
        attempts = 0
        while True:
            token = self._tokens.current() if authenticate else None
            auth = BearerAuth(token) if token is not None else NoAuth()
            attempts += 1
            try:
                response = self._session.request(
                    method,
                    url,
                    params=params,
                    data=body.open() if body is not None else None,
                    headers=all_headers,
                    auth=auth,
                    timeout=self._timeout,
                    verify=self._verify,
                    stream=stream,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                resendable = body is None or body.can_resend
                delay = budget.next_delay() if is_retryable(exc) and resendable else None
                if delay is None:
                    raise APIUnavailable(
                        f"{method} {log_path}: cannot reach the API ({type(exc).__name__}) "
                        f"after {attempts} attempt(s)"
                    ) from exc
                _log_retry(method, log_path, budget, type(exc).__name__, delay)
                time.sleep(delay)
                continue
            finally:
                if body is not None:
                    body.close()
            resendable = body is None or body.can_resend
            status = response.status_code
            if 200 <= status < 300 or (accept_redirect and response.is_redirect):
                return response
            if status == 401 and token is not None and not refreshed and resendable:
                refreshed = True
                response.close()
                self._tokens.forget(token)
                logger.info("event=api_token_refresh method=%s path=%s", method, log_path)
                continue
            if status in RETRYABLE_STATUS and resendable:
                delay = budget.next_delay(parse_retry_after(response.headers.get("Retry-After")))
                if delay is not None:
                    response.close()
                    _log_retry(method, log_path, budget, f"status_{status}", delay)
                    time.sleep(delay)
                    continue
            raise error_from_response(response)

    def _fetch_token(self) -> tuple[str, float]:
        """``POST /token`` with the OAuth2 password form; the token and when to refresh it.

        Raises:
            AuthenticationFailed: the credentials are refused.
            APIError: the answer carries no token.
        """
        response = self._request(
            "POST",
            self._url("/token"),
            body=BytesBody(token_form(self.identifier, self._key)),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            authenticate=False,
        )
        token_and_refresh_time = read_token_answer(json_of(response))
        logger.debug("event=api_token_fetched identifier=%s", self.identifier)
        return token_and_refresh_time


def _log_retry(method: str, path: str, budget: RetryBudget, reason: str, delay: float) -> None:
    logger.warning(
        "event=api_retry method=%s path=%s failures=%d reason=%s delay=%.3f",
        method,
        path,
        budget.failures,
        reason,
        delay,
    )
