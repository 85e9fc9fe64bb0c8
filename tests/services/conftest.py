"""Service tests use the state-store backends of the conformance suite."""

from tests.storage.statestore.conftest import statestore

__all__ = ["statestore"]
