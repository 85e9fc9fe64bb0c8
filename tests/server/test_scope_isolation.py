"""Two identities in different scopes cannot see or touch each other's objects, on any route.

bob (user, rival scope) and rival-worker (compute, rival scope) call every route that
takes a scoped key with alice's and worker's objects: reads are 404 with the error JSON
(existence is not leaked), writes are 404 and change nothing in either store. The
table below must name every route of both apps (or say why a route takes no key):
:func:`test_every_route_is_in_the_table` fails for a route added without a case.

Each key is tried as it is ("foreign") and with alice's gufe key moved into bob's
scope ("rescoped"): content-addressed storage must not make the latter readable.
Every refused read is also made by the owner, who must succeed, so a 404 here is the
scope check and not a malformed request; test_scope_isolation_controls.py does the same
for every refused write (on a world of its own: this module's world must not change).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import fastapi.routing
import neo4j
import pytest
import requests
from fastapi import FastAPI
from fastapi.routing import APIRoute

from alchemiscale_like.models import ScopedKey
from alchemiscale_like.server.compute_api import create_compute_app
from alchemiscale_like.server.settings import APISettings
from alchemiscale_like.server.user_api import create_user_app
from tests.server.conftest import OTHER_SCOPE, SCOPE, Deployment
from tests.server.helpers import (
    TIMEOUT,
    World,
    assert_error,
    bearer,
    compute,
    seed_world,
    snapshot,
    token,
)

RIVAL_SERVICE = "rival-worker~r"


@dataclass(frozen=True)
class Call:
    """One concrete request (path relative to the app's base URL)."""

    method: str
    path: str
    json: Any = None
    data: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)

    def send(self, base_url: str, jwt: str) -> requests.Response:
        """Send it with ``jwt`` as the bearer token (redirects are not followed)."""
        return requests.request(
            self.method,
            base_url + self.path,
            json=self.json,
            data=self.data,
            headers={**bearer(jwt), **self.headers},
            params=self.params,
            timeout=TIMEOUT,
            allow_redirects=False,
        )


#: Turns alice's key into the key the intruder sends (variant "foreign" or "rescoped").
Key = Callable[[ScopedKey], str]


@dataclass(frozen=True)
class Case:
    """A route (``method`` + ``template`` as FastAPI spells it) and how to call it."""

    api: str  # "user" or "compute"
    method: str
    template: str
    write: bool
    build: Callable[[World, Key, str], Call]  # world, key transform, service id
    note: str = ""

    @property
    def id(self) -> str:
        return f"{self.api} {self.method} {self.template} {self.note}".strip()


def _file_upload(data: bytes) -> dict[str, Any]:
    return {
        "data": data,
        "headers": {
            "Content-Type": "application/octet-stream",
            "X-Content-SHA256": hashlib.sha256(data).hexdigest(),
        },
    }


def _chain(model: Any) -> Any:
    return json.loads(model.to_json())


def _user(
    method: str, template: str, write: bool, build: Callable[[World, Key], Call], note: str = ""
) -> Case:
    return Case("user", method, template, write, lambda w, k, _s: build(w, k), note)


def _compute(
    method: str, template: str, write: bool, build: Callable[[World, Key, str], Call]
) -> Case:
    return Case("compute", method, template, write, build)


def _get(path: str, **params: str) -> Call:
    return Call("GET", path, params=params)


N = "/networks/{network}"
T = "/transformations/{transformation}"
K = "/tasks/{task}"
S = "/computeservice/{service_id}/tasks/{task}"

