"""Task restart patterns in SQLite."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from alchemiscale_like.models.scope import ScopedKey
from alchemiscale_like.storage.statestore.base import RestartPatternStore
from alchemiscale_like.storage.statestore.records import RestartPattern
from alchemiscale_like.storage.statestore.rules import validate_patterns
from alchemiscale_like.storage.statestore.sqlite.connection import SQLiteConnection, single

ADD_PATTERN = """
INSERT INTO restart_patterns (network, pattern, max_retries) VALUES (?, ?, ?)
ON CONFLICT DO UPDATE SET max_retries = excluded.max_retries
"""


def _require_hub(conn: sqlite3.Connection, network: ScopedKey) -> None:
    single(
        conn.execute("SELECT 1 FROM taskhubs WHERE network = ?", (str(network),)).fetchone(),
        f"TaskHub of network {network}",
    )


class SQLiteRestartPatterns(RestartPatternStore):
    """RestartPatternStore on SQLite."""

    _db: SQLiteConnection

    def add_task_restart_patterns(
        self, network: ScopedKey, patterns: Sequence[str], max_retries: int
    ) -> None:
        checked = validate_patterns(patterns, max_retries)

        def work(conn: sqlite3.Connection) -> None:
            _require_hub(conn, network)
            conn.executemany(ADD_PATTERN, [(str(network), p, max_retries) for p in checked])

        self._db.write(work)

    def remove_task_restart_patterns(self, network: ScopedKey, patterns: Sequence[str]) -> None:
        def work(conn: sqlite3.Connection) -> None:
            _require_hub(conn, network)
            # The restarts a pattern counted go with it (ON DELETE CASCADE).
            conn.executemany(
                "DELETE FROM restart_patterns WHERE network = ? AND pattern = ?",
                [(str(network), p) for p in patterns],
            )

        self._db.write(work)

    def get_task_restart_patterns(self, network: ScopedKey) -> list[RestartPattern]:
        def work(conn: sqlite3.Connection) -> list[RestartPattern]:
            _require_hub(conn, network)
            rows = conn.execute(
                "SELECT pattern, max_retries FROM restart_patterns WHERE network = ? "
                "ORDER BY pattern",
                (str(network),),
            )
            return [
                RestartPattern(pattern=r["pattern"], max_retries=r["max_retries"]) for r in rows
            ]

        return self._db.read(work)
