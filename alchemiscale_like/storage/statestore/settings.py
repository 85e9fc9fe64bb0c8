"""State-store settings from environment variables, and the factory that builds a store."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from alchemiscale_like.storage.statestore.base import StateStore


class StateStoreSettings(BaseSettings):
    """Where the state store lives.

    Environment variables: ``ALCHEMISCALE_LIKE_STATESTORE_BACKEND`` (``neo4j``, the
    production store, or ``sqlite``, the embedded default of ``quickstart``),
    ``ALCHEMISCALE_LIKE_STATESTORE_SQLITE_PATH`` (the SQLite database file),
    ``NEO4J_URL``, ``NEO4J_USER``, ``NEO4J_PASSWORD``, ``NEO4J_DBNAME`` (each
    also accepted with the ``ALCHEMISCALE_LIKE_STATESTORE_`` prefix),
    ``ALCHEMISCALE_LIKE_STATESTORE_SLOW_CLAIM_SECONDS``,
    ``ALCHEMISCALE_LIKE_STATESTORE_NEO4J_RETRY_SECONDS``.
    """

    model_config = SettingsConfigDict(
        env_prefix="ALCHEMISCALE_LIKE_STATESTORE_", extra="ignore", use_attribute_docstrings=True
    )

    backend: Literal["neo4j", "sqlite"] = "neo4j"
    """'neo4j' (production) or 'sqlite' (one file, the embedded default of quickstart)."""
    sqlite_path: Path = Path("alchemiscale-like-data/state.sqlite3")
    """The SQLite database file (backend sqlite), on a local disk; `database init` creates it."""
    neo4j_url: str = Field(
        default="bolt://127.0.0.1:7687",
        validation_alias=AliasChoices("ALCHEMISCALE_LIKE_STATESTORE_NEO4J_URL", "NEO4J_URL"),
    )
    """Bolt URL of the Neo4j server."""
    neo4j_user: str = Field(
        default="neo4j",
        validation_alias=AliasChoices("ALCHEMISCALE_LIKE_STATESTORE_NEO4J_USER", "NEO4J_USER"),
    )
    """Neo4j user."""
    neo4j_password: str | None = Field(
        default=None,
        validation_alias=AliasChoices(
            "ALCHEMISCALE_LIKE_STATESTORE_NEO4J_PASSWORD", "NEO4J_PASSWORD"
        ),
    )
    """Neo4j password (none: connect without authentication)."""
    neo4j_database: str = Field(
        default="neo4j",
        validation_alias=AliasChoices("ALCHEMISCALE_LIKE_STATESTORE_NEO4J_DBNAME", "NEO4J_DBNAME"),
    )
    """Neo4j database name ('neo4j' on Community edition)."""
    neo4j_retry_seconds: float = Field(default=30.0, gt=0.0, allow_inf_nan=False)
    """Seconds a call retries an unreachable Neo4j before the API answers 503 (bridges shorter)."""
    slow_claim_seconds: float = Field(default=1.0, ge=0.0, allow_inf_nan=False)
    """Claims taking this long or longer are logged at WARNING (event=slow_claim)."""


def build_statestore(settings: StateStoreSettings | None = None) -> StateStore:
    """Build the configured state store (settings from the environment by default)."""
    settings = settings or StateStoreSettings()
    if settings.backend == "sqlite":
        from alchemiscale_like.storage.statestore.sqlite import SQLiteStateStore

        return SQLiteStateStore(
            settings.sqlite_path, slow_claim_seconds=settings.slow_claim_seconds
        )
    from alchemiscale_like.storage.statestore.neo4j import Neo4jStateStore

    return Neo4jStateStore(
        settings.neo4j_url,
        settings.neo4j_user,
        settings.neo4j_password,
        settings.neo4j_database,
        slow_claim_seconds=settings.slow_claim_seconds,
        retry_seconds=settings.neo4j_retry_seconds,
    )