CASES: list[Case] = [
    # -- user API: networks ------------------------------------------------------------------
    _user("GET", N, False, lambda w, k: _get(f"/networks/{k(w.network)}")),
    *(
        _user(
            "GET", f"{N}/{tail}", False, lambda w, k, t=tail: _get(f"/networks/{k(w.network)}/{t}")
        )
        for tail in (
            "transformations",
            "chemicalsystems",
            "state",
            "status",
            "estimates",
            "tasks",
            "taskhub/tasks",
            "taskhub/weights",
            "taskhub/weight",
            "restart-patterns",
        )
    ),
    _user(
        "POST",
        "/networks/state",
        True,
        lambda w, k: Call(
            "POST", "/networks/state", {"networks": [k(w.network)], "state": "inactive"}
        ),
    ),
    _user(
        "POST",
        f"{N}/tasks/action",
        True,
        lambda w, k: Call(
            "POST",
            f"/networks/{k(w.network)}/tasks/action",
            {"tasks": [k(w.waiting)], "weight": 0.9},
        ),
    ),
    _user(
        "POST",
        f"{N}/tasks/cancel",
        True,
        lambda w, k: Call(
            "POST", f"/networks/{k(w.network)}/tasks/cancel", {"tasks": [k(w.waiting)]}
        ),
    ),
    _user(
        "PUT",
        f"{N}/taskhub/weight",
        True,
        lambda w, k: Call("PUT", f"/networks/{k(w.network)}/taskhub/weight", {"weight": 0.9}),
    ),
    _user(
        "POST",
        f"{N}/restart-patterns",
        True,
        lambda w, k: Call(
            "POST",
            f"/networks/{k(w.network)}/restart-patterns",
            {"patterns": ["boom"], "max_retries": 2},
        ),
    ),
    _user(
        "POST",
        f"{N}/restart-patterns/remove",
        True,
        lambda w, k: Call(
            "POST",
            f"/networks/{k(w.network)}/restart-patterns/remove",
            {"patterns": ["never-matches"]},
        ),
    ),
    # -- user API: transformations -----------------------------------------------------------
    _user("GET", T, False, lambda w, k: _get(f"/transformations/{k(w.transformation)}")),
    *(
        _user(
            "GET",
            f"{T}/{tail}",
            False,
            lambda w, k, t=tail: _get(f"/transformations/{k(w.transformation)}/{t}"),
        )
        for tail in ("networks", "status", "tasks", "results")
    ),
    _user(
        "POST",
        f"{T}/tasks",
        True,
        lambda w, k: Call("POST", f"/transformations/{k(w.transformation)}/tasks", {"count": 1}),
    ),
    # -- user API: tasks ---------------------------------------------------------------------
    _user(
        "POST",
        "/tasks/status/query",
        False,
        lambda w, k: Call("POST", "/tasks/status/query", {"tasks": [k(w.done)]}),
    ),
    _user(
        "POST",
        "/tasks/priority/query",
        False,
        lambda w, k: Call("POST", "/tasks/priority/query", {"tasks": [k(w.done)]}),
    ),
    _user(
        "POST",
        "/tasks/status",
        True,
        lambda w, k: Call("POST", "/tasks/status", {"tasks": [k(w.waiting)], "status": "invalid"}),
    ),
    _user(
        "POST",
        "/tasks/priority",
        True,
        lambda w, k: Call("POST", "/tasks/priority", {"tasks": [k(w.waiting)], "priority": 5}),
    ),
    _user("GET", K, False, lambda w, k: _get(f"/tasks/{k(w.done)}")),
    *(
        _user("GET", f"{K}/{tail}", False, lambda w, k, t=tail: _get(f"/tasks/{k(w.done)}/{t}"))
        for tail in ("progress", "results", "failures", "files")
    ),
    _user(
        "GET",
        f"{K}/results/{{pdr_key}}",
        False,
        lambda w, k: _get(f"/tasks/{k(w.done)}/results/{w.pdr_key}"),
    ),
    _user(
        "GET",
        f"{K}/files/{{location:path}}",
        False,
        lambda w, k: _get(f"/tasks/{k(w.done)}/files/{w.file.location}"),
    ),
    _user(
        "GET",
        f"{K}/files/{{location:path}}",
        False,
        lambda w, k: _get(f"/tasks/{k(w.done)}/files/{w.file.location}", redirect="true"),
        note="redirect",
    ),
    # -- compute API ----------------------------------------------------------------------------
    _compute("GET", S, False, lambda w, k, s: _get(f"/computeservice/{s}/tasks/{k(w.held)}")),
    *(
        _compute(
            "GET",
            f"{S}/{tail}",
            False,
            lambda w, k, s, t=tail: _get(f"/computeservice/{s}/tasks/{k(w.held)}/{t}"),
        )
        for tail in ("transformation", "extends", "dag", "unit-results")
    ),
    _compute(
        "GET",
        f"{S}/files/{{location:path}}",
        False,
        lambda w, k, s: _get(f"/computeservice/{s}/tasks/{k(w.done)}/files/{w.file.location}"),
    ),
    _compute(
        "GET",
        f"{S}/units/{{unit_key}}/checkpoints",
        False,
        lambda w, k, s: _get(
            f"/computeservice/{s}/tasks/{k(w.held)}/units/{w.unit_key}/checkpoints"
        ),
    ),
    _compute(
        "GET",
        f"{S}/units/{{unit_key}}/checkpoints/{{name:path}}",
        False,
        lambda w, k, s: _get(
            f"/computeservice/{s}/tasks/{k(w.held)}/units/{w.unit_key}/checkpoints/{w.checkpoint}"
        ),
    ),
    _compute(
        "PUT",
        f"{S}/units/{{unit_key}}/checkpoints/{{name:path}}",
        True,
        lambda w, k, s: Call(
            "PUT",
            f"/computeservice/{s}/tasks/{k(w.held)}/units/{w.unit_key}/checkpoints/{w.checkpoint}",
            **_file_upload(b'{"step": 22}'),  # not the stored checkpoint's size
        ),
    ),
    _compute(
        "PUT",
        f"{S}/units/{{unit_key}}/{{attempt}}/files/{{name:path}}",
        True,
        lambda w, k, s: Call(
            "PUT",
            f"/computeservice/{s}/tasks/{k(w.held)}/units/{w.unit_key}/1/files/extra.bin",
            **_file_upload(b"intruder"),
        ),
    ),
    _compute(
        "PUT",
        f"{S}/dag",
        True,
        lambda w, k, s: Call(
            "PUT", f"/computeservice/{s}/tasks/{k(w.held)}/dag", _chain(w.held_run.dag)
        ),
    ),
    _compute(
        "PUT",
        f"{S}/unit-results",
        True,
        lambda w, k, s: Call(
            "PUT",
            f"/computeservice/{s}/tasks/{k(w.held)}/unit-results",
            _chain(w.held_run.results[1]),
        ),
    ),
    _compute(
        "POST",
        f"{S}/finish",
        True,
        lambda w, k, s: Call(
            "POST", f"/computeservice/{s}/tasks/{k(w.held)}/finish", _chain(w.held_run.dag_result)
        ),
    ),
    _compute(
        "POST",
        f"{S}/release",
        True,
        lambda w, k, s: Call("POST", f"/computeservice/{s}/tasks/{k(w.held)}/release"),
    ),
]

