"""Compute-service registrations and atomic task claiming in SQLite.

A claim is one ``BEGIN IMMEDIATE`` transaction: it holds the database's write
lock from its first read, so no other claimer (thread or process) can take a
task between "still waiting" and "now running".
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import random
import sqlite3
from collections.abc import Sequence

from alchemiscale_like.errors import NotFound, ValidationError
from alchemiscale_like.models.scope import Scope, ScopedKey
from alchemiscale_like.storage.statestore.base import ClaimStore
from alchemiscale_like.storage.statestore.records import ClaimCounter, ComputeServiceRecord
from alchemiscale_like.storage.statestore.rules import (
    check_claim_count,
    claims_last_minute,
    count_claims,
)
from alchemiscale_like.storage.statestore.slow_claims import timed_claim
from alchemiscale_like.storage.statestore.sqlite.connection import (
    SQLiteConnection,
    from_text,
    keys,
    now,
    single,
    to_text,
)
from alchemiscale_like.storage.statestore.sqlite.tasks import sync_claim_order

log = logging.getLogger(__name__)

_RANDOM = random.SystemRandom()

REGISTER = """
INSERT INTO compute_services (identifier, registered, heartbeat, protocols)
VALUES (?1, ?2, ?2, ?3)
ON CONFLICT (identifier) DO UPDATE SET heartbeat = excluded.heartbeat,
                                       protocols = excluded.protocols
"""

SERVICE_ROW = "SELECT * FROM compute_services WHERE identifier = ?"
CLAIMED_BY = "SELECT task FROM claims WHERE identifier = ?"

CLAIMABLE_HUBS = """
SELECT h.network, h.weight, n.org, n.campaign, n.project
FROM networks n JOIN taskhubs h ON h.network = n.scoped_key
WHERE n.state = 'active' AND h.weight > 0
"""

# Walks the claim-order index of one hub in order and stops at the first
# ``?3`` tasks that pass the per-task checks.
CANDIDATES = """
SELECT a.task FROM actions a INDEXED BY actions_claim_order
JOIN tasks t ON t.scoped_key = a.task
WHERE a.network = ?1 AND a.order_key IS NOT NULL AND t.status = 'waiting'
  AND NOT EXISTS (SELECT 1 FROM claims c WHERE c.task = a.task)
  AND (t.extends IS NULL OR EXISTS (
        SELECT 1 FROM tasks p WHERE p.scoped_key = t.extends AND p.status = 'complete'))
  AND (?2 IS NULL OR EXISTS (
        SELECT 1 FROM transformations tf WHERE tf.scoped_key = t.transformation
        AND tf.protocol IN (SELECT value FROM json_each(?2))))
ORDER BY a.priority, a.order_key
LIMIT ?3
"""


def _counter(row: sqlite3.Row) -> ClaimCounter:
    return ClaimCounter(
        total=row["claims_total"],
        minute=row["claims_minute"],
        this_minute=row["claims_this_minute"],
        last_minute=row["claims_last_minute"],
    )


def _service(row: sqlite3.Row, claimed: Sequence[str]) -> ComputeServiceRecord:
    protocols = json.loads(row["protocols"]) if row["protocols"] is not None else None
    registered, heartbeat = from_text(row["registered"]), from_text(row["heartbeat"])
    assert registered is not None
    assert heartbeat is not None
    counter = _counter(row)
    return ComputeServiceRecord(
        identifier=row["identifier"],
        registered=registered,
        heartbeat=heartbeat,
        protocols=tuple(protocols) if protocols is not None else None,
        claimed=tuple(keys(claimed)),
        claims_total=counter.total,
        claims_last_minute=claims_last_minute(counter, now()),
    )


def _count_claims(
    conn: sqlite3.Connection, identifier: str, claimed: int, moment: dt.datetime
) -> None:
    row = single(conn.execute(SERVICE_ROW, (identifier,)).fetchone(), identifier)
    counter = count_claims(_counter(row), claimed, moment)
    conn.execute(
        "UPDATE compute_services SET claims_total = ?, claims_minute = ?, "
        "claims_this_minute = ?, claims_last_minute = ? WHERE identifier = ?",
        (counter.total, counter.minute, counter.this_minute, counter.last_minute, identifier),
    )


def _in_scopes(row: sqlite3.Row, scopes: Sequence[Scope]) -> bool:
    return any(
        all(
            part == "*" or part == value
            for part, value in zip(scope.to_tuple(), row[2:5], strict=True)
        )
        for scope in scopes
    )


def _weighted_order(hubs: list[tuple[str, float]]) -> list[str]:
    # Efraimidis-Spirakis: a weighted random permutation in one sort.
    return [
        net for net, w in sorted(hubs, key=lambda h: _RANDOM.random() ** (1.0 / h[1]), reverse=True)
    ]


def release_claims(conn: sqlite3.Connection, identifiers: Sequence[str]) -> dict[str, list[str]]:
    """Deregister services: their running tasks return to waiting (DAG and unit results
    stay, so the next claimant resumes). Returns each one's released tasks."""
    released = {}
    for identifier in identifiers:
        tasks = [r["task"] for r in conn.execute(CLAIMED_BY, (identifier,))]
        conn.executemany(
            "UPDATE tasks SET status = 'waiting' WHERE scoped_key = ? AND status = 'running'",
            [(t,) for t in tasks],
        )
        conn.execute("DELETE FROM claims WHERE identifier = ?", (identifier,))
        sync_claim_order(conn, tasks)
        conn.execute("DELETE FROM compute_services WHERE identifier = ?", (identifier,))
        released[identifier] = tasks
    return released


