"""Fixtures of the quickstart tests: a marker for the processes of each test's quickstart."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.quickstart.helpers import kill_survivors


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Where the test's quickstart keeps everything."""
    return tmp_path / "quickstart"


@pytest.fixture
def marker(data_dir: Path) -> Iterator[str]:
    """A marker in the environment of every process the test's quickstart starts.

    Tests assert that nothing survives; this only cleans up after a failed one.
    """
    value = uuid.uuid4().hex
    yield value
    kill_survivors(value, data_dir)
