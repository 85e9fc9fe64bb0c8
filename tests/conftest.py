"""Shared pytest configuration: real-server fixtures are registered as plugins here."""

pytest_plugins: list[str] = [
    "tests.fixtures.neo4j_server",
    "tests.fixtures.s3_server",
    "tests.fixtures.http_server",
]
