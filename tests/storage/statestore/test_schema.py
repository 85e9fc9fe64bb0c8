import pytest

from alchemiscale_like.errors import StoreUnavailable
from alchemiscale_like.storage.statestore.neo4j import Neo4jStateStore
from devtools.servers.common import free_port
from tests.storage.statestore.conftest import World


def test_reset_wipes_and_initialize_restores(statestore):
    World(statestore, n_tasks=2)
    statestore.check()
    statestore.reset()
    with pytest.raises(StoreUnavailable, match="not initialized"):
        statestore.check()
    statestore.initialize()
    statestore.initialize()  # idempotent
    statestore.check()
    assert statestore.query_networks(state=None) == []


def test_unreachable_neo4j_is_store_unavailable():
    store = Neo4jStateStore(f"bolt://127.0.0.1:{free_port()}")
    try:
        with pytest.raises(StoreUnavailable, match="unavailable"):
            store.check()
    finally:
        store.close()


def test_a_database_missing_one_index_is_not_initialized(
    neo4j_statestore, neo4j_clean_driver, neo4j_driver
):
    # Queries pin indexes by hint (plans.py): without one they fail, so check() says so.
    statestore = neo4j_statestore
    statestore.check()
    with neo4j_driver.session() as session:
        session.run("DROP INDEX network_state").consume()
    try:
        with pytest.raises(StoreUnavailable, match=r"not initialized \(missing network_state\)"):
            statestore.check()
    finally:
        statestore.initialize()
    statestore.check()
