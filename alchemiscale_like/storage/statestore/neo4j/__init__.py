"""The Neo4j state-store backend."""

from alchemiscale_like.storage.statestore.neo4j.store import Neo4jStateStore

__all__ = ["Neo4jStateStore"]
