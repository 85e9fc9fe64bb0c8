"""Access tokens over real HTTP, on both apps: every bad token is refused with a JSON error.

401 (with ``WWW-Authenticate: Bearer``) for a missing, malformed, expired, forged,
``alg: none``, wrongly-signed or tampered token and for identities that are disabled,
expired or gone; 403 for a valid token of the other identity kind. The deployment
re-checks identities on every request (``identity_cache_seconds=0``), so disabling an
identity stops its existing token at once, with no clock involved.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from alchemiscale_like.security.identity import IdentityKind
from alchemiscale_like.security.tokens import create_access_token
from alchemiscale_like.services import identities
from tests.server.conftest import KEYS, OTHER_SCOPE, SCOPE, SECRET, Deployment
from tests.server.helpers import TIMEOUT, assert_error, bearer, token

API_SETTINGS = {"identity_cache_seconds": 0}


@dataclass(frozen=True)
class App:
    """One app and an authenticated route on it that needs nothing but a valid token."""

    kind: IdentityKind
    identity: str
    method: str
    path: str

    def url(self, deployment: Deployment) -> str:
        return deployment.user_url if self.kind == IdentityKind.USER else deployment.compute_url


USER = App(IdentityKind.USER, "alice", "GET", "/networks")
COMPUTE = App(IdentityKind.COMPUTE, "worker", "GET", "/computeservice/{identity}/tasks/{task}")
APPS = [USER, COMPUTE]
TASK = f"Task-{'0' * 32}-{SCOPE}"


def _call(
    app: App, deployment: Deployment, jwt: str, identity: str | None = None
) -> requests.Response:
    """Call the app's route with ``jwt`` (as ``identity``'s own service on the compute API)."""
    path = app.path.format(identity=identity or app.identity, task=TASK)
    return requests.request(
        app.method, app.url(deployment) + path, headers=bearer(jwt), timeout=TIMEOUT
    )


def _ok(answer: requests.Response) -> None:
    # The compute route asks for a task that does not exist: getting that far is success.
    assert answer.status_code in (200, 404), answer.text
    if answer.status_code == 404:
        assert answer.json()["error"] == "NotFound"


def _refused(answer: requests.Response, status: int = 401) -> str:
    error = "AuthenticationFailed" if status == 401 else "Forbidden"
    detail = assert_error(answer, status, error)
    if status == 401:
        assert answer.headers.get("www-authenticate") == "Bearer"
    return detail


def _b64(data: dict[str, object]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _payload(jwt: str) -> dict[str, object]:
    part = jwt.split(".")[1]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def _signed(
    app: App,
    identifier: str,
    *,
    secret: str = SECRET,
    now: dt.datetime | None = None,
    lifetime: int = 600,
) -> str:
    return create_access_token(
        app.kind, identifier, [str(SCOPE)], secret=secret, lifetime_seconds=lifetime, now=now
    )


@pytest.fixture
def served(module_deployment: Deployment) -> Deployment:
    """The module's deployment (identities re-checked on every request)."""
    return module_deployment


# -- the token itself ------------------------------------------------------------------------


@pytest.mark.parametrize("app", APPS, ids=lambda a: a.kind.value)
def test_a_valid_token_is_accepted(app: App, served: Deployment) -> None:
    _ok(_call(app, served, token(app.url(served), app.identity)))


@pytest.mark.parametrize("app", APPS, ids=lambda a: a.kind.value)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic YWxpY2U6a2V5"},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": "Bearer a.b.c"},
        {"Authorization": "Bearer " + "A" * 20_000},
    ],
    ids=["none", "empty", "blank", "basic", "garbage", "three-parts", "huge"],
)
def test_missing_or_malformed_tokens_are_401(
    app: App, headers: dict[str, str], served: Deployment
) -> None:
    answer = requests.request(
        app.method,
        app.url(served) + app.path.format(identity=app.identity, task=TASK),
        headers=headers,
        timeout=TIMEOUT,
    )
    _refused(answer)


@pytest.mark.parametrize("app", APPS, ids=lambda a: a.kind.value)
def test_an_expired_token_is_401(app: App, served: Deployment) -> None:
    issued = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    jwt = _signed(app, app.identity, now=issued, lifetime=60)
    assert "expired" in _refused(_call(app, served, jwt))


@pytest.mark.parametrize("app", APPS, ids=lambda a: a.kind.value)
def test_a_token_signed_with_another_secret_is_401(app: App, served: Deployment) -> None:
    jwt = _signed(app, app.identity, secret="another-secret-" + "y" * 40)
    assert "signature" in _refused(_call(app, served, jwt))


