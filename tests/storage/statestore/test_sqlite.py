"""What only the SQLite backend has: its file, its schema check, and claims across processes.

The conformance suite (every other module here) runs on SQLite too; the
concurrent-claim test there uses threads. Compute services and the APIs of
``quickstart`` are separate processes sharing one database file, so here
several *processes* claim from one hub at once.
"""

from __future__ import annotations

import logging
import multiprocessing
import sqlite3
import stat
from pathlib import Path

import pytest

from alchemiscale_like.errors import NotFound, StoreUnavailable
from alchemiscale_like.models import ScopedKey
from alchemiscale_like.models.task import TaskStatus
from alchemiscale_like.storage.statestore.settings import StateStoreSettings, build_statestore
from alchemiscale_like.storage.statestore.sqlite import SQLiteStateStore
from tests.storage.statestore.conftest import SCOPE, World, build_network, submit
from tests.storage.statestore.test_claim_stalls import slow_claim_events

CLAIMER_PROCESSES = 4
HUB_TASKS = 600
JOIN_SECONDS = 240
NETWORK = "AlchemicalNetwork-" + "0" * 32 + "-org-campaign-project"


@pytest.fixture
def store(tmp_path: Path) -> SQLiteStateStore:
    created = SQLiteStateStore(tmp_path / "state.sqlite3")
    created.initialize()
    return created


def _claim_until_empty(path: str, name: str, start: multiprocessing.synchronize.Barrier) -> None:
    store = SQLiteStateStore(path)
    store.register_computeservice(name)
    start.wait(timeout=JOIN_SECONDS)
    while store.claim_tasks(name, 3):
        pass
    store.close()


def test_processes_claiming_at_once_never_share_a_task(store: SQLiteStateStore) -> None:
    network = submit(store, build_network("busy"))
    transformation = store.get_network_transformations(network)[0]
    tasks = store.create_tasks([transformation] * HUB_TASKS)
    store.action_tasks(tasks, network)
    context = multiprocessing.get_context("spawn")  # no inherited connections or locks
    start = context.Barrier(CLAIMER_PROCESSES)
    names = [f"process-{i}" for i in range(CLAIMER_PROCESSES)]
    workers = [
        context.Process(target=_claim_until_empty, args=(str(store.path), name, start))
        for name in names
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=JOIN_SECONDS)
    assert [w.exitcode for w in workers] == [0] * CLAIMER_PROCESSES
    held = {name: store.get_computeservice(name).claimed for name in names}
    everything = [task for claimed in held.values() for task in claimed]
    assert len(everything) == len(set(everything)), "a task was claimed twice"
    assert sorted(everything) == sorted(tasks), "every task claimed once"
    assert sum(1 for claimed in held.values() if claimed) > 1, "the processes took turns"
    assert store.get_network_status(network) == {TaskStatus.RUNNING: HUB_TASKS}
    assert {store.get_task(t).attempts for t in tasks} == {1}


def test_a_database_missing_one_index_is_not_initialized(store: SQLiteStateStore) -> None:
    store.check()
    with sqlite3.connect(store.path) as conn:
        conn.execute("DROP INDEX actions_claim_order")
    with pytest.raises(StoreUnavailable, match=r"not initialized \(missing actions_claim_order\)"):
        store.check()
    store.initialize()
    store.check()


def test_a_missing_database_is_store_unavailable_until_initialized(tmp_path: Path) -> None:
    path = tmp_path / "new-folder" / "state.sqlite3"
    absent = SQLiteStateStore(path)
    with pytest.raises(StoreUnavailable, match="does not exist"):
        absent.check()
    with pytest.raises(StoreUnavailable, match="new-folder"):
        absent.get_network_status(ScopedKey.from_str(NETWORK))
    assert not path.parent.exists(), "reading created nothing"
    absent.initialize()
    absent.check()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600, "hashed keys: owner only"
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    with pytest.raises(StoreUnavailable, match="a-file"):
        SQLiteStateStore(blocked / "state.sqlite3").initialize()


def test_a_file_that_is_not_a_database_is_store_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreUnavailable, match="failed"):
        SQLiteStateStore(path).check()


