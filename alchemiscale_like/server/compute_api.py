"""The compute API: ``create_compute_app(...)`` builds it (``alchemiscale-like compute api``)."""

from __future__ import annotations

from fastapi import FastAPI

from alchemiscale_like.security.identity import IdentityKind
from alchemiscale_like.security.tokens import TokenSettings, load_token_settings
from alchemiscale_like.server.app import build_app
from alchemiscale_like.server.routes import compute, objects
from alchemiscale_like.server.settings import APISettings
from alchemiscale_like.storage.objectstore import ObjectStore, build_objectstore
from alchemiscale_like.storage.statestore import StateStore, build_statestore


def create_compute_app(
    settings: APISettings | None = None,
    statestore: StateStore | None = None,
    objectstore: ObjectStore | None = None,
    tokens: TokenSettings | None = None,
) -> FastAPI:
    """The compute API on the given stores (built from the environment when omitted).

    Raises:
        ValidationError: the token settings (JWT secret) are missing or invalid.
    """
    return build_app(
        kind=IdentityKind.COMPUTE,
        title="alchemiscale-like compute API",
        routers=[compute.router, objects.router],
        statestore=statestore if statestore is not None else build_statestore(),
        objectstore=objectstore if objectstore is not None else build_objectstore(),
        settings=settings if settings is not None else APISettings(),
        tokens=tokens if tokens is not None else load_token_settings(),
    )
