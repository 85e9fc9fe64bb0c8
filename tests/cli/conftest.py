"""CLI tests: the neo4j_statestore fixture comes from tests/fixtures (a plugin)."""
