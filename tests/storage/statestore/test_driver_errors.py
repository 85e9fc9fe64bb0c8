"""No Neo4j driver exception reaches a caller: one boundary translates them (review P6)."""

from __future__ import annotations

import pytest

from alchemiscale_like.errors import AlreadyExists, StoreUnavailable, ValidationError
from alchemiscale_like.storage.statestore.neo4j.connection import Neo4jConnection
from tests.storage.statestore.conftest import World


@pytest.fixture
def connection(neo4j_server, neo4j_statestore, neo4j_clean_driver):
    conn = Neo4jConnection(neo4j_server.url, neo4j_server.user, neo4j_server.password)
    yield conn
    conn.close()


def test_a_failed_statement_is_store_unavailable(connection: Neo4jConnection) -> None:
    with pytest.raises(StoreUnavailable, match="failed a request"):
        connection.execute("THIS IS NOT CYPHER")


def test_a_uniqueness_violation_is_already_exists(connection: Neo4jConnection) -> None:
    connection.execute("CREATE (:Task {scoped_key: $sk})", sk="Task-x")
    with pytest.raises(AlreadyExists):
        connection.execute("CREATE (:Task {scoped_key: $sk})", sk="Task-x")


def test_an_unreachable_server_is_store_unavailable() -> None:
    # Nothing listens on the discard port; the driver retries for retry_seconds first.
    conn = Neo4jConnection("bolt://127.0.0.1:9", retry_seconds=1.0)
    try:
        with pytest.raises(StoreUnavailable):
            conn.query("RETURN 1")
    finally:
        conn.close()


@pytest.mark.parametrize("priority", [2**63, 2**31, 10**30])
def test_integers_past_the_store_range_are_refused_before_the_driver(
    statestore, priority: int
) -> None:
    world = World(statestore, n_tasks=1)
    with pytest.raises(ValidationError):
        statestore.set_task_priority(world.tasks, priority)
    with pytest.raises(ValidationError):
        statestore.add_task_restart_patterns(world.network, ["x"], priority)
