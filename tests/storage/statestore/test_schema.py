import pytest

from alchemiscale_like.errors import StoreUnavailable
from alchemiscale_like.storage.statestore.neo4j import Neo4jStateStore
from devtools.servers.common import free_port
from tests.storage.statestore.conftest import World, dag_ref
from tests.storage.statestore.test_results import unit_ref


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


def test_initialize_backfills_tasks_and_dag_refs_made_before_their_index_keys(
    neo4j_statestore, neo4j_clean_driver, neo4j_driver
):
    # DAG references made by an earlier release have neither the transformation the
    # dashboard's aggregates find them by nor their count of successful units.
    statestore = neo4j_statestore
    world = World(statestore, n_tasks=1)
    task = world.claim_one()
    statestore.set_task_dag(task, world.service, dag_ref(n_units=3))
    for ref in (unit_ref("U1"), unit_ref("U2", ok=False), unit_ref("U2", attempt=2)):
        statestore.add_unit_result(task, world.service, ref)
    expected = statestore.get_network_summaries(world.network)
    assert sum(s.units_done for s in expected) == 2
    status = statestore.get_network_status(world.network)
    one = statestore.get_transformation_status(world.transformations[0])
    assert status == one == {"running": 1}
    with neo4j_driver.session() as session:
        session.run("MATCH (d:ProtocolDAGRef) REMOVE d.transformation, d.n_done").consume()
        session.run("MATCH (t:Task) REMOVE t.transformation").consume()
    # Without them the counts are read through the indexes and find nothing.
    assert statestore.get_network_status(world.network) == {}
    assert sum(s.units_done for s in statestore.get_network_summaries(world.network)) == 0
    statestore.initialize()
    assert statestore.get_network_summaries(world.network) == expected
    assert statestore.get_network_status(world.network) == status
    assert statestore.get_transformation_status(world.transformations[0]) == one
    summaries = statestore.get_transformation_task_summaries(world.transformations[0])
    assert [(s.done, s.total) for s in summaries] == [(2, 3)]
