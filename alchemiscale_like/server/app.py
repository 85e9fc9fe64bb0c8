"""The composition root shared by both APIs: stores in, a FastAPI app out.

``create_user_app`` and ``create_compute_app`` (in :mod:`.user_api` and
:mod:`.compute_api`) call :func:`build_app`; tests pass their own stores, and
nothing lives in module-level globals.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from alchemiscale_like import __version__
from alchemiscale_like.errors import AlchemiscaleLikeError, log_token
from alchemiscale_like.security.identity import IdentityKind
from alchemiscale_like.security.tokens import TokenSettings, create_access_token
from alchemiscale_like.server.auth import AppState, State
from alchemiscale_like.server.body import LimitFormBodies
from alchemiscale_like.server.errors import error_response, install_error_handlers
from alchemiscale_like.server.paths import RefuseControlCharacters
from alchemiscale_like.server.settings import APISettings
from alchemiscale_like.services.identities import authenticate
from alchemiscale_like.services.stores import Stores
from alchemiscale_like.storage.objectstore.base import ObjectStore
from alchemiscale_like.storage.statestore.base import StateStore

log = logging.getLogger(__name__)


class TokenResponse(BaseModel):
    """An issued access token (OAuth2 password flow)."""

    access_token: str
    token_type: str = "bearer"  # noqa: S105 (the OAuth2 token type, not a secret)
    expires_in: int


class Status(BaseModel):
    """A liveness answer."""

    status: str


class Info(BaseModel):
    """What is serving: version, API kind and backends."""

    version: str
    api: str
    statestore: str
    objectstore: str


def _common_router() -> APIRouter:
    router = APIRouter(tags=["common"])

    @router.post("/token", response_model=TokenResponse)
    def token(state: State, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> TokenResponse:
        """Exchange an identifier and key for a short-lived access token."""
        identity = authenticate(state.stores.statestore, state.kind, form.username, form.password)
        lifetime = state.tokens.expire_seconds
        jwt = create_access_token(
            state.kind,
            identity.identifier,
            identity.scopes,
            secret=state.tokens.secret_key,
            lifetime_seconds=lifetime,
        )
        return TokenResponse(access_token=jwt, expires_in=lifetime)

    @router.get("/ping", response_model=Status)
    def ping() -> Status:
        """Answers while the process is up (no store is touched)."""
        return Status(status="ok")

    @router.get("/info", response_model=Info)
    def info(state: State) -> Info:
        """Version, API kind and store backends."""
        return Info(version=__version__, api=state.kind.value, **state.backends)

    @router.get(
        "/check", response_model=Status, responses={503: {"description": "a store is down"}}
    )
    async def check(state: State) -> Any:
        """200 when the state store and the object store both answer, else 503.

        Public (a health probe), so the answer names only which store is down: the
        store's own message (URLs, bucket names) goes to the server's log.
        """
        for name, probe in (
            ("state store", state.stores.statestore.check),
            ("object store", state.stores.objectstore.check),
        ):
            try:
                await run_in_threadpool(probe)
            except AlchemiscaleLikeError as exc:
                log.warning("event=check_failed store=%r error=%s", name, log_token(exc))
                return error_response(503, "StoreUnavailable", f"the {name} is unavailable")
        return JSONResponse({"status": "ok"})

    return router


def backend_names(statestore: StateStore, objectstore: ObjectStore) -> dict[str, str]:
    """Short names of the store backends for ``/info``."""
    return {
        "statestore": type(statestore).__name__.removesuffix("StateStore").lower(),
        "objectstore": type(objectstore).__name__.removesuffix("ObjectStore").lower(),
    }


def build_app(
    *,
    kind: IdentityKind,
    title: str,
    routers: Sequence[APIRouter],
    statestore: StateStore,
    objectstore: ObjectStore,
    settings: APISettings,
    tokens: TokenSettings,
) -> FastAPI:
    """A FastAPI app serving ``routers`` plus the common routes, on the given stores."""
    app = FastAPI(title=title, version=__version__)
    app.state.alchemiscale = AppState(
        stores=Stores(statestore, objectstore, lease_seconds=settings.lease_seconds),
        settings=settings,
        tokens=tokens,
        kind=kind,
        backends=backend_names(statestore, objectstore),
    )
    install_error_handlers(app)
    app.add_middleware(RefuseControlCharacters)
    app.add_middleware(LimitFormBodies, idle_timeout=settings.body_idle_timeout)
    app.include_router(_common_router())
    for router in routers:
        app.include_router(router)
    return app