@pytest.mark.parametrize("app", APPS, ids=lambda a: a.kind.value)
@pytest.mark.parametrize("alg", ["none", "None", "NONE", "HS512"])
def test_another_algorithm_is_401(app: App, alg: str, served: Deployment) -> None:
    valid = _signed(app, app.identity)
    _header, payload, signature = valid.split(".")
    forged = f"{_b64({'alg': alg, 'typ': 'JWT'})}.{payload}."
    _refused(_call(app, served, forged))
    _refused(_call(app, served, forged + signature))  # a genuine signature does not help


@pytest.mark.parametrize("app", APPS, ids=lambda a: a.kind.value)
@pytest.mark.parametrize(
    "change",
    [
        {"scopes": ["*-*-*"]},
        {"scopes": [str(SCOPE), str(OTHER_SCOPE)]},
        {"sub": "bob"},
        {"kind": "other"},
        {"exp": 4_102_444_800},
    ],
    ids=["all-scopes", "extra-scope", "other-sub", "other-kind", "later-exp"],
)
def test_a_tampered_payload_is_401(app: App, change: dict[str, object], served: Deployment) -> None:
    jwt = token(app.url(served), app.identity)
    header, payload, signature = jwt.split(".")
    claims = _payload(jwt)
    if change.get("kind") == "other":
        change = {"kind": "user" if app.kind == IdentityKind.COMPUTE else "compute"}
    tampered = {**claims, **change}
    assert tampered != claims
    # Re-encoded untouched, the payload is byte-identical (so the signature would hold):
    # what the server refuses is the change alone.
    assert _b64(claims) == payload
    _refused(_call(app, served, f"{header}.{_b64(tampered)}.{signature}"))


def test_a_user_token_on_the_compute_api_is_403(served: Deployment) -> None:
    jwt = token(served.user_url, "alice")
    _refused(_call(COMPUTE, served, jwt, identity="alice"), 403)


def test_a_compute_token_on_the_user_api_is_403(served: Deployment) -> None:
    jwt = token(served.compute_url, "worker")
    _refused(_call(USER, served, jwt), 403)


@pytest.mark.parametrize("app", APPS, ids=lambda a: a.kind.value)
def test_a_token_of_an_unknown_identity_is_401(app: App, served: Deployment) -> None:
    jwt = _signed(app, "nobody-at-all")
    _refused(_call(app, served, jwt, identity="nobody-at-all"))


# -- logging in -------------------------------------------------------------------------------


@pytest.mark.parametrize("app", APPS, ids=lambda a: a.kind.value)
def test_wrong_key_and_unknown_identifier_give_the_same_401(app: App, served: Deployment) -> None:
    url = app.url(served)
    other = "bob" if app.kind == IdentityKind.USER else "rival-worker"
    attempts = [
        (app.identity, "wrong-key-0123456789abcdef"),  # known identifier, wrong key
        (app.identity, KEYS[other]),  # another identity's key
        ("nobody-at-all", "wrong-key-0123456789abcdef"),  # unknown identifier
        ("../etc/passwd", KEYS[app.identity]),  # impossible identifier
        (app.identity, "k" * 5000),  # longer than any key: refused before hashing
    ]
    wrong_kind = "worker" if app.kind == IdentityKind.USER else "alice"
    attempts.append((wrong_kind, KEYS[wrong_kind]))  # right key, identity of the other kind
    details = set()
    for username, password in attempts:
        answer = requests.post(
            f"{url}/token", data={"username": username, "password": password}, timeout=TIMEOUT
        )
        details.add(_refused(answer))
    assert len(details) == 1, details


