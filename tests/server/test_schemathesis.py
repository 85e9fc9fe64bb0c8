"""Property-based fuzzing of both apps from their OpenAPI documents: no input gives a 5xx.

schemathesis generates requests for every operation of each app, authenticated as the
app's owner identity, against the real deployment (uvicorn, Neo4j, S3Proxy) seeded with
a world of real objects. Each operation is fuzzed four ways: schema-conforming
("positive") and schema-violating ("negative") requests, each with generated path
parameters and with the path parameters fixed to real keys (so bodies and queries
reach the stores instead of stopping at key parsing). Generation is derandomized and
bounded (:data:`MAX_EXAMPLES` per way and operation, no shrinking, no example
database), so the run is the same every time and ends by itself.

Sequences of calls, each fed by earlier answers, are fuzzed by schemathesis's state
machine in test_schemathesis_stateful.py; the sequences a real client makes are the
scenario tests (test_end_to_end.py, test_scope_isolation_controls.py).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error

from tests.server.conftest import Deployment
from tests.server.helpers import World, bearer, seed_world, token

#: Requests per operation and way of generating them.
MAX_EXAMPLES = 4

FUZZ = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(scope="module")
def world(module_deployment: Deployment, tmp_path_factory: pytest.TempPathFactory) -> World:
    return seed_world(module_deployment, tmp_path_factory.mktemp("world"))


def real_path_parameters(world: World, api: str, names: set[str]) -> dict[str, Any]:
    """Real values for the path parameters in ``names`` (alice's or worker's objects)."""
    values = {
        "network": str(world.network),
        "transformation": str(world.transformation),
        "task": str(world.done if api == "user" else world.held),
        "pdr_key": world.pdr_key,
        "location": world.file.location if api == "user" else world.held_file.location,
        "service_id": world.service_id,
        "unit_key": world.unit_key,
        "attempt": 1,
        "name": world.checkpoint,
    }
    return {name: values[name] for name in names if name in values}


def _checker(
    strategy: Any, url: str, headers: dict[str, str], sent: dict[str, int], label: str
) -> Any:
    """A bounded hypothesis test sending ``strategy``'s cases to ``url``."""

    @FUZZ
    @given(case=strategy)
    def check(case: schemathesis.Case) -> None:
        sent[label] += 1
        case.call_and_validate(
            base_url=url, headers=headers, checks=[not_a_server_error], timeout=60
        )

    return check


def _fuzz(deployment: Deployment, world: World, api: str) -> tuple[dict[str, str], dict[str, int]]:
    """Fuzz every operation of one app: the failures found and the requests sent, by way."""
    url = deployment.user_url if api == "user" else deployment.compute_url
    owner = "alice" if api == "user" else "worker"
    headers = bearer(token(url, owner))
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json", config=schemathesis.Config())
    failures: dict[str, str] = {}
    sent: dict[str, int] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    for operation in operations:
        names = {p.name for p in operation.path_parameters}
        fixed = real_path_parameters(world, api, names)
        # Negative cases with random path parameters stop at key parsing, which the
        # positive ones already reach: negate bodies and queries behind real keys instead.
        ways = {"positive": operation.as_strategy(schemathesis.GenerationMode.POSITIVE)}
        if fixed:
            ways["positive, real keys"] = operation.as_strategy(
                schemathesis.GenerationMode.POSITIVE, path_parameters=fixed
            )
        ways["negative" + (", real keys" if fixed else "")] = operation.as_strategy(
            schemathesis.GenerationMode.NEGATIVE, path_parameters=fixed or None
        )
        for way, strategy in ways.items():
            label = f"{operation.label} ({way})"
            sent[label] = 0
            try:
                _checker(strategy, url, headers, sent, label)()
            except Unsatisfiable:
                # Nothing of this operation can break its schema (no body, no constrained
                # parameter): there is no negative case to send.
                assert way.startswith("negative"), label
                del sent[label]
            except Exception as exc:  # a failure of this operation, reported with the rest
                failures[label] = f"{type(exc).__name__}: {exc}"[:3000]
    return failures, sent


@pytest.mark.parametrize("api", ["user", "compute"])
def test_no_operation_answers_a_5xx(api: str, module_deployment: Deployment, world: World) -> None:
    failures, sent = _fuzz(module_deployment, world, api)
    assert not failures, "\n\n".join(f"{label}: {text}" for label, text in failures.items())
    never = [label for label, count in sent.items() if count == 0]
    assert never == [], "ways of generating that sent no request at all"
    assert sum(1 for label in sent if "negative" in label) >= 10
