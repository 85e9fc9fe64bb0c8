"""The state store: one interface (:class:`StateStore`), backends in subpackages."""

from alchemiscale_like.storage.statestore.base import StateStore
from alchemiscale_like.storage.statestore.settings import StateStoreSettings, build_statestore

__all__ = ["StateStore", "StateStoreSettings", "build_statestore"]
