"""Slow-loris bodies and a million-entry keyed chain: a 4xx, no change, a responsive server.

A client that sends its headers and then stops (or drips) must not hold a request
open forever: each body the APIs read has to keep arriving, within
``body_idle_timeout`` of its last part, or the request is answered 408 and dropped.
Meanwhile other clients are served. A keyed chain of 10**6 entries is refused by
its length before a single entry is hashed. In each case both stores are exactly
as before.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import neo4j
import pytest
import requests
import zstandard

from alchemiscale_like.models.limits import MAX_CHAIN_ENTRIES
from tests.server.conftest import SCOPE, Deployment
from tests.server.helpers import (
    TIMEOUT,
    assert_error,
    assert_healthy,
    bearer,
    claimed_with_dag,
    snapshot,
    token,
)

IDLE_TIMEOUT = 1.0
#: How long the test waits for the server's 408: a bound on a hang, not a timing check.
ANSWER_BOUND = 60.0


def _raw_request(url: str, method: str, path: str, headers: dict[str, str], part: bytes) -> str:
    """Send the head and the first ``part`` of a longer body, then go silent; the answer."""
    where = urlsplit(url)
    head = f"{method} {path} HTTP/1.1\r\nHost: {where.hostname}\r\nConnection: close\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    with socket.create_connection((where.hostname, where.port), timeout=ANSWER_BOUND) as sock:
        sock.sendall(head.encode() + part)
        # Stalled: while this client says nothing more, the server serves others.
        assert requests.get(f"{url}/ping", timeout=TIMEOUT).status_code == 200
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer.decode("latin-1")


def _assert_408(answer: str) -> None:
    status_line, _, rest = answer.partition("\r\n")
    assert status_line.startswith("HTTP/1.1 408"), answer[:300]
    body = json.loads(rest.split("\r\n\r\n", 1)[1])
    assert body["error"] == "RequestTimeout", body


@pytest.fixture
def unchanged(deployment: Deployment, neo4j_driver: neo4j.Driver):
    """``with unchanged():`` asserts both stores are as before and both apps answer."""

    @contextmanager
    def check() -> Iterator[None]:
        before = snapshot(neo4j_driver, deployment.objectstore)
        yield
        assert snapshot(neo4j_driver, deployment.objectstore) == before
        assert_healthy(deployment)

    return check


@pytest.mark.parametrize("deployment", [{"body_idle_timeout": IDLE_TIMEOUT}], indirect=True)
def test_a_stalled_json_body_is_408_and_changes_nothing(deployment: Deployment, unchanged):
    jwt = token(deployment.user_url, "alice")
    headers = {
        **bearer(jwt),
        "Content-Type": "application/json",
        "Content-Length": "100000",
    }
    with unchanged():
        answer = _raw_request(
            deployment.user_url, "POST", "/networks", headers, b'{"network": [["Alchem'
        )
    _assert_408(answer)


@pytest.mark.parametrize("deployment", [{"body_idle_timeout": IDLE_TIMEOUT}], indirect=True)
def test_a_stalled_login_form_is_408(deployment: Deployment, unchanged):
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Content-Length": "5000"}
    with unchanged():
        answer = _raw_request(deployment.compute_url, "POST", "/token", headers, b"username=wo")
    _assert_408(answer)


@pytest.mark.parametrize("deployment", [{"body_idle_timeout": IDLE_TIMEOUT}], indirect=True)
@pytest.mark.parametrize("chunked", [False, True], ids=["sized", "chunked"])
def test_a_stalled_file_upload_is_408_and_stores_nothing(
    deployment: Deployment, unchanged, chunked: bool
):
    task, service, _, dag = claimed_with_dag(deployment, "slow-upload", "a")
    unit = dag.protocol_units[0].key
    path = f"/computeservice/{service.service_id}/tasks/{task}/units/{unit}/1/files/big.bin"
    headers = {
        **bearer(token(deployment.compute_url, "worker")),
        "Content-Type": "application/octet-stream",
        "X-Content-SHA256": "0" * 64,
    }
    part = b"x" * 4096
    if chunked:
        headers["Transfer-Encoding"] = "chunked"
        part = b"%x\r\n" % len(part) + part + b"\r\n"
    else:
        headers["Content-Length"] = str(64 * 1024 * 1024)
    with unchanged():
        answer = _raw_request(deployment.compute_url, "PUT", path, headers, part)
    _assert_408(answer)
    assert deployment.statestore.get_task_claimant(task) == service.service_id


def test_a_million_entry_chain_is_refused_before_hashing(deployment: Deployment, unchanged):
    # Valid-looking entries; any verification would reach the (wrong) keys only after
    # hashing, so the answer names the length: the server never hashed one.
    entry = [
        "SolventComponent-" + "0" * 32,
        {"__module__": "m", "__qualname__": "SolventComponent", ":version:": 1},
    ]
    count = 10**6
    assert count > MAX_CHAIN_ENTRIES
    body = json.dumps({"network": [entry] * count, "scope": str(SCOPE)}).encode()
    compressed = zstandard.ZstdCompressor().compress(body)
    with unchanged():
        answer = requests.post(
            f"{deployment.user_url}/networks",
            data=compressed,
            headers={
                **bearer(token(deployment.user_url, "alice")),
                "Content-Type": "application/json",
                "Content-Encoding": "zstd",
            },
            timeout=TIMEOUT,
        )
    detail = assert_error(answer, 400, "ValidationError")
    assert f"at most {MAX_CHAIN_ENTRIES} entries" in detail
