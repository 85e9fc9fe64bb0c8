"""Hostile input from an authenticated caller: always a 4xx JSON error, never a 5xx, no change.

alice and worker (the owners, so no scope check stands in the way) send every kind of
bad input a client can: broken or oversized or compressed-bomb bodies on every JSON
route, keyed chains with wrong keys or references, absurd field values, and hostile
path segments (traversal, control characters, unicode, trailing newlines) in every
path parameter of both apps. Each test checks the error shape, that both stores are
exactly as before (whole graph, every object and its sha256) and that the server
still answers ``/ping``. Routes are read from the apps' OpenAPI documents, so a new
route is attacked without anyone adding it here.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import neo4j
import pytest
import requests
import zstandard

from alchemiscale_like.models.tokenization import key_from_keyed_dict
from tests.server.conftest import SCOPE, Deployment
from tests.server.helpers import (
    TIMEOUT,
    World,
    assert_healthy,
    bearer,
    seed_world,
    snapshot,
    token,
)

LIMIT = 64 * 1024
API_SETTINGS = {"max_body_size": LIMIT, "max_decompressed_size": 4 * LIMIT, "max_file_size": LIMIT}
DEEP = 10_000
#: Error names a 400 may carry (ValidationError and its subclasses).
BAD_REQUEST = {
    "ValidationError",
    "UnknownClass",
    "KeyMismatch",
    "InvalidScope",
    "UnsafeFileName",
    "DAGError",
}


@dataclass(frozen=True)
class Route:
    """One operation of one app, as its OpenAPI document spells it."""

    api: str
    method: str
    template: str
    params: tuple[str, ...]
    body: str | None  # the request body's media type, if any

    @property
    def id(self) -> str:
        return f"{self.api} {self.method} {self.template}"


@pytest.fixture(scope="module")
def world(module_deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> World:
    return seed_world(module_deployment, tmp_path_factory.mktemp("world"))


@pytest.fixture(scope="module")
def jwts(module_deployment: Deployment, world: World) -> dict[str, str]:
    return {
        "user": token(module_deployment.user_url, "alice"),
        "compute": token(module_deployment.compute_url, "worker"),
    }


@pytest.fixture(scope="module")
def routes(module_deployment: Deployment) -> list[Route]:
    found = []
    for api, url in (
        ("user", module_deployment.user_url),
        ("compute", module_deployment.compute_url),
    ):
        spec = requests.get(f"{url}/openapi.json", timeout=TIMEOUT).json()
        for template, operations in spec["paths"].items():
            for method, operation in operations.items():
                content = operation.get("requestBody", {}).get("content", {})
                params = tuple(
                    p["name"] for p in operation.get("parameters", []) if p["in"] == "path"
                )
                found.append(
                    Route(api, method.upper(), template, params, next(iter(content), None))
                )
    return found


@pytest.fixture(scope="module")
def network_chain(module_deployment: Deployment, world: World, jwts: dict[str, str]) -> Any:
    answer = requests.get(
        f"{module_deployment.user_url}/networks/{world.network}",
        headers=bearer(jwts["user"]),
        timeout=TIMEOUT,
    )
    return answer.json()


@pytest.fixture
def unchanged(module_deployment: Deployment, neo4j_driver: neo4j.Driver) -> Callable[[], Any]:
    """``with unchanged():`` asserts both stores are as before and the server is healthy."""

    @contextmanager
    def check() -> Iterator[None]:
        before = snapshot(neo4j_driver, module_deployment.objectstore)
        yield
        assert snapshot(neo4j_driver, module_deployment.objectstore) == before
        assert_healthy(module_deployment)

    return check


def path_values(world: World, api: str, template: str) -> dict[str, str]:
    """A valid value for each path parameter (alice's done task, worker's held task)."""
    return {
        "network": str(world.network),
        "transformation": str(world.transformation),
        "task": str(world.done if api == "user" else world.held),
        "pdr_key": world.pdr_key,
        "location": world.file.location if api == "user" else world.held_file.location,
        "service_id": world.service_id,
        "unit_key": world.unit_key,
        "attempt": "1",
        "name": world.checkpoint if "checkpoints" in template else "extra.bin",
    }


def chain_of(model: Any) -> Any:
    return json.loads(model.to_json())


def valid_body(world: World, route: Route, network_chain: Any) -> Any:
    """The body an owner would send on ``route`` (only ever sent mangled here)."""
    waiting, network = str(world.waiting), str(world.network)
    bodies: dict[tuple[str, str, str], Any] = {
        ("user", "POST", "/networks"): {"network": network_chain, "scope": str(SCOPE)},
        ("user", "POST", "/networks/state"): {"networks": [network], "state": "active"},
        ("user", "POST", "/networks/{network}/tasks/action"): {"tasks": [waiting]},
        ("user", "POST", "/networks/{network}/tasks/cancel"): {"tasks": [waiting]},
        ("user", "PUT", "/networks/{network}/taskhub/weight"): {"weight": 0.5},
        ("user", "POST", "/networks/{network}/restart-patterns"): {
            "patterns": ["x"],
            "max_retries": 1,
        },
        ("user", "POST", "/networks/{network}/restart-patterns/remove"): {"patterns": ["x"]},
        ("user", "POST", "/transformations/{transformation}/tasks"): {"count": 1},
        ("user", "POST", "/tasks/status/query"): {"tasks": [waiting]},
        ("user", "POST", "/tasks/status"): {"tasks": [waiting], "status": "waiting"},
        ("user", "POST", "/tasks/priority/query"): {"tasks": [waiting]},
        ("user", "POST", "/tasks/priority"): {"tasks": [waiting], "priority": 10},
        ("compute", "POST", "/computeservice/{service_id}/register"): {"protocols": None},
        ("compute", "POST", "/computeservice/{service_id}/claim"): {"count": 1},
        ("compute", "PUT", "/computeservice/{service_id}/tasks/{task}/dag"): chain_of(
            world.held_run.dag
        ),
        ("compute", "PUT", "/computeservice/{service_id}/tasks/{task}/unit-results"): chain_of(
            world.held_run.results[1]
        ),
        ("compute", "POST", "/computeservice/{service_id}/tasks/{task}/finish"): chain_of(
            world.held_run.dag_result
        ),
    }
    return bodies[(route.api, route.method, route.template)]


def send(
    d: Deployment,
    jwts: dict[str, str],
    route: Route,
    path: dict[str, str],
    *,
    data: bytes | Iterable[bytes] | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> requests.Response:
    url = d.user_url if route.api == "user" else d.compute_url
    target = route.template.format(**path)
    return requests.request(
        route.method,
        url + target,
        data=data,
        headers={**bearer(jwts[route.api]), **(headers or {})},
        params=params,
        timeout=TIMEOUT,
        allow_redirects=False,
    )


def dumps(value: Any) -> bytes:
    """JSON as a careless client writes it (NaN and Infinity allowed)."""
    return json.dumps(value, allow_nan=True).encode()


def assert_4xx(answer: requests.Response, status: int | None, what: str) -> None:
    """A JSON error with ``status`` (any 4xx if None); 400s name a ValidationError class."""
    code = answer.status_code
    assert 400 <= code < 500 if status is None else code == status, (what, code, answer.text[:300])
    body = answer.json()
    assert set(body) == {"error", "detail"}, (what, body)
    if code == 400:
        assert body["error"] in BAD_REQUEST, (what, body)


# -- bodies -------------------------------------------------------------------------------------

JSON = "application/json"
ZSTD_BOMB = zstandard.ZstdCompressor(level=19).compress(b"[" + b" " * (8 << 20) + b"]")
DEEP_LIST = b"[" * DEEP + b"]" * DEEP
Mangle = Callable[[Any], tuple[bytes | Iterable[bytes], dict[str, str]]]


def _typed(ctype: str | None, **headers: str) -> dict[str, str]:
    out = dict(headers)
    if ctype is not None:
        out["Content-Type"] = ctype
    return out


def _chunks(body: bytes, size: int = 16 * 1024) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


BODIES: dict[str, tuple[Mangle, int]] = {
    "malformed JSON": (lambda v: (b'{"tasks": [', _typed(JSON)), 400),
    "not UTF-8": (lambda v: (b"\xff\xfe{}", _typed(JSON)), 400),
    "empty": (lambda v: (b"", _typed(JSON)), 400),
    "trailing garbage": (lambda v: (dumps(v) + b" x", _typed(JSON)), 400),
    "JSON null": (lambda v: (b"null", _typed(JSON)), 400),
    "wrong shape": (lambda v: (b"[]" if isinstance(v, dict) else b"{}", _typed(JSON)), 400),
    "extra key": (
        lambda v: (dumps({**v, "evil": 1} if isinstance(v, dict) else {"chain": v}), _typed(JSON)),
        400,
    ),
    "text/plain": (lambda v: (dumps(v), _typed("text/plain")), 415),
    "no Content-Type": (lambda v: (dumps(v), _typed(None)), 415),
    "form Content-Type": (lambda v: (dumps(v), _typed("application/x-www-form-urlencoded")), 415),
    "JSON-like Content-Type": (lambda v: (dumps(v), _typed("application/jsonx")), 415),
    "gzip": (
        lambda v: (gzip.compress(dumps(v)), _typed(JSON, **{"Content-Encoding": "gzip"})),
        415,
    ),
    "two encodings": (
        lambda v: (dumps(v), _typed(JSON, **{"Content-Encoding": "zstd, gzip"})),
        415,
    ),
    "zstd that is not zstd": (
        lambda v: (dumps(v), _typed(JSON, **{"Content-Encoding": "zstd"})),
        400,
    ),
    "zstd bomb": (lambda v: (ZSTD_BOMB, _typed(JSON, **{"Content-Encoding": "zstd"})), 413),
    "oversize": (lambda v: (dumps(v) + b" " * LIMIT, _typed(JSON)), 413),
    "oversize chunked": (lambda v: (_chunks(dumps(v) + b" " * LIMIT), _typed(JSON)), 413),
    "deep list": (lambda v: (DEEP_LIST, _typed(JSON)), 400),
    "deep object": (lambda v: (b'{"a":' * DEEP + b"1" + b"}" * DEEP, _typed(JSON)), 400),
    "deep inside zstd": (
        lambda v: (
            zstandard.ZstdCompressor().compress(DEEP_LIST),
            _typed(JSON, **{"Content-Encoding": "zstd"}),
        ),
        400,
    ),
    "5000-digit integer": (lambda v: (b'{"count": ' + b"9" * 5000 + b"}", _typed(JSON)), 400),
}


@pytest.mark.parametrize("kind", list(BODIES))
def test_hostile_bodies_on_every_json_route(
    kind: str,
    module_deployment: Deployment,
    world: World,
    jwts: dict[str, str],
    routes: list[Route],
    network_chain: Any,
    unchanged: Callable[[], Any],
) -> None:
    mangle, status = BODIES[kind]
    json_routes = [r for r in routes if r.body == JSON]
    assert len(json_routes) >= 17
    with unchanged():
        for route in json_routes:
            data, headers = mangle(valid_body(world, route, network_chain))
            answer = send(
                module_deployment,
                jwts,
                route,
                path_values(world, route.api, route.template),
                data=data,
                headers=headers,
            )
            assert_4xx(answer, status, f"{kind}: {route.id}")


def test_the_limits_let_a_body_just_within_them_through(
    module_deployment: Deployment,
    world: World,
    jwts: dict[str, str],
    routes: list[Route],
    unchanged: Callable[[], Any],
) -> None:
    """The control for the 413s above: the same route takes a body right at each limit."""
    route = next(r for r in routes if r.template == "/tasks/status/query")
    query = dumps({"tasks": [str(world.waiting)]})
    at_limit = query + b" " * (LIMIT - len(query))
    decompressed_at_limit = query + b" " * (4 * LIMIT - len(query))
    bodies = [
        (at_limit, _typed(JSON)),
        (_chunks(at_limit), _typed(JSON)),
        (
            zstandard.ZstdCompressor().compress(decompressed_at_limit),
            _typed(JSON, **{"Content-Encoding": "zstd"}),
        ),
        (dumps({"tasks": [str(world.waiting)]}), _typed("Application/JSON; charset=utf-8")),
    ]
    with unchanged():
        for data, headers in bodies:
            answer = send(module_deployment, jwts, route, {}, data=data, headers=headers)
            assert answer.status_code == 200, answer.text
            assert answer.json() == {str(world.waiting): "waiting"}


def test_only_json_file_and_form_bodies_exist(routes: list[Route]) -> None:
    """If a route takes another kind of body, this module does not attack it yet."""
    assert {r.body for r in routes} == {
        None,
        JSON,
        "application/octet-stream",
        "application/x-www-form-urlencoded",
    }


# -- keyed chains -------------------------------------------------------------------------------


def _rekeyed(entry_dict: dict[str, Any]) -> list[Any]:
    return [key_from_keyed_dict(entry_dict), entry_dict]


def _mismatch(chain: list[Any]) -> list[Any]:
    first_key, first = chain[0]
    return [[first_key, {**first, "evil": 1}], *chain[1:]]


def _with_reference(root: dict[str, Any], key: str) -> list[Any]:
    return _rekeyed({**root, "extra": {":key:": key}})


def _forward(chain: list[Any]) -> list[Any]:
    """The root refers to an entry that only comes after it."""
    later = _rekeyed({"__qualname__": "Thing", "__module__": "x", ":version:": 1})
    return [*chain[:-1], _with_reference(chain[-1][1], later[0]), later]


def _dangling(chain: list[Any]) -> list[Any]:
    """The root refers to an entry the chain does not have."""
    return [*chain[:-1], _with_reference(chain[-1][1], "Thing-" + "f" * 32)]


def _cycle(chain: list[Any]) -> list[Any]:
    a = {
        "__qualname__": "ProtocolUnit",
        "__module__": "x",
        ":version:": 1,
        "dep": {":key:": "ProtocolUnit-" + "b" * 32},
    }
    b = {
        "__qualname__": "ProtocolUnit",
        "__module__": "x",
        ":version:": 1,
        "dep": {":key:": "ProtocolUnit-" + "a" * 32},
    }
    return [["ProtocolUnit-" + "a" * 32, a], ["ProtocolUnit-" + "b" * 32, b], *chain]


CHAINS: dict[str, Callable[[list[Any]], Any]] = {
    "key mismatch": _mismatch,
    "forward reference": lambda c: _forward(c),
    "dangling reference": lambda c: _dangling(c),
    "duplicate key": lambda c: [c[0], *c],
    "cycle": _cycle,
    "not a key": lambda c: [["not a key", c[0][1]], *c[1:]],
    "huge key": lambda c: [["Task-" + "a" * 10_000, c[0][1]], *c[1:]],
    "entry not a pair": lambda c: [[c[0][0]], *c[1:]],
    "entry not an object": lambda c: [[c[0][0], "x"], *c[1:]],
    "empty chain": lambda c: [],
    "unknown class root": lambda c: [
        *c,
        _rekeyed({"__qualname__": "Popen", "__module__": "subprocess", ":version:": 1}),
    ],
    "bad reference shape": lambda c: [
        *c,
        _rekeyed(
            {
                "__qualname__": "ProtocolDAG",
                "__module__": "x",
                ":version:": 1,
                "protocol_units": [{":key:": 1}],
            }
        ),
    ],
}

CHAIN_ROUTES = [
    ("user", "POST", "/networks"),
    ("compute", "PUT", "/computeservice/{service_id}/tasks/{task}/dag"),
    ("compute", "PUT", "/computeservice/{service_id}/tasks/{task}/unit-results"),
    ("compute", "POST", "/computeservice/{service_id}/tasks/{task}/finish"),
]


@pytest.mark.parametrize("kind", list(CHAINS))
def test_bad_keyed_chains_are_400(
    kind: str,
    module_deployment: Deployment,
    world: World,
    jwts: dict[str, str],
    routes: list[Route],
    network_chain: Any,
    unchanged: Callable[[], Any],
) -> None:
    by_id = {(r.api, r.method, r.template): r for r in routes}
    with unchanged():
        for key in CHAIN_ROUTES:
            route = by_id[key]
            body = valid_body(world, route, network_chain)
            if route.template == "/networks":
                body = {**body, "network": CHAINS[kind](body["network"])}
            else:
                body = CHAINS[kind](body)
            answer = send(
                module_deployment,
                jwts,
                route,
                path_values(world, route.api, route.template),
                data=dumps(body),
                headers=_typed(JSON),
            )
            assert_4xx(answer, 400, f"{kind}: {route.id}")


def test_a_chain_of_the_wrong_kind_is_400(
    module_deployment: Deployment,
    world: World,
    jwts: dict[str, str],
    routes: list[Route],
    network_chain: Any,
    unchanged: Callable[[], Any],
) -> None:
    by_id = {(r.api, r.method, r.template): r for r in routes}
    run = world.held_run
    wrong = {
        "/dag": [network_chain, chain_of(run.results[1]), chain_of(run.dag_result)],
        "/unit-results": [network_chain, chain_of(run.dag), chain_of(run.dag_result)],
        "/finish": [network_chain, chain_of(run.dag), chain_of(run.results[1])],
    }
    with unchanged():
        for _, method, template in CHAIN_ROUTES[1:]:
            route = by_id[("compute", method, template)]
            for body in wrong["/" + template.rsplit("/", 1)[1]]:
                answer = send(
                    module_deployment,
                    jwts,
                    route,
                    path_values(world, "compute", template),
                    data=dumps(body),
                    headers=_typed(JSON),
                )
                assert_4xx(answer, 400, route.id)
        bad_network = {"network": chain_of(run.dag), "scope": str(SCOPE)}
        answer = send(
            module_deployment,
            jwts,
            by_id[("user", "POST", "/networks")],
            {},
            data=dumps(bad_network),
            headers=_typed(JSON),
        )
        assert_4xx(answer, 400, "a DAG as a network")


def _unit_result_with(world: World, **fields: Any) -> list[Any]:
    """The consumer's result with ``fields`` changed and its key recomputed (so it verifies)."""
    chain = chain_of(world.held_run.results[1])
    root = {**chain[-1][1], **fields}
    return [*chain[:-1], _rekeyed(root)]


