"""The measured pages: login, each page with its bare baseline, and the timed rounds.

A page is fetched with ``requests`` (one keep-alive session holding the login cookie,
redirects not followed). Its figure is the ``Server-Timing: app;dur=<ms>`` header;
the client's wall time (request sent to body read) is kept too. Each round fetches
``GET /ping`` once (the HTTP floor), then, page by page, the page, its baseline (the
bare store calls it needs, in-process) and the service-layer call the route makes
(``services.overview``, in-process), so all three see the same load.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from alchemiscale_like.models import Scope
from alchemiscale_like.security.scopes import permits, visible_scopes
from alchemiscale_like.services import overview
from alchemiscale_like.services.stores import Stores
from devtools.bench.api.deployment import ORG, USER, Deployment
from devtools.bench.api.measurement import Measurement, load, median, percentile
from devtools.bench.common import log
from devtools.bench.dashboard.fill import Filled

#: The target of every page: server-side time (``Server-Timing``).
TARGET_MS = 300
WARMUP = 3
TIMEOUT = 300
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
SERVER_TIMING = re.compile(r"\bapp;dur=([0-9]+(?:\.[0-9]+)?)")
#: What the bench identity holds (``deploy`` gives it the scope organisation ``ORG``).
IDENTITY_SCOPES = [Scope.from_str(ORG)]


@dataclass(frozen=True)
class Page:
    """One page: its path under ``/ui``, its baseline and the service call behind it.

    ``shows`` says how much the page holds, from the service call's result.
    """

    name: str
    path: str
    baseline: Callable[[], object]
    baseline_call: str
    service: Callable[[], Any]
    shows: Callable[[Any], dict[str, int]]


@dataclass
class PageRuns:
    """Everything timed for one page (milliseconds)."""

    server: list[float] = field(default_factory=list)
    client: list[float] = field(default_factory=list)
    baseline: list[float] = field(default_factory=list)
    service: list[float] = field(default_factory=list)
    warmup_server: list[float] = field(default_factory=list)
    statuses: set[int] = field(default_factory=set)
    page_bytes: int = 0
    shows: dict[str, int] = field(default_factory=dict)


def login(deployment: Deployment) -> requests.Session:
    """A browser-like session logged in as the bench user through the login form.

    Raises:
        RuntimeError: the form or the login did not answer as a browser expects.
    """
    ui = f"{deployment.user_api.url}/ui"
    session = requests.Session()
    form = session.get(f"{ui}/login", timeout=TIMEOUT)
    match = CSRF_FIELD.search(form.text)
    if form.status_code != 200 or match is None:
        raise RuntimeError(f"GET /ui/login answered {form.status_code} without a CSRF field")
    answer = session.post(
        f"{ui}/login",
        data={"identifier": USER, "key": deployment.keys[USER], "csrf_token": match.group(1)},
        allow_redirects=False,
        timeout=TIMEOUT,
    )
    if answer.status_code != 303:
        raise RuntimeError(f"POST /ui/login answered {answer.status_code}: {answer.text[:300]}")
    return session


def _networks(stores: Stores) -> None:
    for scope in visible_scopes(IDENTITY_SCOPES, None):
        for sk in stores.statestore.query_networks(None, scope, None):
            stores.statestore.get_network_name(sk)
            stores.statestore.get_network_state(sk)
            stores.statestore.get_network_status(sk)


def _network(stores: Stores, filled: Filled) -> None:
    stores.statestore.get_network_summaries(filled.network)
    stores.statestore.get_network_name(filled.network)
    stores.statestore.get_network_state(filled.network)


def _transformation(stores: Stores, filled: Filled) -> None:
    sk = filled.transformation
    stores.statestore.get_transformation_task_summaries(sk)
    stores.statestore.get_transformation_protocol(sk)
    stores.statestore.get_transformation_networks(sk)
    stores.objectstore.get_object(sk.gufe_key)


def _task(stores: Stores, filled: Filled) -> None:
    sk = filled.task
    stores.statestore.get_task(sk)
    refs = stores.statestore.get_unit_results(sk)
    stores.statestore.get_task_claimant(sk)
    dag = stores.statestore.get_task_dag(sk)
    if dag is not None:
        stores.objectstore.get_task_json(sk, dag.relpath)
    for ref in refs:
        if not ref.ok:
            stores.objectstore.get_task_json(sk, ref.relpath)
    stores.statestore.get_task_results(sk)


def pages(deployment: Deployment, filled: Filled) -> list[Page]:
    """The measured pages, in the order each round fetches them."""
    stores = deployment.stores
    network, transformation, task = filled.network, filled.transformation, filled.task

    def network_view() -> overview.NetworkView:
        return overview.network_view(stores, network)

    def network_shows(view: overview.NetworkView) -> dict[str, int]:
        return {"transformations": len(view.transformations), "tasks": view.status.total}

    network_call = "get_network_summaries + get_network_name + get_network_state"
    return [
        Page(
            "networks",
            "/networks",
            lambda: _networks(stores),
            "query_networks per visible scope, then get_network_name + get_network_state + "
            "get_network_status per network",
            lambda: overview.networks_in_scopes(
                stores, visible_scopes(IDENTITY_SCOPES, None), None
            ),
            lambda found: {"networks": len(found), "tasks": sum(n.status.total for n in found)},
        ),
        Page(
            "network",
            f"/networks/{network}",
            lambda: _network(stores, filled),
            network_call,
            network_view,
            network_shows,
        ),
        Page(
            "network_table",
            f"/networks/{network}/table",
            lambda: _network(stores, filled),
            network_call,
            network_view,
            network_shows,
        ),
        Page(
            "network_estimates",
            f"/networks/{network}/estimates",
            lambda: stores.statestore.get_network_estimates(network),
            "get_network_estimates",
            lambda: overview.network_estimates(stores, network),
            lambda found: {
                "transformations": len(found),
                "results": sum(e.n_results for e in found),
            },
        ),
        Page(
            "transformation",
            f"/transformations/{transformation}",
            lambda: _transformation(stores, filled),
            "get_transformation_task_summaries + get_transformation_protocol + "
            "get_transformation_networks + objectstore.get_object (its chain)",
            lambda: overview.transformation_view(stores, transformation),
            lambda view: {"tasks": len(view.tasks)},
        ),
        Page(
            "task",
            f"/tasks/{task}",
            lambda: _task(stores, filled),
            "get_task + get_unit_results + get_task_claimant + get_task_dag + "
            "get_task_results + objectstore.get_task_json of the DAG and of each failed unit",
            lambda: overview.task_view(stores, task),
            lambda view: {
                "units": len(view.units),
                "unit_attempts": sum(len(u.attempts) for u in view.units),
                "failures": len(view.failures),
            },
        ),
        Page(
            "services",
            "/services",
            lambda: stores.statestore.list_computeservices(),
            "list_computeservices",
            lambda: overview.compute_services(
                stores, lambda scope: permits(IDENTITY_SCOPES, scope)
            ),
            lambda found: {
                "services": len(found),
                "tasks_held": sum(len(s.tasks_held) for s in found),
            },
        ),
    ]


def _ms(work: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = work()
    return (time.perf_counter() - start) * 1000, result


def _fetch(session: requests.Session, url: str) -> tuple[float, float, requests.Response]:
    """Client ms, server ms (``Server-Timing``) and the answer of ``GET url``.

    Raises:
        RuntimeError: the answer has no ``Server-Timing: app;dur=`` header.
    """
    client_ms, answer = _ms(lambda: session.get(url, allow_redirects=False, timeout=TIMEOUT))
    match = SERVER_TIMING.search(answer.headers.get("server-timing", ""))
    if match is None:
        raise RuntimeError(f"GET {url} ({answer.status_code}) has no Server-Timing app;dur")
    return client_ms, float(match.group(1)), answer


def measure(
    deployment: Deployment, filled: Filled, repeats: int
) -> tuple[dict[str, Measurement], dict[str, Any]]:
    """Time every page: :data:`WARMUP` calls each, then ``repeats`` interleaved rounds.

    Returns the measurements and the HTTP floor (``GET /ping``, client ms).
    """
    session = login(deployment)
    ui = f"{deployment.user_api.url}/ui"
    measured = pages(deployment, filled)
    runs = {page.name: PageRuns() for page in measured}
    ping: list[float] = []
    loads: list[float] = []
    try:
        for round_ in range(WARMUP + repeats):
            warm = round_ >= WARMUP
            ping_ms, _ = _ms(lambda: session.get(f"{deployment.user_api.url}/ping", timeout=60))
            if warm:
                ping.append(ping_ms)
                loads.append(load())
            for page in measured:
                page_runs = runs[page.name]
                client_ms, server_ms, answer = _fetch(session, f"{ui}{page.path}")
                page_runs.statuses.add(answer.status_code)
                page_runs.page_bytes = len(answer.content)
                baseline_ms, _ = _ms(page.baseline)
                service_ms, result = _ms(page.service)
                if not warm:
                    page_runs.warmup_server.append(server_ms)
                    page_runs.shows = page.shows(result)
                    continue
                page_runs.server.append(server_ms)
                page_runs.client.append(client_ms)
                page_runs.baseline.append(baseline_ms)
                page_runs.service.append(service_ms)
            if warm:
                log(
                    f"pages: round {round_ - WARMUP + 1} of {repeats}: "
                    + ", ".join(f"{p.name} {runs[p.name].server[-1]:.0f} ms" for p in measured)
                )
    finally:
        session.close()
    floor = {"median_ms": round(median(ping), 2), "p90_ms": round(percentile(ping, 0.9), 2)}
    results = {
        page.name: _measurement(page, runs[page.name], floor["median_ms"], loads)
        for page in measured
    }
    return results, floor | {"runs_ms": [round(p, 2) for p in ping]}


def _stats(values: list[float]) -> dict[str, float]:
    return {"median": round(median(values), 2), "p90": round(percentile(values, 0.9), 2)}


def _measurement(page: Page, runs: PageRuns, floor_ms: float, loads: list[float]) -> Measurement:
    return Measurement(
        value=median(runs.server),
        unit="ms",
        baseline=median(runs.baseline),
        baseline_call=f"in-process {page.baseline_call}",
        target=TARGET_MS,
        conditions={"answered_200": runs.statuses == {200}},
        runs=runs.server,
        baseline_runs=runs.baseline,
        details={
            "path": f"/ui{page.path}",
            "server_ms": _stats(runs.server),
            "client_ms": _stats(runs.client),
            "service_layer_ms": _stats(runs.service),
            "warmup_server_ms": [round(x, 2) for x in runs.warmup_server],
            "http_floor_ms": floor_ms,
            "statuses": sorted(runs.statuses),
            "page_bytes": runs.page_bytes,
            "shows": runs.shows,
            "load_1min": [min(loads), max(loads)] if loads else [],
        },
    )
