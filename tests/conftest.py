"""Shared pytest configuration: real-server fixtures are registered as plugins here."""

import pytest

pytest_plugins: list[str] = [
    "tests.fixtures.neo4j_server",
    "tests.fixtures.s3_server",
    "tests.fixtures.http_server",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the ``slow`` tests first (stable order otherwise, the same on every xdist worker).

    One started near the end of the run keeps its worker busy while the other has
    nothing left to do; at the start, the other worker runs short tests beside it.
    """
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