@pytest.mark.parametrize("attempt", [0, -1, 2**63, 10**30, 1.5, "1", True, None])
def test_absurd_attempt_numbers_in_unit_results_are_400(
    attempt: Any,
    module_deployment: Deployment,
    world: World,
    jwts: dict[str, str],
    routes: list[Route],
    unchanged: Callable[[], Any],
) -> None:
    route = next(r for r in routes if r.template.endswith("/unit-results") and r.method == "PUT")
    body = _unit_result_with(world, attempt=attempt)
    with unchanged():
        answer = send(
            module_deployment,
            jwts,
            route,
            path_values(world, "compute", route.template),
            data=dumps(body),
            headers=_typed(JSON),
        )
        assert_4xx(answer, 400, str(attempt))


# -- fields -------------------------------------------------------------------------------------

#: Scope strings that break the scope rules ("org-campaign" is fine: it means org-campaign-*).
BAD_SCOPES = [
    "org-campaign-project-extra",
    "org--project",
    "-campaign-project",
    "*-campaign-project",
    "org-*-project",
    "org-campaign-project\n",
    "org-campaign-proj ect",
    "org-campaign-prøject",
    "\uff4frg-campaign-project",
    "org-campaign-project\x00",
    "../..-x-y",
    "",
    "org-",
    "org-campaign-",
]
BAD_STATUSES = ["bogus", "waiting\n", "", "WAITING", 7, None, ["waiting"]]
HUGE = [10**30, 2**63, -(2**63) - 1, 10**400]
#: Not numbers at all. (pydantic's lax mode reads "1" and true as 1: sloppy, not hostile.)
NOT_NUMBERS = [float("nan"), float("inf"), float("-inf"), "one", None, [1]]