class SQLiteClaims(ClaimStore):
    """ClaimStore on SQLite (slow claims logged as in every backend: see slow_claims.py)."""

    _db: SQLiteConnection
    _slow_claim_seconds: float

    def register_computeservice(
        self, identifier: str, protocols: Sequence[str] | None = None
    ) -> ComputeServiceRecord:
        if not identifier:
            raise ValidationError("a compute service needs a non-empty identifier")
        listed = json.dumps(sorted(protocols)) if protocols is not None else None

        def work(conn: sqlite3.Connection) -> sqlite3.Row:
            conn.execute(REGISTER, (identifier, to_text(now()), listed))
            row: sqlite3.Row = conn.execute(SERVICE_ROW, (identifier,)).fetchone()
            return row

        return _service(self._db.write(work), [])

    def heartbeat_computeservice(self, identifier: str) -> None:
        def work(conn: sqlite3.Connection) -> None:
            done = conn.execute(
                "UPDATE compute_services SET heartbeat = ? WHERE identifier = ?",
                (to_text(now()), identifier),
            )
            if not done.rowcount:
                raise NotFound(f"compute service {identifier} not found")

        self._db.write(work)

    def deregister_computeservice(self, identifier: str) -> list[ScopedKey]:
        def work(conn: sqlite3.Connection) -> list[str]:
            single(
                conn.execute(SERVICE_ROW, (identifier,)).fetchone(),
                f"compute service {identifier}",
            )
            return release_claims(conn, [identifier])[identifier]

        return keys(self._db.write(work))

    def get_computeservice(self, identifier: str) -> ComputeServiceRecord:
        def work(conn: sqlite3.Connection) -> ComputeServiceRecord:
            row = single(
                conn.execute(SERVICE_ROW, (identifier,)).fetchone(),
                f"compute service {identifier}",
            )
            return _service(row, [r["task"] for r in conn.execute(CLAIMED_BY, (identifier,))])

        return self._db.read(work)

    def list_computeservices(self) -> list[ComputeServiceRecord]:
        def work(conn: sqlite3.Connection) -> list[ComputeServiceRecord]:
            held: dict[str, list[str]] = {}
            for row in conn.execute("SELECT identifier, task FROM claims"):
                held.setdefault(row["identifier"], []).append(row["task"])
            return [
                _service(row, sorted(held.get(row["identifier"], [])))
                for row in conn.execute("SELECT * FROM compute_services ORDER BY identifier")
            ]

        return self._db.read(work)

    def expire_computeservices(self, older_than: dt.datetime) -> list[str]:
        def work(conn: sqlite3.Connection) -> list[str]:
            expired = [
                r["identifier"]
                for r in conn.execute(
                    "SELECT identifier FROM compute_services WHERE heartbeat < ?",
                    (to_text(older_than),),
                )
            ]
            release_claims(conn, expired)
            return expired

        return sorted(self._db.write(work))

    def claim_tasks(
        self,
        identifier: str,
        count: int = 1,
        scopes: Sequence[Scope] = (Scope(),),
        protocols: Sequence[str] | None = None,
    ) -> list[ScopedKey]:
        check_claim_count(count, limit=None)
        listed = json.dumps(sorted(protocols)) if protocols is not None else None
        with timed_claim(
            log,
            self._slow_claim_seconds,
            identifier=identifier,
            count=count,
            scopes=scopes,
            protocols=protocols,
        ) as claimed:
            claimed.extend(self._db.write(self._claim, identifier, count, scopes, listed))
        return [ScopedKey.from_str(sk) for sk in claimed]

    @staticmethod
    def _claim(
        conn: sqlite3.Connection,
        identifier: str,
        count: int,
        scopes: Sequence[Scope],
        protocols: str | None,
    ) -> list[str]:
        moment = now()
        stamp = to_text(moment)
        registered = conn.execute(
            "UPDATE compute_services SET heartbeat = ? WHERE identifier = ?", (stamp, identifier)
        )
        if not registered.rowcount:
            raise NotFound(f"compute service {identifier} not found")
        hubs = [
            (row["network"], float(row["weight"]))
            for row in conn.execute(CLAIMABLE_HUBS)
            if _in_scopes(row, scopes)
        ]
        claimed: list[str] = []
        for network in _weighted_order(hubs):
            got = [
                r["task"]
                for r in conn.execute(CANDIDATES, (network, protocols, count - len(claimed)))
            ]
            conn.executemany(
                "INSERT INTO claims (task, identifier, since) VALUES (?, ?, ?)",
                [(task, identifier, stamp) for task in got],
            )
            conn.executemany(
                "UPDATE tasks SET status = 'running', attempts = attempts + 1 WHERE scoped_key = ?",
                [(task,) for task in got],
            )
            conn.executemany(
                "UPDATE actions SET order_key = NULL WHERE task = ?", [(task,) for task in got]
            )
            claimed.extend(got)
            if len(claimed) >= count:
                break
        if claimed:
            _count_claims(conn, identifier, len(claimed), moment)
        return claimed

    def get_task_claimant(self, task: ScopedKey) -> str | None:
        def work(conn: sqlite3.Connection) -> str | None:
            single(
                conn.execute("SELECT 1 FROM tasks WHERE scoped_key = ?", (str(task),)).fetchone(),
                f"task {task}",
            )
            row = conn.execute("SELECT identifier FROM claims WHERE task = ?", (str(task),))
            found = row.fetchone()
            return None if found is None else str(found["identifier"])

        return self._db.read(work)
