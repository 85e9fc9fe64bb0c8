"""Shared pytest configuration: real-server fixtures are registered as plugins here."""

from collections.abc import Iterator

import pytest
from argon2 import PasswordHasher

from alchemiscale_like.security import keys

pytest_plugins: list[str] = [
    "tests.fixtures.neo4j_server",
    "tests.fixtures.s3_server",
    "tests.fixtures.http_server",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the ``slow`` tests first (stable order otherwise, the same on every xdist worker).

    One started near the end of the run keeps its worker busy while the other has
    nothing left to do; at the start, the other worker runs short tests beside it.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session", autouse=True)
def cheap_argon2_in_this_process() -> Iterator[None]:
    """argon2id with its cheapest parameters in the suite's own process.

    Hashing a key costs production's argon2 parameters about a tenth of a second of
    CPU, and every deployment fixture adds identities and every new client logs in:
    on a busy two-core machine that was minutes of the run. What the tests check of
    authentication does not depend on the cost (verifying reads the parameters from
    each hash, so keys hashed by a subprocess at full cost verify too), and the
    servers, services and CLI runs that the suite starts as subprocesses keep the
    production parameters. ``tests/security/test_hash_cost.py`` checks those.
    """
    keys._HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    try:
        yield
    finally:
        keys._HASHER = keys.PRODUCTION_HASHER