def _field_cases(
    world: World, network_chain: Any
) -> list[tuple[str, str, str, Any, dict[str, str]]]:
    """(api, method, template, body, query) of bodies and queries with one absurd field."""
    w, t, n = str(world.waiting), str(world.transformation), str(world.network)
    cases: list[tuple[str, str, str, Any, dict[str, str]]] = []
    user, compute = "user", "compute"
    svc = "/computeservice/{service_id}"
    for status in BAD_STATUSES:
        cases.append((user, "POST", "/tasks/status", {"tasks": [w], "status": status}, {}))
    for status in ("bogus", "waiting\n", "WAITING"):
        cases.append((user, "GET", "/networks/{network}/tasks", None, {"status": status}))
        cases.append(
            (user, "GET", "/transformations/{transformation}/tasks", None, {"status": status})
        )
    for scope in BAD_SCOPES:
        cases.append((user, "POST", "/networks", {"network": network_chain, "scope": scope}, {}))
        cases.append((compute, "POST", f"{svc}/claim", {"count": 1, "scopes": [scope]}, {}))
        if scope:  # an empty query value means "no filter"
            cases.append((user, "GET", "/networks", None, {"scope": scope}))
            cases.append((user, "GET", "/transformations", None, {"scope": scope}))
    for state in ("bogus", "ACTIVE", "active\n"):
        cases.append(
            (
                user,
                "POST",
                "/networks",
                {"network": network_chain, "scope": str(SCOPE), "state": state},
                {},
            )
        )
        cases.append((user, "POST", "/networks/state", {"networks": [n], "state": state}, {}))
        cases.append((user, "GET", "/networks", None, {"network_state": state}))
    for value in [*HUGE, 0, -1, *NOT_NUMBERS]:
        cases.append((user, "POST", "/tasks/priority", {"tasks": [w], "priority": value}, {}))
        cases.append(
            (user, "POST", "/transformations/{transformation}/tasks", {"count": value}, {})
        )
        if value != 0:  # no restarts at all is a valid max_retries
            body = {"patterns": ["x"], "max_retries": value}
            cases.append((user, "POST", "/networks/{network}/restart-patterns", body, {}))
        cases.append((compute, "POST", f"{svc}/claim", {"count": value}, {}))
    for value in [*HUGE, 0, -1, 1.5, *NOT_NUMBERS]:
        cases.append((user, "PUT", "/networks/{network}/taskhub/weight", {"weight": value}, {}))
        if value is not None:  # no weight means the default one
            body = {"tasks": [w], "weight": value}
            cases.append((user, "POST", "/networks/{network}/tasks/action", body, {}))
    for pattern in ("(", "", "a" * 2000, 1, None):
        cases.append(
            (
                user,
                "POST",
                "/networks/{network}/restart-patterns",
                {"patterns": [pattern], "max_retries": 1},
                {},
            )
        )
    for tasks in (
        "not a list",
        [1],
        [None],
        ["garbage"],
        [w + "\n"],
        [w.replace("-", "\u2010")],
        [t],
    ):
        cases.append((user, "POST", "/tasks/status/query", {"tasks": tasks}, {}))
        cases.append((user, "POST", "/networks/{network}/tasks/action", {"tasks": tasks}, {}))
    for extends in ("garbage", str(world.done) + "\n", t):
        cases.append(
            (
                user,
                "POST",
                "/transformations/{transformation}/tasks",
                {"count": 1, "extends": extends},
                {},
            )
        )
    for protocols in ("x", [1], [None]):
        cases.append((compute, "POST", f"{svc}/register", {"protocols": protocols}, {}))
        cases.append((compute, "POST", f"{svc}/claim", {"count": 1, "protocols": protocols}, {}))
    cases.append((compute, "POST", f"{svc}/claim", {"count": 1, "scopes": str(SCOPE)}, {}))
    cases.append((user, "GET", "/tasks/{task}/files/{location}", None, {"redirect": "maybe"}))
    cases.append((compute, "GET", f"{svc}/tasks/{{task}}/unit-results", None, {"ok_only": "maybe"}))
    return cases


