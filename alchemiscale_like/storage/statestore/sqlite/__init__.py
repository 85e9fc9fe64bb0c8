"""The SQLite state store: the embedded default (``quickstart``), one file, no server."""

from alchemiscale_like.storage.statestore.sqlite.store import SQLiteStateStore

__all__ = ["SQLiteStateStore"]
