"""The control for test_scope_isolation.py: the owner makes every write the intruder was refused.

Made with exactly the requests the intruder sent (same builders, the owner's keys and
service id), each must succeed: so the intruder's 404 came from the scope check, not
from a malformed request. One world, writes in an order in which each one is valid
(a separate module: the shared world there must not be changed).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tests.server.conftest import Deployment
from tests.server.helpers import World, compute, seed_world, token, user
from tests.server.test_scope_isolation import CASES, Case, foreign_key

COMPUTE_ORDER = [
    "/units/{unit_key}/checkpoints/{name:path}",
    "/units/{unit_key}/{attempt}/files/{name:path}",
    "/dag",
    "/unit-results",  # the consumer's result: finish needs every unit recorded
    "/finish",
]
USER_ORDER = [
    ("POST", "/transformations/{transformation}/tasks"),
    ("POST", "/networks/{network}/tasks/action"),
    ("POST", "/networks/{network}/tasks/cancel"),
    ("PUT", "/networks/{network}/taskhub/weight"),
    ("POST", "/networks/{network}/restart-patterns"),
    ("POST", "/networks/{network}/restart-patterns/remove"),
    ("POST", "/tasks/status"),
    ("POST", "/tasks/priority"),
    ("POST", "/networks/state"),  # last: an inactive network offers no task to claim
]


def _case(api: str, method: str, template: str) -> Case:
    (case,) = [c for c in CASES if (c.api, c.method, c.template) == (api, method, template)]
    return case


def test_the_owner_may_make_every_write_the_intruder_was_refused(
    deployment: Deployment, tmp_path: Path
) -> None:
    world = seed_world(deployment, tmp_path)
    alice, worker = token(deployment.user_url, "alice"), token(deployment.compute_url, "worker")
    made: list[Case] = []

    def make(case: Case, url: str, jwt: str, target: World = world) -> None:
        answer = case.build(target, foreign_key, world.service_id).send(url, jwt)
        assert 200 <= answer.status_code < 300, (case.id, answer.text[:300])
        made.append(case)

    for tail in COMPUTE_ORDER:
        method = "POST" if tail == "/finish" else "PUT"
        make(
            _case("compute", method, "/computeservice/{service_id}/tasks/{task}" + tail),
            deployment.compute_url,
            worker,
        )

    # Release needs a held task: the waiting one (nothing else is actioned and waiting).
    client = compute(deployment)
    (claimed,) = client.claim_tasks()
    assert claimed == world.waiting
    release = _case("compute", "POST", "/computeservice/{service_id}/tasks/{task}/release")
    make(release, deployment.compute_url, worker, dataclasses.replace(world, held=claimed))
    assert user(deployment).get_tasks_status([claimed])[0].value == "waiting"

    for method, template in USER_ORDER:
        make(_case("user", method, template), deployment.user_url, alice)

    assert sorted(c.id for c in made) == sorted(c.id for c in CASES if c.write)