def test_absurd_field_values_are_4xx(
    module_deployment: Deployment,
    world: World,
    jwts: dict[str, str],
    routes: list[Route],
    network_chain: Any,
    unchanged: Callable[[], Any],
) -> None:
    by_id = {(r.api, r.method, r.template): r for r in routes}
    failures = []
    with unchanged():
        for api, method, template, body, query in _field_cases(world, network_chain):
            route = by_id[(api, method, template)]
            answer = send(
                module_deployment,
                jwts,
                route,
                path_values(world, api, template),
                data=None if body is None else dumps(body),
                headers=_typed(JSON) if body is not None else {},
                params=query,
            )
            if not (400 <= answer.status_code < 500 and set(answer.json()) == {"error", "detail"}):
                failures.append(
                    (route.id, repr(body)[:120], query, answer.status_code, answer.text[:200])
                )
        assert not failures, "\n".join(repr(f) for f in failures)


# -- uploads ------------------------------------------------------------------------------------


def test_hostile_uploads_are_4xx(
    module_deployment: Deployment,
    world: World,
    jwts: dict[str, str],
    routes: list[Route],
    unchanged: Callable[[], Any],
) -> None:
    data = b"payload-bytes"
    digest = hashlib.sha256(data).hexdigest()
    good = {"Content-Type": "application/octet-stream", "X-Content-SHA256": digest}
    uploads = [
        ({**good, "X-Content-SHA256": "0" * 64}, data, 422),  # wrong digest
        ({"Content-Type": "application/octet-stream"}, data, 400),  # no digest
        ({**good, "X-Content-SHA256": digest.upper()}, data, 400),
        ({**good, "X-Content-SHA256": "g" * 64}, data, 400),
        ({**good, "Content-Type": JSON}, data, 415),
        ({**good, "Content-Type": "text/plain"}, data, 415),
        ({**good, "Content-Encoding": "zstd"}, zstandard.ZstdCompressor().compress(data), 415),
        ({**good, "Content-Encoding": "gzip"}, gzip.compress(data), 415),
        (
            {**good, "X-Content-SHA256": hashlib.sha256(b"x" * (LIMIT + 1)).hexdigest()},
            b"x" * (LIMIT + 1),
            413,
        ),
        (
            {**good, "X-Content-SHA256": hashlib.sha256(b"x" * (LIMIT + 1)).hexdigest()},
            b"chunked",  # sent as a fresh generator of LIMIT + 1 bytes on each route
            413,
        ),
    ]
    file_routes = [r for r in routes if r.body == "application/octet-stream"]
    assert len(file_routes) == 2
    with unchanged():
        for route in file_routes:
            for headers, body, status in uploads:
                sent = _chunks(b"x" * (LIMIT + 1)) if body == b"chunked" else body
                answer = send(
                    module_deployment,
                    jwts,
                    route,
                    path_values(world, "compute", route.template),
                    data=sent,
                    headers=headers,
                )
                assert_4xx(answer, status, f"{route.id} {headers}")


