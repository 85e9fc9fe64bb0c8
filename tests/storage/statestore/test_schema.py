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