#: Routes that take no scoped key in their path, with the test that covers them instead.
KEYLESS: dict[tuple[str, str, str], str] = {
    **{
        (api, method, path): "no object in it (test_tokens_http.py covers its tokens)"
        for api in ("user", "compute")
        for method, path in (("POST", "/token"), ("GET", "/ping"), ("GET", "/info"))
    },
    **{
        (api, "GET", "/check"): "store health only: no object, no scope"
        for api in ("user", "compute")
    },
    **{
        (api, "GET", "/objectstore/{location:path}"): "a signed URL of the local store is the key"
        for api in ("user", "compute")
    },
    ("user", "POST", "/networks"): "test_creating_in_a_foreign_scope_is_403",
    ("user", "GET", "/networks"): "test_queries_never_return_foreign_objects",
    ("user", "GET", "/transformations"): "test_queries_never_return_foreign_objects",
    ("compute", "POST", "/computeservice/{service_id}/claim"): "test_a_rival_cannot_claim",
    ("compute", "POST", "/computeservice/{service_id}/register"): "test_foreign_service_ids",
    ("compute", "POST", "/computeservice/{service_id}/heartbeat"): "test_foreign_service_ids",
    ("compute", "POST", "/computeservice/{service_id}/deregister"): "test_foreign_service_ids",
}


