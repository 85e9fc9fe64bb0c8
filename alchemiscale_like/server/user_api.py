"""The user API: ``create_user_app(...)`` builds it (``alchemiscale-like api`` serves it)."""

from __future__ import annotations

from fastapi import FastAPI

from alchemiscale_like.security.identity import IdentityKind
from alchemiscale_like.security.tokens import TokenSettings, load_token_settings
from alchemiscale_like.server.app import build_app
from alchemiscale_like.server.routes import objects, user_networks, user_tasks
from alchemiscale_like.server.settings import APISettings
from alchemiscale_like.server.ui import UI_PATH
from alchemiscale_like.server.ui.app import create_ui_app
from alchemiscale_like.storage.objectstore import ObjectStore, build_objectstore
from alchemiscale_like.storage.statestore import StateStore, build_statestore


def create_user_app(
    settings: APISettings | None = None,
    statestore: StateStore | None = None,
    objectstore: ObjectStore | None = None,
    tokens: TokenSettings | None = None,
) -> FastAPI:
    """The user API on the given stores (built from the environment when omitted), with
    its web dashboard under :data:`UI_PATH`.

    Raises:
        ValidationError: the token settings (JWT secret) are missing or invalid.
    """
    app = build_app(
        kind=IdentityKind.USER,
        title="alchemiscale-like user API",
        routers=[user_networks.router, user_tasks.router, objects.router],
        statestore=statestore if statestore is not None else build_statestore(),
        objectstore=objectstore if objectstore is not None else build_objectstore(),
        settings=settings if settings is not None else APISettings(),
        tokens=tokens if tokens is not None else load_token_settings(),
    )
    app.mount(UI_PATH, create_ui_app(app.state.alchemiscale))
    return app
