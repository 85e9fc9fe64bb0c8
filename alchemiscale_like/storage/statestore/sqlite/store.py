"""`SQLiteStateStore`: the embedded default state store, one mixin per concern."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from alchemiscale_like.errors import StoreUnavailable
from alchemiscale_like.storage.statestore.base import StateStore
from alchemiscale_like.storage.statestore.slow_claims import check_slow_claim_seconds
from alchemiscale_like.storage.statestore.sqlite.claims import SQLiteClaims
from alchemiscale_like.storage.statestore.sqlite.connection import SQLiteConnection
from alchemiscale_like.storage.statestore.sqlite.identities import SQLiteIdentities
from alchemiscale_like.storage.statestore.sqlite.networks import SQLiteNetworks
from alchemiscale_like.storage.statestore.sqlite.overview import SQLiteOverview
from alchemiscale_like.storage.statestore.sqlite.restarts import SQLiteRestartPatterns
from alchemiscale_like.storage.statestore.sqlite.results import SQLiteResults
from alchemiscale_like.storage.statestore.sqlite.schema import (
    ADDED_COLUMNS,
    DROP_ORDER,
    INDEXES,
    SCHEMA,
    TABLES,
)
from alchemiscale_like.storage.statestore.sqlite.tasks import SQLiteTasks

log = logging.getLogger(__name__)


class SQLiteStateStore(
    SQLiteNetworks,
    SQLiteTasks,
    SQLiteClaims,
    SQLiteResults,
    SQLiteRestartPatterns,
    SQLiteIdentities,
    SQLiteOverview,
    StateStore,
):
    """The state store in one SQLite file (stdlib ``sqlite3``, WAL mode).

    Safe to share between threads (each gets its own connection) and between
    processes on one machine (the APIs and compute services of ``quickstart``):
    every write takes the database's write lock first, so claims stay atomic
    across processes. The folder must be on a local filesystem (SQLite's locks
    are unreliable over NFS); for many nodes use Neo4j.

    Args:
        path: the database file (created by ``initialize()``; its folder must exist).
        slow_claim_seconds: claims taking this long or longer are logged at WARNING
            (``event=slow_claim``); 0 logs every claim.

    Raises:
        ValidationError: ``slow_claim_seconds`` is negative or not a number.
    """

    def __init__(self, path: Path | str, *, slow_claim_seconds: float = 1.0) -> None:
        self._slow_claim_seconds = check_slow_claim_seconds(slow_claim_seconds)
        self._db = SQLiteConnection(path)

    @property
    def path(self) -> Path:
        """The database file."""
        return self._db.path

    def initialize(self) -> None:
        """Create the database's folder, tables and indexes (idempotent).

        Raises:
            StoreUnavailable: the folder or file cannot be created or opened.
        """
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create the folder of {self.path}: {exc}") from exc

        def work(conn: sqlite3.Connection) -> None:
            for statement in SCHEMA:
                conn.execute(statement)
            for table, columns in ADDED_COLUMNS.items():
                present = {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}
                for column, declaration in columns.items():
                    if column not in present:
                        # Names and declarations come from the fixed schema, never from input.
                        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")

        self._db.write(work)
        log.info("event=statestore_initialized backend=sqlite path=%s", self.path)

    def check(self) -> None:
        if not self.path.is_file():
            raise StoreUnavailable(
                f"the SQLite database {self.path} does not exist; "
                "run 'alchemiscale-like database init'"
            )
        rows = self._db.query("SELECT name FROM sqlite_schema WHERE type IN ('table', 'index')")
        missing = sorted((set(TABLES) | set(INDEXES)) - {r["name"] for r in rows})
        for table, columns in ADDED_COLUMNS.items():
            if table in missing:
                continue
            # Table names come from the fixed schema, never from input.
            present = {r["name"] for r in self._db.query(f"PRAGMA table_info({table})")}
            missing += [f"{table}.{column}" for column in columns if column not in present]
        if missing:
            raise StoreUnavailable(
                f"the SQLite database {self.path} is not initialized (missing "
                f"{', '.join(missing)}); run 'alchemiscale-like database init'"
            )

    def reset(self) -> None:
        def work(conn: sqlite3.Connection) -> None:
            # Table names cannot be parameters; these come from the fixed schema.
            for table in DROP_ORDER:
                conn.execute(f"DROP TABLE IF EXISTS {table}")

        self._db.write(work)
        log.info("event=statestore_reset backend=sqlite path=%s", self.path)

    def close(self) -> None:
        self._db.close()