# -- path parameters ----------------------------------------------------------------------------

SEGMENTS: dict[str, Callable[[str], str]] = {
    "trailing newline": lambda v: v + "\n",
    "CRLF": lambda v: v + "\r\nX-Injected: 1",
    "NUL": lambda v: v + "\x00",
    "escape sequence": lambda v: "\x1b[31m" + v,
    "unicode": lambda v: v + "\u00e9",
    "homoglyph dash": lambda v: v.replace("-", "\u2010") if "-" in v else v + "\u2010",
    "right-to-left override": lambda v: "\u202e" + v,
    "traversal": lambda v: "../../../../etc/passwd",
    "traversal after value": lambda v: v + "/../../x",
    "dot": lambda v: ".",
    "dot dot": lambda v: "..",
    "absolute": lambda v: "/etc/passwd",
    "long": lambda v: "A" * 5000,
    "huge integer": lambda v: "9" * 40,
    "negative": lambda v: "-1",
    "percent": lambda v: v + "%",
}
#: Parameters for which a kind of segment is a valid value ("-1" is a fine file name).
VALID_AS = {"huge integer": {"name"}, "negative": {"name"}}


def _segment(value: str) -> str:
    """``value`` as one path segment, sent as it is: dots encoded so no client removes them."""
    return quote(value, safe="").replace(".", "%2E")


