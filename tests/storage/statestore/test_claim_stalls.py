"""Claims must not stall, and a slow claim must be impossible to miss.

The compute API shares one state store across all its request threads, so one
stalled claim stops every compute node at once. Right after a bulk fill of a
freshly created schema, Neo4j's index samples still describe the empty database
(its background sampler catches up every 10 s) and a plan made then stays
cached for at least 10 s; a claim query whose plan depends on those samples
crawled at ~1 claim/s for that long.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Iterator

import neo4j
import pydantic
import pytest
from neo4j.exceptions import SessionExpired

from alchemiscale_like.errors import NotFound, ValidationError
from alchemiscale_like.storage.statestore.neo4j import Neo4jStateStore
from alchemiscale_like.storage.statestore.neo4j.claims import _Attempts
from alchemiscale_like.storage.statestore.settings import StateStoreSettings, build_statestore
from tests.storage.statestore.conftest import SCOPE, World, build_network, submit

# A normal claim takes milliseconds, and well under 2 s even on a busy 2-core
# machine; a stalled one took 10-25 s. This bound only catches the pathology.
STALL_SECONDS = 5.0
CLAIMERS = 8
CLAIMS_EACH = 25
# One bulk creation; only part of it is actioned, so that actioning is quick and
# the claimers start while the plan made right after the bulk creation is cached.
BULK_TASKS = 10_000
HUB_TASKS = 500
# A stalled claim can run for minutes; the test gives up on the claimers after this.
JOIN_SECONDS = 240
CLAIMS_LOGGER = "alchemiscale_like.storage.statestore.neo4j.claims"
FIELD = r"[a-z_]+=\S+"


@pytest.fixture
def statestore(neo4j_clean_driver, neo4j_statestore) -> Neo4jStateStore:
    """This module is about Neo4j's planner and driver: the Neo4j store only."""
    return neo4j_statestore


@pytest.mark.slow
def test_shared_store_claims_right_after_bulk_creation_do_not_stall(statestore):
    """8 threads x 25 claims through one shared store, right after a bulk creation of
    10,000 tasks (500 actioned) on a fresh schema: no claim takes 5 s or longer, every
    claim gets a task, and no task is claimed twice."""
    # Warm the claim path (server JIT), so the bound below measures plans, not warm-up.
    world = World(statestore, n_tasks=3)
    assert len(statestore.claim_tasks(world.service, 2, scopes=[SCOPE])) == 2
    # A new schema: index samples describe an empty database, and no plan is cached.
    statestore.reset()
    statestore.initialize()
    network = submit(statestore, build_network("stall"))
    transformation = statestore.get_network_transformations(network)[0]
    names = [f"claimer-{i}" for i in range(CLAIMERS)]
    for name in names:
        statestore.register_computeservice(name)
    tasks = statestore.create_tasks([transformation] * BULK_TASKS)
    # Compute services poll while tasks are being created and actioned: this
    # claim plans the claim query on the statistics the server has right after
    # the bulk creation, and the claimers below reuse that plan (Neo4j caches it
    # for at least 10 s).
    assert statestore.claim_tasks(names[0], 1, scopes=[SCOPE]) == []
    hub = statestore.action_tasks(tasks[:HUB_TASKS], network)
    assert len(hub) == HUB_TASKS
    got: dict[str, list] = {name: [] for name in names}
    seconds: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(CLAIMERS)

    def claimer(name: str) -> None:
        try:
            start.wait()
            for _ in range(CLAIMS_EACH):
                started = time.monotonic()
                claimed = statestore.claim_tasks(name, 1, scopes=[SCOPE])
                with lock:
                    seconds.append(time.monotonic() - started)
                    got[name].extend(claimed)
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(n,), daemon=True) for n in names]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + JOIN_SECONDS
    for thread in threads:
        thread.join(timeout=max(deadline - time.monotonic(), 0))
    assert not errors
    assert not any(thread.is_alive() for thread in threads), f"claims still running: {seconds}"
    every = [task for claimed in got.values() for task in claimed]
    assert len(every) == CLAIMERS * CLAIMS_EACH, "every claim got one task"
    assert len(set(every)) == len(every), "a task was claimed twice"
    assert set(every) <= set(hub)
    for name, claimed in got.items():
        assert sorted(statestore.get_computeservice(name).claimed) == sorted(claimed)
    assert statestore.get_network_status(network) == {
        "running": len(every),
        "waiting": BULK_TASKS - len(every),
    }
    slowest = [round(s, 2) for s in sorted(seconds)[-3:]]
    assert max(seconds) < STALL_SECONDS, f"claims stalled; the slowest took {slowest} s"


def test_initialize_returns_with_every_index_online(statestore, neo4j_driver: neo4j.Driver):
    statestore.reset()
    # Data first, so that the indexes created next take a while to populate.
    with neo4j_driver.session() as session:
        session.run(
            "UNWIND range(1, 50000) AS i "
            "CREATE (:Task {scoped_key: 'Task-' + toString(i), status: 'waiting'})"
        ).consume()
    statestore.initialize()
    with neo4j_driver.session() as session:
        states = {
            r["name"]: r["state"]
            for r in session.run("SHOW INDEXES YIELD name, state RETURN name, state")
        }
    assert states
    assert set(states.values()) == {"ONLINE"}, states


