"""Neo4j plumbing shared by every part of :class:`Neo4jStateStore`.

Driver errors are translated here, at the boundary: connection trouble becomes
``StoreUnavailable``; our own domain errors raised inside a transaction
function roll the transaction back and pass through unchanged.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import neo4j
from neo4j import GraphDatabase, ManagedTransaction
from neo4j import exceptions as neo4j_errors

from alchemiscale_like.errors import AlreadyExists, NotFound, StoreUnavailable
from alchemiscale_like.models.scope import Scope, ScopedKey
from alchemiscale_like.storage.statestore.neo4j.claim_order import (
    CLAIM_ORDER_INDEX,
    CLAIM_ORDER_INDEX_NAME,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

_UNIQUE = [
    ("network_sk", "AlchemicalNetwork", "scoped_key"),
    ("transformation_sk", "Transformation", "scoped_key"),
    ("chemicalsystem_sk", "ChemicalSystem", "scoped_key"),
    ("taskhub_sk", "TaskHub", "scoped_key"),
    ("taskhub_network", "TaskHub", "network"),
    ("task_sk", "Task", "scoped_key"),
    ("csr_id", "ComputeServiceRegistration", "identifier"),
    ("dagref_task", "ProtocolDAGRef", "task"),
    ("unitref_uid", "ProtocolUnitResultRef", "uid"),
    ("pdrref_uid", "ProtocolDAGResultRef", "uid"),
    ("restart_uid", "TaskRestartPattern", "uid"),
    ("user_id", "CredentialedUserIdentity", "identifier"),
    ("compute_id", "CredentialedComputeIdentity", "identifier"),
]
_INDEXES = [
    ("task_status", "Task", "n.status"),
    ("network_scope", "AlchemicalNetwork", "n.org, n.campaign, n.project"),
    ("network_state", "AlchemicalNetwork", "n.state"),
    ("transformation_scope", "Transformation", "n.org, n.campaign, n.project"),
    ("csr_heartbeat", "ComputeServiceRegistration", "n.heartbeat"),
    ("dagref_transformation", "ProtocolDAGRef", "n.transformation"),
    ("task_transformation_status", "Task", "n.transformation, n.status"),
]

#: Constraints and indexes; each statement is idempotent. Schema statements take
#: no parameters, so they are spelled out from the fixed tables above.
SCHEMA = (
    [
        f"CREATE CONSTRAINT {name} IF NOT EXISTS FOR (n:{label}) REQUIRE n.{prop} IS UNIQUE"
        for name, label, prop in _UNIQUE
    ]
    + [
        f"CREATE INDEX {name} IF NOT EXISTS FOR (n:{label}) ON ({props})"
        for name, label, props in _INDEXES
    ]
    + [CLAIM_ORDER_INDEX]
)
#: The name of every index :data:`SCHEMA` makes (a constraint's index has its name).
SCHEMA_INDEX_NAMES = frozenset(
    [name for name, _, _ in _UNIQUE] + [name for name, _, _ in _INDEXES] + [CLAIM_ORDER_INDEX_NAME]
)


def now() -> dt.datetime:
    """The current time in UTC."""
    return dt.datetime.now(dt.UTC)


def to_native(value: Any) -> Any:
    """Convert Neo4j temporal values to Python ``datetime``."""
    if isinstance(value, neo4j.time.DateTime):
        return value.to_native()
    return value


def scope_params(scope: Scope | None) -> dict[str, str | None]:
    """``$org``/``$campaign``/``$project`` parameters; wildcards become null."""
    scope = scope or Scope()
    return {
        "org": None if scope.org == "*" else scope.org,
        "campaign": None if scope.campaign == "*" else scope.campaign,
        "project": None if scope.project == "*" else scope.project,
    }


#: A Cypher predicate matching node ``n`` against ``scope_params``.
SCOPE_FILTER = (
    "($org IS NULL OR n.org = $org) AND ($campaign IS NULL OR n.campaign = $campaign) "
    "AND ($project IS NULL OR n.project = $project)"
)


def sk_props(sk: ScopedKey) -> dict[str, str]:
    """Node properties stored for every scoped object."""
    return {
        "scoped_key": str(sk),
        "key": sk.gufe_key,
        "org": sk.org,
        "campaign": sk.campaign,
        "project": sk.project,
    }


def taskhub_key(network: ScopedKey) -> str:
    """The TaskHub scoped key of a network (one hub per network)."""
    digest = network.gufe_key.split("-", 1)[1]
    return f"TaskHub-{digest}-{network.org}-{network.campaign}-{network.project}"


class Neo4jConnection:
    """Owns the driver; runs transaction functions with error translation."""

    def __init__(
        self,
        url: str,
        user: str = "neo4j",
        password: str | None = None,
        database: str = "neo4j",
        *,
        retry_seconds: float = 30.0,
    ) -> None:
        """Connect lazily to ``url``.

        ``retry_seconds`` bounds both the wait for a pooled connection and how long
        the driver retries a transaction after transient errors (an unreachable
        server included) before :class:`StoreUnavailable` is raised.
        """
        self.url = url
        self.database = database
        self._driver = GraphDatabase.driver(
            url,
            auth=(user, password) if password is not None else None,
            connection_acquisition_timeout=retry_seconds,
            max_transaction_retry_time=retry_seconds,
            # On a fresh database every relationship type is "unrecognized" until
            # first used; those notices are noise, not problems.
            notifications_disabled_classifications=[
                neo4j.NotificationDisabledClassification.UNRECOGNIZED
            ],
        )

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """The one boundary where driver errors become domain errors (review P6).

        A uniqueness violation is :class:`AlreadyExists`; everything else the
        driver raises (unreachable server, transient errors that outlasted the
        driver's retries, refused or failed statements) is
        :class:`StoreUnavailable`, so no driver type ever reaches a caller.
        """
        try:
            yield
        except neo4j_errors.ConstraintError as exc:
            raise AlreadyExists(f"Neo4j refused a duplicate: {exc.message}") from exc
        except (neo4j_errors.ServiceUnavailable, neo4j_errors.SessionExpired, OSError) as exc:
            raise StoreUnavailable(f"Neo4j at {self.url} is unavailable: {exc}") from exc
        except neo4j_errors.Neo4jError as exc:
            raise StoreUnavailable(
                f"Neo4j at {self.url} failed a request ({exc.code}): {exc.message}"
            ) from exc
        except neo4j_errors.DriverError as exc:
            raise StoreUnavailable(f"the Neo4j driver failed: {exc}") from exc

    def write(self, work: Callable[..., T], *args: Any) -> T:
        """Run ``work(tx, *args)`` in a write transaction (retried on transient errors)."""
        with self._translated(), self._driver.session(database=self.database) as session:
            return session.execute_write(work, *args)

    def read(self, work: Callable[..., T], *args: Any) -> T:
        """Run ``work(tx, *args)`` in a read transaction."""
        with self._translated(), self._driver.session(database=self.database) as session:
            return session.execute_read(work, *args)

    def query(self, cypher: str, **params: Any) -> list[neo4j.Record]:
        """Run one read query and return its records."""

        def work(tx: ManagedTransaction) -> list[neo4j.Record]:
            return list(tx.run(cypher, params))

        return self.read(work)

    def execute(self, cypher: str, **params: Any) -> list[neo4j.Record]:
        """Run one write query and return its records."""

        def work(tx: ManagedTransaction) -> list[neo4j.Record]:
            return list(tx.run(cypher, params))

        return self.write(work)

    def run_autocommit(self, cypher: str, **params: Any) -> None:
        """Run a statement in an implicit transaction (needed by ``CALL ... IN TRANSACTIONS``)."""
        with self._translated(), self._driver.session(database=self.database) as session:
            session.run(cypher, params).consume()

    def verify(self) -> None:
        """Raise ``StoreUnavailable`` unless the server answers."""
        with self._translated():
            self._driver.verify_connectivity()

    def close(self) -> None:
        """Close the driver."""
        self._driver.close()


def single(records: list[neo4j.Record], what: str) -> neo4j.Record:
    """The one record of a lookup, or ``NotFound`` naming ``what``."""
    if not records:
        raise NotFound(f"{what} not found")
    return records[0]
