"""Presigned downloads of the local object store (S3 serves its own presigned URLs)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from alchemiscale_like.errors import NotFound
from alchemiscale_like.server.auth import State
from alchemiscale_like.server.routes.common import FILE_RESPONSE, stream
from alchemiscale_like.storage.objectstore.local import LocalObjectStore

router = APIRouter(tags=["objects"])


@router.get("/objectstore/{location:path}", responses=FILE_RESPONSE)
def presigned_object(location: str, expires: int, signature: str, state: State) -> Any:
    """Serve an object of the local store behind a signed, expiring URL (no token needed)."""
    store = state.stores.objectstore
    if not isinstance(store, LocalObjectStore):
        raise NotFound("this deployment serves presigned URLs from its S3 store")
    info = store.verify_presigned(location, expires, signature)
    return stream(store.open_file(info.location), info.sha256, info.size)
