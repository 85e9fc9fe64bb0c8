"""The dashboard over real HTTP: login, cookies, CSRF, scopes, pages, downloads, estimates.

The browser tests (tests/ui) drive the same pages in Chromium; these check every rule
with plain requests, where each answer can be inspected byte for byte.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import fastapi.routing
import pytest
import requests
from fastapi.routing import APIRoute

from alchemiscale_like.models.estimate import ResultEstimate
from alchemiscale_like.models.task import TaskStatus
from alchemiscale_like.security.identity import IdentityKind
from alchemiscale_like.security.tokens import create_access_token
from alchemiscale_like.server.settings import APISettings
from alchemiscale_like.server.ui.session import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    SESSION_ID_COOKIE,
)
from alchemiscale_like.server.user_api import create_user_app
from tests.server.conftest import KEYS, OTHER_SCOPE, SECRET, Deployment
from tests.server.helpers import (
    World,
    bearer,
    compute,
    file_network,
    run_locally,
    seed_world,
    token,
    upload_run,
    user,
)

# One worker seeds the shared worlds once (module_deployment), not each worker its own.
pytestmark = pytest.mark.xdist_group("ui_http")

CSRF_FIELD = re.compile(r'name="csrf_token" value="([A-Za-z0-9_-]{43})"')


@dataclass
class Worlds:
    """Alice's seeded world in her scope, and bob's network with a held task in his."""

    alice: World
    bob_network: str
    bob_transformation: str
    bob_task: str
    bob_file_location: str
    bob_name: str


@pytest.fixture(scope="module")
def worlds(module_deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> Worlds:
    workdir = tmp_path_factory.mktemp("ui")
    alice = seed_world(module_deployment, workdir)
    bob = user(module_deployment, "bob")
    name = "bobs-secret-network"
    network = bob.create_network(file_network(name), OTHER_SCOPE)
    (transformation,) = bob.get_network_transformations(network)
    (task,) = bob.create_tasks(transformation)
    bob.action_tasks([task], network)
    rival = compute(module_deployment, "rival-worker", "r")
    rival.register()
    assert rival.claim_tasks() == [task]
    model = rival.get_task_transformation(task)
    _, dag = rival.set_task_dag(task, model.create(seed=3))
    run = run_locally(dag, rival.get_task(task).attempts, workdir / "bob")
    upload_run(rival, task, run, 1)
    location = run.results[0].files[0].location
    return Worlds(alice, str(network), str(transformation), str(task), location, name)


def ui(deployment: Deployment) -> str:
    return f"{deployment.user_url}/ui"


def csrf_of(page: requests.Response) -> str:
    match = CSRF_FIELD.search(page.text)
    assert match is not None, page.text[:500]
    return match.group(1)


def login(deployment: Deployment, name: str = "alice") -> requests.Session:
    """A browser-like session logged in as ``name`` through the login form."""
    session = requests.Session()
    form = session.get(f"{ui(deployment)}/login", timeout=30)
    assert form.status_code == 200
    answer = session.post(
        f"{ui(deployment)}/login",
        data={"identifier": name, "key": KEYS[name], "csrf_token": csrf_of(form)},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 303, answer.text
    return session


def set_cookie_headers(response: requests.Response) -> list[str]:
    return [v for k, v in response.raw.headers.items() if k.lower() == "set-cookie"]


def test_login_sets_an_httponly_samesite_session_cookie(module_deployment, worlds):
    session = requests.Session()
    form = session.get(f"{ui(module_deployment)}/login", timeout=30)
    (login_cookie,) = set_cookie_headers(form)
    assert login_cookie.startswith(f"{LOGIN_CSRF_COOKIE}=")
    for attribute in ("HttpOnly", "SameSite=strict", "Path=/ui"):
        assert attribute.lower() in login_cookie.lower()
    answer = session.post(
        f"{ui(module_deployment)}/login",
        data={
            "identifier": "alice",
            "key": KEYS["alice"],
            "csrf_token": csrf_of(form),
            "next": "/ui/services",
        },
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/services"
    cookies = set_cookie_headers(answer)
    (session_cookie,) = [c for c in cookies if c.startswith(f"{SESSION_COOKIE}=")]
    (id_cookie,) = [c for c in cookies if c.startswith(f"{SESSION_ID_COOKIE}=")]
    for cookie in (session_cookie, id_cookie):
        for attribute in ("HttpOnly", "SameSite=strict", "Path=/ui"):
            assert attribute.lower() in cookie.lower()
        assert "secure" not in cookie.lower()  # plain HTTP here; Secure over HTTPS
    page = session.get(f"{ui(module_deployment)}/networks", timeout=30)
    assert page.status_code == 200
    assert str(worlds.alice.network) in page.text


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ({"csrf_token": "wrong-" + "x" * 37}, 403),  # a CSRF token that is not the cookie's
        ({"csrf_token": None}, 403),  # no CSRF token at all
        ({"key": "not-alices-key"}, 401),
        ({"identifier": "nobody"}, 401),
        ({"identifier": "worker", "key": KEYS["worker"]}, 401),  # a compute identity
    ],
)
def test_a_bad_login_sets_no_session(module_deployment, worlds, fields, status):
    session = requests.Session()
    form = session.get(f"{ui(module_deployment)}/login", timeout=30)
    data = {"identifier": "alice", "key": KEYS["alice"], "csrf_token": csrf_of(form)}
    data.update(fields)
    answer = session.post(
        f"{ui(module_deployment)}/login",
        data={k: v for k, v in data.items() if v is not None},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == status
    assert SESSION_COOKIE not in session.cookies
    assert (
        session.get(f"{ui(module_deployment)}/networks", allow_redirects=False).status_code == 303
    )


def test_login_csrf_needs_the_cookie_it_was_issued_with(module_deployment, worlds):
    form = requests.get(f"{ui(module_deployment)}/login", timeout=30)
    answer = requests.post(  # the right token, but without its cookie (another site's form)
        f"{ui(module_deployment)}/login",
        data={"identifier": "alice", "key": KEYS["alice"], "csrf_token": csrf_of(form)},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 403
    assert not any(c.startswith(SESSION_COOKIE) for c in set_cookie_headers(answer))


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/elsewhere", "/ui//evil", "/ui/x\n"]
)
def test_login_never_redirects_off_the_dashboard(module_deployment, worlds, target):
    session = requests.Session()
    form = session.get(f"{ui(module_deployment)}/login", timeout=30)
    answer = session.post(
        f"{ui(module_deployment)}/login",
        data={
            "identifier": "alice",
            "key": KEYS["alice"],
            "csrf_token": csrf_of(form),
            "next": target,
        },
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/networks"


def test_pages_without_a_session_go_to_login_and_fragments_answer_401(module_deployment, worlds):
    url = f"{ui(module_deployment)}/networks/{worlds.alice.network}"
    answer = requests.get(url, allow_redirects=False, timeout=30)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/ui/login?next=%2Fui%2Fnetworks%2F")
    fragment = requests.get(
        f"{url}/table", headers={"X-Requested-With": "fetch"}, allow_redirects=False, timeout=30
    )
    assert fragment.status_code == 401
    assert str(worlds.alice.network) not in fragment.text


def _cookie_session(token: str, session_id: str | None = "s" * 43) -> requests.Session:
    """A browser holding ``token`` as its session (and a well-formed session id)."""
    session = requests.Session()
    # The domain the server's own Set-Cookie gets, so that a renewal replaces this cookie.
    session.cookies.set(SESSION_COOKIE, token, domain="127.0.0.1", path="/ui")
    if session_id is not None:
        session.cookies.set(SESSION_ID_COOKIE, session_id, domain="127.0.0.1", path="/ui")
    return session


def _alices_token(issued_ago: float = 0.0, lifetime: int = 1800) -> str:
    return create_access_token(
        IdentityKind.USER,
        "alice",
        ["org-campaign-project"],
        secret=SECRET,
        lifetime_seconds=lifetime,
        now=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=issued_ago),
    )


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        create_access_token(
            IdentityKind.USER,
            "alice",
            ["org-campaign-project"],
            secret=SECRET,
            lifetime_seconds=60,
            now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2),
        ),
        create_access_token(
            IdentityKind.USER,
            "alice",
            ["org-campaign-project"],
            secret="another-secret-" + "y" * 40,
            lifetime_seconds=600,
        ),
        create_access_token(
            IdentityKind.COMPUTE,
            "worker",
            ["org-campaign-project"],
            secret=SECRET,
            lifetime_seconds=600,
        ),
    ],
    ids=["garbage", "expired", "forged", "compute-kind"],
)
def test_a_bad_session_cookie_is_sent_to_login(module_deployment, worlds, token):
    session = _cookie_session(token)
    answer = session.get(f"{ui(module_deployment)}/networks", allow_redirects=False, timeout=30)
    assert answer.status_code == 303
    assert "/ui/login" in answer.headers["location"]


def test_a_good_token_without_its_session_id_is_sent_to_login(module_deployment, worlds):
    url = f"{ui(module_deployment)}/networks"
    assert _cookie_session(_alices_token()).get(url, timeout=30).status_code == 200
    for session_id in (None, "short", "s" * 42 + "!", "s" * 44):
        answer = _cookie_session(_alices_token(), session_id).get(
            url, allow_redirects=False, timeout=30
        )
        assert answer.status_code == 303, session_id


def test_a_renewed_session_keeps_its_forms_valid(module_deployment, worlds):
    base = ui(module_deployment)
    alice = user(module_deployment)
    (task,) = alice.create_tasks(worlds.alice.transformation)
    session = _cookie_session(_alices_token(issued_ago=1000))  # past half of 1800 s
    old_token = session.cookies[SESSION_COOKIE]
    page = session.get(f"{base}/tasks/{task}", timeout=30)
    renewed = [c for c in set_cookie_headers(page) if c.startswith(f"{SESSION_COOKIE}=")]
    assert len(renewed) == 1
    assert session.cookies[SESSION_COOKIE] != old_token
    # A fragment refresh after the renewal renews nothing more and keeps the CSRF token.
    live = session.get(f"{base}/tasks/{task}/live", headers={"X-Requested-With": "fetch"})
    assert not [c for c in set_cookie_headers(live) if c.startswith(f"{SESSION_COOKIE}=")]
    answer = session.post(
        f"{base}/tasks/{task}/status",
        data={"status": "invalid", "csrf_token": csrf_of(page)},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 303
    assert alice.get_tasks_status([task]) == [TaskStatus.INVALID]


def test_the_json_api_does_not_take_the_session_cookie(module_deployment, worlds):
    session = login(module_deployment)
    answer = session.get(f"{module_deployment.user_url}/networks", timeout=30)
    assert answer.status_code == 401


def test_every_answer_carries_the_security_headers(module_deployment, worlds):
    session = login(module_deployment)
    for path in ("/login", "/networks", "/static/app.js", "/no-such-page"):
        answer = session.get(f"{ui(module_deployment)}{path}", timeout=30)
        csp = answer.headers["content-security-policy"]
        assert "default-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert re.fullmatch(r"app;dur=\d+\.\d\d", answer.headers["server-timing"])
    assert session.get(f"{ui(module_deployment)}/networks").headers["cache-control"] == "no-store"


def test_alice_sees_only_her_scope_listed(module_deployment, worlds):
    session = login(module_deployment)
    pages = [
        session.get(f"{ui(module_deployment)}/networks", timeout=30),
        session.get(f"{ui(module_deployment)}/networks?state=", timeout=30),
        session.get(f"{ui(module_deployment)}/services", timeout=30),
        session.get(
            f"{ui(module_deployment)}/services/table",
            headers={"X-Requested-With": "fetch"},
            timeout=30,
        ),
    ]
    for page in pages:
        assert page.status_code == 200
        for secret in (worlds.bob_network, worlds.bob_task, worlds.bob_name, "rival-campaign"):
            assert secret not in page.text
    assert str(worlds.alice.network) in pages[0].text
    # The rival service is listed (services are not scoped), its task of bob's is not.
    assert "rival-worker~r" in pages[2].text
    assert str(worlds.alice.held) in pages[2].text


#: Every keyed read route of the dashboard (checked by the next test against the app).
KEYED_READS = {
    "/networks/{network}": "{bob_network}",
    "/networks/{network}/table": "{bob_network}/table",
    "/networks/{network}/estimates": "{bob_network}/estimates",
    "/transformations/{transformation}": "{bob_transformation}",
    "/transformations/{transformation}/table": "{bob_transformation}/table",
    "/tasks/{task}": "{bob_task}",
    "/tasks/{task}/live": "{bob_task}/live",
    "/tasks/{task}/files/{location:path}": "{bob_task}/files/{bob_file_location}",
}
#: Routes without a key: their lists are checked in test_alice_sees_only_her_scope_listed,
#: their writes in test_writes_need_the_sessions_csrf_token.
UNKEYED = {"/", "/login", "/logout", "/networks", "/services", "/services/table"}
#: Writes on a key (the scope test below posts to each).
KEYED_WRITES = {"/tasks/{task}/status"}


def test_every_dashboard_route_has_a_scope_case(module_deployment):
    d = module_deployment
    app = create_user_app(APISettings(), d.statestore, d.objectstore, d.tokens)
    (mount,) = [r for r in app.routes if getattr(r, "path", None) == "/ui"]
    flatten = getattr(fastapi.routing, "iter_route_contexts", None)  # as test_scope_isolation
    routes = flatten(mount.app.routes) if flatten is not None else mount.app.routes
    served = {r.path for r in routes if isinstance(getattr(r, "original_route", r), APIRoute)}
    assert served == set(KEYED_READS) | UNKEYED | KEYED_WRITES


def test_no_route_answers_with_data_from_another_scope(module_deployment, worlds):
    session = login(module_deployment)
    base = ui(module_deployment)
    keys = {
        "bob_network": worlds.bob_network,
        "bob_transformation": worlds.bob_transformation,
        "bob_task": worlds.bob_task,
        "bob_file_location": worlds.bob_file_location,
    }
    paths = [
        "/"
        + ("networks" if "{network}" in route else route.split("/")[1])
        + "/"
        + tail.format(**keys)
        for route, tail in KEYED_READS.items()
    ]
    unknown = session.get(
        f"{base}/tasks/{worlds.bob_task.replace(worlds.bob_task[5:13], '00000000')}", timeout=30
    )
    for path in paths:
        answer = session.get(f"{base}{path}", timeout=30)
        assert answer.status_code == 404, path
        for secret in (worlds.bob_name, worlds.bob_file_location, "rival-worker"):
            assert secret not in answer.text, path
        if not path.endswith("/table") and not path.endswith("/live"):
            # The same page as for a key that does not exist at all.
            assert answer.text == unknown.text.replace(unknown.url, answer.url)
    form = session.get(f"{base}/tasks/{worlds.alice.waiting}", timeout=30)
    write = session.post(
        f"{base}/tasks/{worlds.bob_task}/status",
        data={"status": "invalid", "csrf_token": csrf_of(form)},
        allow_redirects=False,
        timeout=30,
    )
    assert write.status_code == 404
    assert user(module_deployment, "bob").get_tasks_status([worlds.bob_task]) == [
        TaskStatus.RUNNING
    ]


def test_network_transformation_and_task_pages(module_deployment, worlds):
    session = login(module_deployment)
    base = ui(module_deployment)
    network = session.get(f"{base}/networks/{worlds.alice.network}", timeout=30)
    assert network.status_code == 200
    assert str(worlds.alice.transformation) in network.text
    assert 'data-refresh="/ui/networks/' in network.text
    table = session.get(
        f"{base}/networks/{worlds.alice.network}/table",
        headers={"X-Requested-With": "fetch"},
        timeout=30,
    )
    for count in ("complete 1", "running 1", "waiting 1"):
        assert count in table.text
    transformation = session.get(f"{base}/transformations/{worlds.alice.transformation}")
    for task in (worlds.alice.done, worlds.alice.held, worlds.alice.waiting):
        assert str(task) in transformation.text
    assert worlds.alice.service_id in transformation.text  # the held task's claimant
    done = session.get(f"{base}/tasks/{worlds.alice.done}", timeout=30)
    durations = re.findall(r'<td class="num">([^<]+)</td>\s*<td>worker~a</td>', done.text)
    assert durations, done.text  # every unit: how long it ran, and the service that ran it
    assert all(re.fullmatch(r"\d+\.\d\d s", d) for d in durations), durations
    task = session.get(f"{base}/tasks/{worlds.alice.held}", timeout=30)
    assert task.status_code == 200
    assert 'id="task-status">running' in task.text
    assert worlds.alice.held_file.sha256 in task.text
    assert worlds.alice.service_id in task.text  # the service that recorded the producer
    assert re.search(r'id="task-progress">1 / \d+', task.text)


def test_a_result_file_downloads_with_its_hash(module_deployment, worlds):
    session = login(module_deployment)
    page = session.get(f"{ui(module_deployment)}/tasks/{worlds.alice.done}", timeout=30)
    (href,) = re.findall(r'class="download" href="([^"]+)"', page.text)
    answer = session.get(f"{module_deployment.user_url}{href}", timeout=30)
    assert answer.status_code == 200
    assert answer.content == worlds.alice.file_bytes
    assert hashlib.sha256(answer.content).hexdigest() == worlds.alice.file.sha256
    assert answer.headers["x-content-sha256"] == worlds.alice.file.sha256
    assert answer.headers["content-disposition"].startswith("attachment; filename*=UTF-8''")


@pytest.mark.parametrize(
    "location",
    ["../../../etc/passwd", "units/../../x", "%2e%2e/%2e%2e/etc/passwd", "units/x/1/files/nope"],
)
def test_file_downloads_are_only_recorded_files(module_deployment, worlds, location):
    session = login(module_deployment)
    answer = session.get(
        f"{ui(module_deployment)}/tasks/{worlds.alice.done}/files/{location}", timeout=30
    )
    assert answer.status_code in (404, 400)
    assert "root:" not in answer.text


def test_writes_need_the_sessions_csrf_token(module_deployment, worlds):
    session = login(module_deployment)
    base = ui(module_deployment)
    alice = user(module_deployment)
    (task,) = alice.create_tasks(worlds.alice.transformation)
    url = f"{base}/tasks/{task}/status"
    other = login(module_deployment)  # another login of alice: another CSRF token
    foreign = csrf_of(other.get(f"{base}/networks", timeout=30))
    for data in (
        {"status": "invalid"},
        {"status": "invalid", "csrf_token": ""},
        {"status": "invalid", "csrf_token": foreign},
        {"status": "invalid", "csrf_token": "A" * 43},
    ):
        answer = session.post(url, data=data, allow_redirects=False, timeout=30)
        assert answer.status_code == 403, data
        assert alice.get_tasks_status([task]) == [TaskStatus.WAITING]
    token = csrf_of(session.get(f"{base}/tasks/{task}", timeout=30))
    done = session.post(
        url, data={"status": "invalid", "csrf_token": token}, allow_redirects=False, timeout=30
    )
    assert done.status_code == 303
    assert alice.get_tasks_status([task]) == [TaskStatus.INVALID]
    illegal = session.post(
        url, data={"status": "running", "csrf_token": token}, allow_redirects=False, timeout=30
    )
    assert illegal.status_code == 409  # InvalidTransition
    assert alice.get_tasks_status([task]) == [TaskStatus.INVALID]
    # Logging out is a write too.
    assert session.post(f"{base}/logout", data={}, allow_redirects=False).status_code == 403
    refused = session.post(
        f"{base}/logout", data={"csrf_token": foreign}, allow_redirects=False, timeout=30
    )
    assert refused.status_code == 403
    out = session.post(
        f"{base}/logout", data={"csrf_token": token}, allow_redirects=False, timeout=30
    )
    assert out.status_code == 303
    assert session.get(f"{base}/networks", allow_redirects=False).status_code == 303


def test_estimates_are_stored_and_charted(module_deployment, worlds, tmp_path: Path):
    alice = user(module_deployment)
    (task,) = alice.create_tasks(worlds.alice.transformation)
    alice.action_tasks([task], worlds.alice.network)
    alice.set_tasks_priority([task], 1)
    worker = compute(module_deployment, suffix="est")
    worker.register()
    assert worker.claim_tasks() == [task]
    model = worker.get_task_transformation(task)
    _, dag = worker.set_task_dag(task, model.create(seed=11))
    run = run_locally(dag, worker.get_task(task).attempts, tmp_path)
    upload_run(worker, task, run, len(run.results))
    estimate = ResultEstimate(estimate=-3.5, uncertainty=0.25, units="kcal/mol")
    ref, status = worker.finish_task(task, run.dag_result, estimate)
    assert (status, ref.estimate) == (TaskStatus.COMPLETE, estimate)
    (listed,) = alice.get_network_estimates(worlds.alice.network)
    assert listed.estimate == estimate
    assert listed.n_results == 1
    session = login(module_deployment)
    chart = session.get(
        f"{ui(module_deployment)}/networks/{worlds.alice.network}/estimates",
        headers={"X-Requested-With": "fetch"},
        timeout=30,
    )
    assert chart.status_code == 200
    assert "<svg" in chart.text
    assert f'data-transformation="{worlds.alice.transformation}"' in chart.text
    assert "-3.5 \u00b1 0.25 kcal/mol" in chart.text
    task_page = session.get(f"{ui(module_deployment)}/tasks/{task}", timeout=30)
    assert "kcal/mol" in task_page.text


@pytest.mark.parametrize(
    "params",
    [
        {"estimate": "nan"},
        {"estimate": "inf"},
        {"estimate": "1", "uncertainty": "-1"},
        {"uncertainty": "1"},
        {"units": "kT"},
        {"estimate": "1", "units": "k\nT"},
        {"estimate": "1", "units": "x" * 33},
    ],
)
def test_a_bad_estimate_is_refused_and_changes_nothing(module_deployment, worlds, params):
    jwt = token(module_deployment.compute_url, "worker")
    answer = requests.post(
        f"{module_deployment.compute_url}/computeservice/{worlds.alice.service_id}"
        f"/tasks/{worlds.alice.held}/finish",
        params=params,
        json=json.loads(worlds.alice.held_run.dag_result.to_json()),
        headers=bearer(jwt),
        timeout=30,
    )
    assert 400 <= answer.status_code < 500
    assert answer.headers["content-type"].startswith("application/json")
    assert user(module_deployment).get_tasks_status([worlds.alice.held]) == [TaskStatus.RUNNING]


@pytest.mark.parametrize(
    "query",
    ["page=0", "page=abc", "page=100001", "page=-1", f"q={'x' * 101}"],
)
def test_bad_network_page_parameters_are_a_clear_400(module_deployment, worlds, query):
    session = login(module_deployment)
    answer = session.get(f"{ui(module_deployment)}/networks/{worlds.alice.network}?{query}")
    assert answer.status_code == 400
    assert 'id="error-detail"' in answer.text
    assert str(worlds.alice.transformation) not in answer.text


@pytest.mark.parametrize("state", ["bogus", "active\n", "ACTIVE"])
def test_a_bad_network_state_filter_is_a_clear_400(module_deployment, worlds, state):
    session = login(module_deployment)
    answer = session.get(f"{ui(module_deployment)}/networks", params={"state": state}, timeout=30)
    assert answer.status_code == 400
    assert "state" in answer.text


def test_an_oversized_login_form_is_refused(module_deployment, worlds):
    session = requests.Session()
    form = session.get(f"{ui(module_deployment)}/login", timeout=30)
    answer = session.post(
        f"{ui(module_deployment)}/login",
        data={"identifier": "alice", "key": "k" * 2_000_000, "csrf_token": csrf_of(form)},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 413
    assert SESSION_COOKIE not in session.cookies