@pytest.mark.parametrize("kind", list(SEGMENTS))
def test_hostile_path_segments_are_4xx(
    kind: str,
    module_deployment: Deployment,
    world: World,
    jwts: dict[str, str],
    routes: list[Route],
    network_chain: Any,
    unchanged: Callable[[], Any],
) -> None:
    hostile = SEGMENTS[kind]
    failures = []
    attacked = 0
    with unchanged():
        for route in routes:
            if route.template.startswith("/objectstore/"):
                continue  # signed URLs of the local store only; this deployment uses S3
            valid = path_values(world, route.api, route.template)
            body: bytes | None = None
            headers: dict[str, str] = {}
            if route.body == JSON:
                body, headers = dumps(valid_body(world, route, network_chain)), _typed(JSON)
            elif route.body == "application/octet-stream":
                body = b"hostile-path-upload"
                headers = {
                    "Content-Type": "application/octet-stream",
                    "X-Content-SHA256": hashlib.sha256(body).hexdigest(),
                }
            for param in route.params:
                if param in VALID_AS.get(kind, set()):
                    continue
                attacked += 1
                value = hostile(valid[param])
                assert value != valid[param]
                path = {
                    **{p: quote(valid[p], safe="/") for p in route.params},
                    param: _segment(value),
                }
                answer = send(module_deployment, jwts, route, path, data=body, headers=headers)
                if not (
                    400 <= answer.status_code < 500 and set(answer.json()) == {"error", "detail"}
                ):
                    failures.append(
                        (route.id, param, repr(value)[:60], answer.status_code, answer.text[:200])
                    )
        assert not failures, "\n".join(repr(f) for f in failures)
    assert attacked > 50