def test_data_survives_reopening_and_the_file_is_in_wal_mode(store: SQLiteStateStore) -> None:
    world = World(store, n_tasks=2)
    task = world.claim_one()
    store.close()
    reopened = SQLiteStateStore(store.path)
    assert reopened.get_task_claimant(task) == world.service
    assert reopened.get_task(task).created == store.get_task(task).created
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_settings_pick_the_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "chosen.sqlite3"
    monkeypatch.setenv("ALCHEMISCALE_LIKE_STATESTORE_BACKEND", "sqlite")
    monkeypatch.setenv("ALCHEMISCALE_LIKE_STATESTORE_SQLITE_PATH", str(path))
    built = build_statestore()
    assert isinstance(built, SQLiteStateStore)
    assert built.path == path
    built.initialize()
    built.check()
    monkeypatch.setenv("ALCHEMISCALE_LIKE_STATESTORE_BACKEND", "mysql")
    with pytest.raises(ValueError, match="neo4j"):
        StateStoreSettings()


def test_slow_and_failed_claims_are_logged_as_on_neo4j(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = SQLiteStateStore(tmp_path / "state.sqlite3", slow_claim_seconds=0)
    store.initialize()
    world = World(store, n_tasks=3)
    logger = "alchemiscale_like.storage.statestore.sqlite.claims"
    caplog.set_level(logging.WARNING, logger=logger)
    assert len(store.claim_tasks(world.service, 2, scopes=[SCOPE])) == 2
    with pytest.raises(NotFound):
        store.claim_tasks("nobody", 3)
    claimed, failed = slow_claim_events(caplog, logger)
    assert float(claimed.pop("duration")) >= 0
    assert claimed == {
        "event": "slow_claim",
        "identifier": world.service,
        "count": "2",
        "claimed": "2",
        "scopes": str(SCOPE),
        "protocols": "any",
        "retries": "0",
        "transactions": "1",
        "error": "none",
    }
    assert (failed["error"], failed["claimed"], failed["count"]) == ("NotFound", "0", "3")


def test_initialize_upgrades_a_database_made_before_the_added_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = {
        "compute_services": "identifier TEXT PRIMARY KEY, registered TEXT NOT NULL, "
        "heartbeat TEXT NOT NULL, protocols TEXT",
        "unit_results": "task TEXT NOT NULL, unit_key TEXT NOT NULL, attempt INTEGER NOT NULL, "
        "ok INTEGER NOT NULL, relpath TEXT NOT NULL, PRIMARY KEY (task, unit_key, attempt)",
        "dag_results": "task TEXT NOT NULL, key TEXT NOT NULL, ok INTEGER NOT NULL, "
        "relpath TEXT NOT NULL, created TEXT NOT NULL, PRIMARY KEY (task, key)",
    }
    with sqlite3.connect(path) as conn:
        for table, columns in old.items():
            conn.execute(f"CREATE TABLE {table} ({columns})")
        conn.execute(
            "INSERT INTO compute_services VALUES ('svc-old', '2026-01-01T00:00:00+00:00', "
            "'2026-01-01T00:00:00+00:00', NULL)"
        )
    conn.close()
    store = SQLiteStateStore(path)
    with pytest.raises(StoreUnavailable, match="not initialized"):
        store.check()
    store.initialize()
    store.initialize()  # idempotent: nothing is added twice
    try:
        store.check()
        (service,) = store.list_computeservices()
        assert (service.identifier, service.claims_total) == ("svc-old", 0)
        world = World(store, n_tasks=1)
        assert store.claim_tasks(world.service, 1)
        assert store.get_computeservice(world.service).claims_total == 1
    finally:
        store.close()


def test_a_database_missing_an_added_column_is_not_initialized(store: SQLiteStateStore) -> None:
    store.check()
    with sqlite3.connect(store.path) as conn:
        conn.execute("ALTER TABLE dag_results DROP COLUMN units")
    conn.close()
    with pytest.raises(StoreUnavailable, match=r"missing dag_results\.units"):
        store.check()
    store.initialize()
    store.check()