@pytest.mark.parametrize("app", APPS, ids=lambda a: a.kind.value)
def test_a_malformed_login_form_is_4xx(app: App, served: Deployment) -> None:
    url = app.url(served)
    for kwargs in (
        {"data": {"username": app.identity}},
        {"data": {"username": app.identity, "password": ""}},
        {"json": {"username": app.identity, "password": KEYS[app.identity]}},
        {"data": b"\xff\xfe", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
    ):
        answer = requests.post(f"{url}/token", timeout=TIMEOUT, **kwargs)  # type: ignore[arg-type]
        assert 400 <= answer.status_code < 500, answer.text
        assert set(answer.json()) == {"error", "detail"}


# -- identities that may no longer log in ------------------------------------------------------


@pytest.fixture
def dave(served: Deployment) -> Iterator[tuple[IdentityKind, str, str]]:
    """A fresh user identity (and a compute one of the same name) for one test."""
    key = "dave-key-0123456789abcdef"
    for kind in IdentityKind:
        identities.add_identity(served.statestore, kind, "dave", key, [str(SCOPE)])
    yield IdentityKind.USER, "dave", key
    for kind in IdentityKind:
        identities.remove_identity(served.statestore, kind, "dave")


@pytest.mark.parametrize("app", APPS, ids=lambda a: a.kind.value)
def test_a_disabled_identity_gets_no_token_and_its_token_stops_working(
    app: App, served: Deployment, dave: tuple[IdentityKind, str, str]
) -> None:
    _, name, key = dave
    url = app.url(served)
    form = {"username": name, "password": key}
    jwt = requests.post(f"{url}/token", data=form, timeout=TIMEOUT).json()["access_token"]
    _ok(_call(app, served, jwt, identity=name))

    identities.set_disabled(served.statestore, app.kind, name, True)
    assert "disabled" in _refused(_call(app, served, jwt, identity=name))
    refused_login = requests.post(f"{url}/token", data=form, timeout=TIMEOUT)
    wrong_key = requests.post(
        f"{url}/token", data={"username": name, "password": "x" * 20}, timeout=TIMEOUT
    )
    _refused(refused_login)
    _refused(wrong_key)

    identities.set_disabled(served.statestore, app.kind, name, False)
    _ok(_call(app, served, jwt, identity=name))


@pytest.mark.parametrize("app", APPS, ids=lambda a: a.kind.value)
def test_an_expired_identity_gets_no_token_and_its_token_is_refused(
    app: App, served: Deployment
) -> None:
    now = dt.datetime.now(dt.UTC)
    expired_at = now - dt.timedelta(hours=1)
    key = "erin-key-0123456789abcdef"
    identities.add_identity(
        served.statestore,
        app.kind,
        "erin",
        key,
        [str(SCOPE)],
        expires=expired_at,
        now=expired_at - dt.timedelta(hours=1),  # created while it was still in the future
    )
    try:
        answer = requests.post(
            f"{app.url(served)}/token", data={"username": "erin", "password": key}, timeout=TIMEOUT
        )
        assert "expired" in _refused(answer)
        issued_before = _signed(app, "erin", now=now - dt.timedelta(seconds=5))
        assert "expired" in _refused(_call(app, served, issued_before, identity="erin"))
    finally:
        identities.remove_identity(served.statestore, app.kind, "erin")


@pytest.mark.parametrize("app", APPS, ids=lambda a: a.kind.value)
def test_a_removed_identity_token_is_401(
    app: App, served: Deployment, dave: tuple[IdentityKind, str, str]
) -> None:
    _, name, key = dave
    jwt = requests.post(
        f"{app.url(served)}/token", data={"username": name, "password": key}, timeout=TIMEOUT
    ).json()["access_token"]
    _ok(_call(app, served, jwt, identity=name))
    identities.remove_identity(served.statestore, app.kind, name)
    try:
        _refused(_call(app, served, jwt, identity=name))
    finally:
        identities.add_identity(served.statestore, app.kind, name, key, [str(SCOPE)])


# -- every route -------------------------------------------------------------------------------

#: Routes that answer without a token. The contract names only /ping and /info (and /token);
#: /check is public in the code too (a health probe), and /objectstore/... is authorized by
#: its URL signature instead.
PUBLIC = {"/token", "/ping", "/info", "/check", "/objectstore/{location}"}
FAKE = {
    "network": f"AlchemicalNetwork-{'0' * 32}-{SCOPE}",
    "transformation": f"Transformation-{'0' * 32}-{SCOPE}",
    "task": TASK,
    "pdr_key": f"ProtocolDAGResult-{'0' * 32}",
    "location": "units/x/1-1/files/a.bin",
    "unit_key": f"ProtocolUnit-{'0' * 32}",
    "attempt": "1",
    "name": "a.bin",
}


@pytest.mark.parametrize("app", APPS, ids=lambda a: a.kind.value)
def test_every_route_needs_a_token_of_its_own_kind(app: App, served: Deployment) -> None:
    url = app.url(served)
    other = COMPUTE if app is USER else USER
    wrong_kind = token(other.url(served), other.identity)
    spec = requests.get(f"{url}/openapi.json", timeout=TIMEOUT).json()
    checked = 0
    for template, operations in spec["paths"].items():
        if template in PUBLIC:
            continue
        path = template.format(**FAKE, service_id=app.identity)
        for method in operations:
            for headers, status in (({}, 401), (bearer(wrong_kind), 403)):
                answer = requests.request(
                    method, url + path, headers=headers, timeout=TIMEOUT, allow_redirects=False
                )
                _refused(answer, status)
                checked += 1
    assert checked >= 30  # every authenticated operation, both ways