def _routes(app: FastAPI, api: str) -> set[tuple[str, str, str]]:
    """Every (api, method, path) the app serves through an APIRoute (not /docs, /openapi.json).

    Recent FastAPI keeps included routers as router entries in ``app.routes``;
    ``iter_route_contexts`` flattens them (older FastAPI lists the routes themselves).
    """
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)
    routes = flatten(app.routes) if flatten is not None else app.routes
    return {
        (api, method, route.path)
        for route in routes
        if isinstance(getattr(route, "original_route", route), APIRoute)
        for method in route.methods
    }


def test_every_route_is_in_the_table(module_deployment: Deployment) -> None:
    d, settings = module_deployment, APISettings()
    apps = {
        "user": create_user_app(settings, d.statestore, d.objectstore, d.tokens),
        "compute": create_compute_app(settings, d.statestore, d.objectstore, d.tokens),
    }
    served = set().union(*(_routes(app, api) for api, app in apps.items()))
    covered = {(c.api, c.method, c.template) for c in CASES} | set(KEYLESS)
    assert served - covered == set(), "routes without a scope-isolation case"
    assert covered - served == set(), "cases for routes that do not exist"


# -- shared world: bob's and rival-worker's refused requests change nothing -------------------


@pytest.fixture(scope="module")
def world(module_deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> World:
    return seed_world(module_deployment, tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def rival_service(module_deployment: Deployment, world: World) -> str:
    compute(module_deployment, "rival-worker", "r").register()
    return RIVAL_SERVICE


@pytest.fixture(scope="module")
def jwts(module_deployment: Deployment) -> dict[str, str]:
    return {
        "alice": token(module_deployment.user_url, "alice"),
        "bob": token(module_deployment.user_url, "bob"),
        "worker": token(module_deployment.compute_url, "worker"),
        "rival-worker": token(module_deployment.compute_url, "rival-worker"),
    }


def foreign_key(sk: ScopedKey) -> str:
    return str(sk)


def rescoped_key(sk: ScopedKey) -> str:
    return str(ScopedKey.from_key(sk.gufe_key, OTHER_SCOPE))


VARIANTS = {"foreign": foreign_key, "rescoped": rescoped_key}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_intruder_gets_404_and_changes_nothing(
    case: Case,
    variant: str,
    module_deployment: Deployment,
    world: World,
    rival_service: str,
    jwts: dict[str, str],
    neo4j_driver: neo4j.Driver,
) -> None:
    d = module_deployment
    url, intruder, owner = (
        (d.user_url, "bob", "alice")
        if case.api == "user"
        else (d.compute_url, "rival-worker", "worker")
    )
    call = case.build(world, VARIANTS[variant], rival_service)
    # A rescoped key (in the intruder's scope, but nonexistent) is a 404 on every route too.
    status, error = 404, "NotFound"
    if not case.write:
        assert_error(call.send(url, jwts[intruder]), status, error)
        control = case.build(world, foreign_key, world.service_id).send(url, jwts[owner])
        assert control.status_code in (200, 307), control.text[:300]
        return
    # Sizes and locations of every object, not digests: a full stat per object per case
    # is too slow here, and no refused payload below has the size of what it would replace.
    before = snapshot(neo4j_driver, d.objectstore, digests=False)
    assert_error(call.send(url, jwts[intruder]), status, error)
    assert snapshot(neo4j_driver, d.objectstore, digests=False) == before


# -- routes without a key in the path ----------------------------------------------------------


def test_creating_in_a_foreign_scope_is_403(
    module_deployment: Deployment, world: World, jwts: dict[str, str], neo4j_driver: neo4j.Driver
) -> None:
    d = module_deployment
    chain = requests.get(
        f"{d.user_url}/networks/{world.network}", headers=bearer(jwts["alice"]), timeout=TIMEOUT
    ).json()
    before = snapshot(neo4j_driver, d.objectstore)
    for scope in (str(SCOPE), "org-campaign-other", "someone-else-entirely"):
        answer = requests.post(
            f"{d.user_url}/networks",
            json={"network": chain, "scope": scope},
            headers=bearer(jwts["bob"]),
            timeout=TIMEOUT,
        )
        assert_error(answer, 403, "Forbidden")
    assert snapshot(neo4j_driver, d.objectstore) == before


def test_queries_never_return_foreign_objects(
    module_deployment: Deployment, world: World, jwts: dict[str, str]
) -> None:
    d = module_deployment
    for path in ("/networks", "/transformations"):
        for params in ({}, {"scope": str(SCOPE)}, {"scope": "org-*-*"}, {"scope": "*-*-*"}):
            answer = requests.get(
                d.user_url + path, params=params, headers=bearer(jwts["bob"]), timeout=TIMEOUT
            )
            assert (answer.status_code, answer.json()) == (200, []), (path, params)
        mine = requests.get(d.user_url + path, headers=bearer(jwts["alice"]), timeout=TIMEOUT)
        assert (mine.status_code, len(mine.json())) == (200, 1)


def test_a_rival_cannot_claim(
    module_deployment: Deployment,
    world: World,
    rival_service: str,
    jwts: dict[str, str],
    neo4j_driver: neo4j.Driver,
) -> None:
    d = module_deployment
    # A claim renews the caller's own lease: its heartbeat is the one thing that may move.
    before = snapshot(neo4j_driver, d.objectstore, ignore=frozenset({"heartbeat"}))
    for scopes in (None, [str(SCOPE)], ["org-*-*"], ["*-*-*"]):
        answer = requests.post(
            f"{d.compute_url}/computeservice/{rival_service}/claim",
            json={"count": 10, "scopes": scopes},
            headers=bearer(jwts["rival-worker"]),
            timeout=TIMEOUT,
        )
        assert (answer.status_code, answer.json()) == (200, []), scopes
    assert snapshot(neo4j_driver, d.objectstore, ignore=frozenset({"heartbeat"})) == before


@pytest.mark.parametrize(
    "call",
    [
        Call("POST", "/computeservice/{service}/register", {"protocols": None}),
        Call("POST", "/computeservice/{service}/heartbeat"),
        Call("POST", "/computeservice/{service}/deregister"),
        Call("POST", "/computeservice/{service}/claim", {"count": 1}),
        Call("GET", "/computeservice/{service}/tasks/{task}"),
        Call("POST", "/computeservice/{service}/tasks/{task}/release"),
    ],
    ids=lambda c: f"{c.method} {c.path}",
)
@pytest.mark.parametrize("service", ["worker~a", "worker", "worker~a~b", "rival-worker-x"])
def test_foreign_service_ids(
    call: Call,
    service: str,
    module_deployment: Deployment,
    world: World,
    rival_service: str,
    jwts: dict[str, str],
    neo4j_driver: neo4j.Driver,
) -> None:
    """rival-worker may only act as ``rival-worker`` or ``rival-worker~<suffix>``."""
    d = module_deployment
    before = snapshot(neo4j_driver, d.objectstore)
    path = call.path.format(service=service, task=world.held)
    answer = Call(call.method, path, call.json).send(d.compute_url, jwts["rival-worker"])
    assert_error(answer, 403, "Forbidden")
    assert snapshot(neo4j_driver, d.objectstore) == before
