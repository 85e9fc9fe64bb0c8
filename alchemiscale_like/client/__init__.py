"""Clients of the APIs: :class:`UserClient` (user API) and :class:`ComputeClient` (compute API)."""

from alchemiscale_like.client.base import APIClient
from alchemiscale_like.client.compute import ComputeClient
from alchemiscale_like.client.user import ResultFileInfo, UnitFailureInfo, UserClient

__all__ = ["APIClient", "ComputeClient", "ResultFileInfo", "UnitFailureInfo", "UserClient"]
