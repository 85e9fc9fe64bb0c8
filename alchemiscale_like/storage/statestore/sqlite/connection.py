"""SQLite plumbing shared by every part of :class:`SQLiteStateStore`.

One connection per thread (and per process: a forked child opens its own), the
database in WAL mode so readers never wait for the writer. Every write runs in
``BEGIN IMMEDIATE``: it takes the database's write lock before reading anything,
so the checks a write makes (a claim's "still waiting?", a transition's "still
running?") cannot race another writer in this process or in any other. Errors
are translated here, at the boundary: a uniqueness violation is
``AlreadyExists``, everything else sqlite3 raises is ``StoreUnavailable``; our
own domain errors raised inside a transaction roll it back and pass through.
"""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from alchemiscale_like.errors import AlreadyExists, NotFound, StoreUnavailable
from alchemiscale_like.models.scope import Scope, ScopedKey

T = TypeVar("T")

#: How long a writer waits for another process's write lock before giving up.
BUSY_TIMEOUT_SECONDS = 60.0

# Writers of one process queue on a lock of their own before asking SQLite for its
# write lock: SQLite's busy handler polls with growing sleeps and no queue, so among
# the request threads of one API an unlucky writer kept losing (claims of 1 s and
# more while the median took 0.2 ms). Other processes still meet the busy handler.
_WRITE_LOCKS: dict[str, threading.Lock] = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def _fresh_write_locks() -> None:
    # A child forked while another thread held a lock would wait for it forever.
    global _WRITE_LOCKS_GUARD
    _WRITE_LOCKS.clear()
    _WRITE_LOCKS_GUARD = threading.Lock()


os.register_at_fork(after_in_child=_fresh_write_locks)


def _write_lock(path: Path) -> threading.Lock:
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(str(path.resolve()), threading.Lock())


def now() -> dt.datetime:
    """The current time in UTC."""
    return dt.datetime.now(dt.UTC)


def to_text(value: dt.datetime | None) -> str | None:
    """A datetime as fixed-width UTC ISO text, so text order is time order."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def from_text(value: str | None) -> dt.datetime | None:
    """The datetime :func:`to_text` wrote."""
    return None if value is None else dt.datetime.fromisoformat(value)


def scope_params(scope: Scope | None) -> tuple[str | None, str | None, str | None]:
    """(org, campaign, project) query parameters of a scope; wildcards become null."""
    scope = scope or Scope()
    return tuple(None if part == "*" else part for part in scope.to_tuple())  # type: ignore[return-value]


def scoped_columns(sk: ScopedKey) -> tuple[str, str, str, str, str]:
    """(scoped_key, key, org, campaign, project) of a scoped object."""
    return (str(sk), sk.gufe_key, sk.org, sk.campaign, sk.project)


def keys(values: Sequence[str]) -> list[ScopedKey]:
    """Scoped keys from their string forms, sorted as the other backends sort them."""
    return [ScopedKey.from_str(v) for v in sorted(values)]


def single(row: sqlite3.Row | None, what: str) -> sqlite3.Row:
    """``row``, or ``NotFound`` naming ``what`` if the lookup found nothing."""
    if row is None:
        raise NotFound(f"{what} not found")
    return row


class SQLiteConnection:
    """Owns the per-thread connections to one database file; runs transactions."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[sqlite3.Connection] = []
        self._pid = os.getpid()

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.IntegrityError as exc:
            raise AlreadyExists(f"SQLite refused a duplicate: {exc}") from exc
        except (sqlite3.Error, OSError) as exc:
            raise StoreUnavailable(f"the SQLite database {self.path} failed: {exc}") from exc

    def _connection(self) -> sqlite3.Connection:
        if os.getpid() != self._pid:
            # A forked child must not use its parent's connections (or close them).
            self._local = threading.local()
            self._opened = []
            self._pid = os.getpid()
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            return conn
        with self._translated():
            if not self.path.parent.is_dir():
                raise sqlite3.OperationalError(f"folder {self.path.parent} does not exist")
            # It holds hashed keys: readable by its owner only (SQLite gives its -wal
            # and -shm files the same mode).
            os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))
            conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_SECONDS,
                isolation_level=None,  # we issue BEGIN ourselves
                check_same_thread=False,  # only close() touches it from another thread
            )
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            # In WAL mode NORMAL loses no committed transaction on a process crash
            # (only, at worst, the last ones on a power cut); FULL fsyncs every commit.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
        self._local.conn = conn
        with self._lock:
            self._opened.append(conn)
        return conn

    def _run(self, begin: str, work: Callable[..., T], *args: Any) -> T:
        conn = self._connection()
        with self._translated():
            conn.execute(begin)
            try:
                result = work(conn, *args)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result

    def write(self, work: Callable[..., T], *args: Any) -> T:
        """Run ``work(conn, *args)`` in one write transaction (the database's write lock held)."""
        with _write_lock(self.path):
            return self._run("BEGIN IMMEDIATE", work, *args)

    def read(self, work: Callable[..., T], *args: Any) -> T:
        """Run ``work(conn, *args)`` in one read transaction (a consistent snapshot)."""
        return self._run("BEGIN DEFERRED", work, *args)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Rows of one read statement."""
        return self.read(lambda conn: conn.execute(sql, params).fetchall())

    def query_one(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
        """The first row of one read statement, if any."""

        def work(conn: sqlite3.Connection) -> sqlite3.Row | None:
            row: sqlite3.Row | None = conn.execute(sql, params).fetchone()
            return row

        return self.read(work)

    def close(self) -> None:
        """Close every connection this object opened in this process."""
        with self._lock:
            opened, self._opened = self._opened, []
        for conn in opened:
            conn.close()
        self._local = threading.local()