# -- the login form -----------------------------------------------------------------------------

FORM = "application/x-www-form-urlencoded"


@pytest.mark.parametrize("api", ["user", "compute"])
@pytest.mark.parametrize("chunked", [False, True], ids=["sized", "chunked"])
def test_an_oversized_login_form_is_413(
    api: str, chunked: bool, module_deployment: Deployment, unchanged: Callable[[], Any]
) -> None:
    """The form is read before any route code runs: its size must be limited on the way in."""
    url = module_deployment.user_url if api == "user" else module_deployment.compute_url
    body = b"username=alice&password=" + b"k" * LIMIT
    with unchanged():
        answer = requests.post(
            f"{url}/token",
            data=_chunks(body) if chunked else body,
            headers={"Content-Type": FORM},
            timeout=TIMEOUT,
        )
        assert_4xx(answer, 413, "login form")


@pytest.mark.parametrize("api", ["user", "compute"])
def test_a_hostile_login_form_is_4xx(
    api: str, module_deployment: Deployment, unchanged: Callable[[], Any]
) -> None:
    url = module_deployment.user_url if api == "user" else module_deployment.compute_url
    forms: list[tuple[bytes, str]] = [
        (b"username=alice&password=%FF%FE", FORM),
        (b"username=alice%00&password=x", FORM),
        (b"username=" + b"a" * 5000 + b"&password=" + b"b" * 5000, FORM),
        (b"username=alice&username=bob&password=x", FORM),
        (b"\xff\xfe\xfd", FORM),
        (
            b"--x\r\nContent-Disposition: form-data; name=username\r\n\r\nalice\r\n--x--",
            "multipart/form-data; boundary=x",
        ),
        (b"--x\r\nbroken", "multipart/form-data; boundary=x"),
        (b"username=alice&password=x", "multipart/form-data"),
    ]
    with unchanged():
        for body, ctype in forms:
            answer = requests.post(
                f"{url}/token", data=body, headers={"Content-Type": ctype}, timeout=TIMEOUT
            )
            assert_4xx(answer, None, repr(body[:40]))