def slow_claim_events(
    caplog: pytest.LogCaptureFixture, logger: str = CLAIMS_LOGGER
) -> list[dict[str, str]]:
    """The ``event=slow_claim`` records of ``logger`` as key=value dicts (each one line)."""
    events = []
    for record in caplog.records:
        message = record.getMessage()
        if record.name == logger and message.startswith("event=slow_claim "):
            assert record.levelno == logging.WARNING
            assert re.fullmatch(rf"{FIELD}( {FIELD})*", message), message
            events.append(dict(field.split("=", 1) for field in message.split(" ")))
    return events


@pytest.fixture
def zero_threshold_store(neo4j_server, neo4j_statestore) -> Iterator[Neo4jStateStore]:
    """A second store on the test server that logs every claim as slow."""
    store = Neo4jStateStore(
        neo4j_server.url, neo4j_server.user, neo4j_server.password, slow_claim_seconds=0
    )
    yield store
    store.close()


def test_slow_claims_are_logged_with_their_parameters(
    statestore, zero_threshold_store, caplog: pytest.LogCaptureFixture
):
    world = World(statestore, n_tasks=3)
    caplog.set_level(logging.WARNING, logger=CLAIMS_LOGGER)
    claimed = zero_threshold_store.claim_tasks(
        world.service, 2, scopes=[SCOPE], protocols=["HarmonicTIProtocol"]
    )
    assert len(claimed) == 2
    (event,) = slow_claim_events(caplog)
    assert float(event.pop("duration")) >= 0
    assert event == {
        "event": "slow_claim",
        "identifier": world.service,
        "count": "2",
        "claimed": "2",
        "scopes": str(SCOPE),
        "protocols": "HarmonicTIProtocol",
        "retries": "0",
        # The heartbeat, the hubs read and the first claim: one transaction.
        "transactions": "1",
        "error": "none",
    }


def test_failed_claims_are_logged_too(
    statestore, zero_threshold_store, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.WARNING, logger=CLAIMS_LOGGER)
    with pytest.raises(NotFound):
        zero_threshold_store.claim_tasks("nobody", 3)
    (event,) = slow_claim_events(caplog)
    assert event["error"] == "NotFound"
    assert (event["claimed"], event["scopes"], event["protocols"]) == ("0", "*-*-*", "any")


def test_claims_under_the_threshold_are_not_logged(
    neo4j_server, statestore, caplog: pytest.LogCaptureFixture
):
    world = World(statestore, n_tasks=2)
    caplog.set_level(logging.WARNING, logger=CLAIMS_LOGGER)
    patient = Neo4jStateStore(
        neo4j_server.url, neo4j_server.user, neo4j_server.password, slow_claim_seconds=3600
    )
    try:
        assert len(patient.claim_tasks(world.service, 1)) == 1
    finally:
        patient.close()
    assert slow_claim_events(caplog) == []


def test_the_threshold_is_a_setting(
    neo4j_server, statestore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    assert StateStoreSettings().slow_claim_seconds == 1.0
    world = World(statestore, n_tasks=1)
    monkeypatch.setenv("NEO4J_URL", neo4j_server.url)
    monkeypatch.setenv("NEO4J_USER", neo4j_server.user)
    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_server.password)
    monkeypatch.setenv("ALCHEMISCALE_LIKE_STATESTORE_SLOW_CLAIM_SECONDS", "0")
    caplog.set_level(logging.WARNING, logger=CLAIMS_LOGGER)
    store = build_statestore()
    try:
        store.claim_tasks(world.service, 1)
    finally:
        store.close()
    assert len(slow_claim_events(caplog)) == 1


@pytest.mark.parametrize("seconds", [-1.0, float("nan")])
def test_a_bad_threshold_is_refused(neo4j_server, seconds):
    with pytest.raises(ValidationError):
        Neo4jStateStore(neo4j_server.url, slow_claim_seconds=seconds)
    with pytest.raises(pydantic.ValidationError):
        StateStoreSettings(slow_claim_seconds=seconds)


def test_retries_count_the_drivers_second_call(neo4j_statestore):
    """The driver runs a transaction function again after a retryable failure;
    the slow-claim log's ``retries`` counts exactly those extra calls."""
    attempts = _Attempts()
    calls = 0

    def work(tx: neo4j.ManagedTransaction) -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise SessionExpired("connection lost in the first attempt")
        return int(tx.run("RETURN 1 AS one").single(strict=True)["one"])

    assert neo4j_statestore._db.write(attempts.counted(work)) == 1
    assert calls == 2
    assert (attempts.transactions, attempts.retries) == (1, 1)


def test_the_neo4j_retry_bound_is_a_setting(neo4j_server, monkeypatch: pytest.MonkeyPatch):
    assert StateStoreSettings().neo4j_retry_seconds == 30.0
    monkeypatch.setenv("NEO4J_URL", neo4j_server.url)
    monkeypatch.setenv("ALCHEMISCALE_LIKE_STATESTORE_NEO4J_RETRY_SECONDS", "2.5")
    store = build_statestore()
    try:
        assert isinstance(store, Neo4jStateStore)
        assert store.retry_seconds == 2.5
    finally:
        store.close()
    for bad in ("0", "-1", "nan", "inf", "soon"):
        monkeypatch.setenv("ALCHEMISCALE_LIKE_STATESTORE_NEO4J_RETRY_SECONDS", bad)
        with pytest.raises(pydantic.ValidationError):
            StateStoreSettings()
