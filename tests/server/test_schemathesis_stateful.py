"""Stateful fuzzing of both apps: sequences of calls that feed each answer into the next.

schemathesis builds a state machine from each app's OpenAPI document: an operation
whose answer holds keys (``GET /networks``, ``POST /claim``, ...) links to the
operations taking such a key in their path, so a scenario lists networks, then reads,
actions, cancels or re-weighs tasks of a network it got back, and a compute scenario
claims a task and then uploads, finishes or releases it. For the user app the links
are the ones schemathesis infers from the document; the compute app's answers are
bare key lists it cannot infer from, so :func:`compute_links` declares them (the
document the server publishes is unchanged).

Every scenario runs against the real deployment (uvicorn, Neo4j, S3Proxy) seeded with
a world of real objects, authenticated as the app's owner identity. Generation is
derandomized and bounded (:data:`SCENARIOS` scenarios of at most :data:`STEPS`
calls, no shrinking, no example database), so the run ends by itself.

What must hold: no call answers a 5xx; the scenarios really were stateful (calls on
keys taken from earlier answers reached the stores and succeeded); and nothing
completed was lost: the complete task's DAG result and its file are as they were.
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.stateful.state_machine import APIStateMachine

from tests.server.conftest import Deployment
from tests.server.helpers import World, bearer, seed_world, token, user

#: Scenarios per app, and calls per scenario at most.
SCENARIOS = 12
STEPS = 8
TIMEOUT = 60

STATEFUL = settings(
    max_examples=SCENARIOS,
    stateful_step_count=STEPS,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)

#: The compute operations that act on a claimed task (everything under .../tasks/{task}).
TASK_PREFIX = "/computeservice/{service_id}/tasks/{task}"


@pytest.fixture(scope="module")
def world(module_deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> World:
    return seed_world(module_deployment, tmp_path_factory.mktemp("world"))


def compute_links(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with links from ``POST /claim`` to every operation on a claimed task.

    The claimed task is the answer's first key; the service is the claimant's own.
    """
    linked = copy.deepcopy(document)
    claim = linked["paths"]["/computeservice/{service_id}/claim"]["post"]
    links = claim["responses"]["200"].setdefault("links", {})
    for path, operations in linked["paths"].items():
        if not path.startswith(TASK_PREFIX):
            continue
        pointer = path.replace("~", "~0").replace("/", "~1")
        for method in operations:
            links[f"{method} {path}"] = {
                "operationRef": f"#/paths/{pointer}/{method}",
                "parameters": {
                    "path.task": "$response.body#/0",
                    "path.service_id": "$request.path.service_id",
                },
            }
    return linked


def machine(
    document: dict[str, Any], url: str, headers: dict[str, str], fixed: dict[str, str]
) -> tuple[type[APIStateMachine], Counter[tuple[str, int]]]:
    """The app's state machine calling ``url``, and the (operation, status) tally it keeps.

    ``fixed`` path parameters (the registered service's id) replace generated ones.
    """
    schema = schemathesis.openapi.from_dict(document, config=schemathesis.Config())
    answered: Counter[tuple[str, int]] = Counter()

    class Scenario(schema.as_state_machine()):  # type: ignore[misc]
        def before_call(self, case: schemathesis.Case) -> None:
            for name, value in fixed.items():
                if case.path_parameters is not None and name in case.path_parameters:
                    case.path_parameters[name] = value

        def get_call_kwargs(self, case: schemathesis.Case) -> dict[str, Any]:
            return {"base_url": url, "headers": headers, "timeout": TIMEOUT}

        def after_call(self, response: Any, case: schemathesis.Case) -> None:
            answered[(case.operation.label, response.status_code)] += 1

        def validate_response(self, response: Any, case: schemathesis.Case, **kwargs: Any) -> None:
            case.validate_response(response, checks=[not_a_server_error])

    return Scenario, answered


def linked_successes(answered: Counter[tuple[str, int]]) -> dict[str, int]:
    """2xx answers of operations that take a key in their path (real keys reached the store)."""
    found: Counter[str] = Counter()
    for (label, status), count in answered.items():
        path = label.split(" ", 1)[1]
        keyed = any(f"{{{name}}}" in path for name in ("network", "transformation", "task"))
        if keyed and 200 <= status < 300:
            found[label] += count
    return dict(found)


def completed_snapshot(deployment: Deployment, world: World) -> tuple[Any, ...]:
    """What must survive any scenario: the complete task's results and its file."""
    alice = user(deployment)
    refs = alice.get_task_results(world.done)
    dag_result = alice.get_task_result(world.done, world.pdr_key)
    download = requests.get(
        f"{deployment.user_url}/tasks/{world.done}/files/{world.file.location}",
        headers=bearer(token(deployment.user_url, "alice")),
        timeout=TIMEOUT,
        allow_redirects=True,
    )
    assert download.status_code == 200, download.text[:500]
    return (
        sorted(ref.key for ref in refs),
        [r.source_key for r in dag_result.protocol_unit_results],
        download.content,
    )


@pytest.mark.parametrize("api", ["user", "compute"])
def test_call_sequences_never_answer_a_5xx_nor_lose_results(
    api: str, module_deployment: Deployment, world: World
) -> None:
    before = completed_snapshot(module_deployment, world)
    assert before[2] == world.file_bytes
    url = module_deployment.user_url if api == "user" else module_deployment.compute_url
    headers = bearer(token(url, "alice" if api == "user" else "worker"))
    document = requests.get(f"{url}/openapi.json", timeout=TIMEOUT).json()
    if api == "compute":
        # Waiting tasks for the scenarios to claim (the world has one).
        alice = user(module_deployment)
        alice.action_tasks(alice.create_tasks(world.transformation, count=SCENARIOS), world.network)
        document = compute_links(document)
        fixed = {"service_id": world.service_id}
    else:
        fixed = {}
    scenario, answered = machine(document, url, headers, fixed)

    scenario.run(settings=STATEFUL)

    assert sum(answered.values()) >= SCENARIOS, answered
    assert linked_successes(answered), f"no call on a key from an earlier answer: {answered}"
    assert completed_snapshot(module_deployment, world) == before
