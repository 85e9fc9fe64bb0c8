"""Authentication and authorization as FastAPI dependencies (one place for every route).

A route declares ``identity: Identity`` and gets the verified token claims of
the caller; :meth:`Identity.require_visible` turns a scoped key outside the
caller's scopes into a 404 (existence is not leaked) and
:meth:`Identity.require_creatable` refuses creation in a foreign scope (403).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordBearer

from alchemiscale_like.errors import AuthenticationFailed, Forbidden, NotFound
from alchemiscale_like.models.scope import Scope, ScopedKey
from alchemiscale_like.security.identity import IdentityKind
from alchemiscale_like.security.scopes import permits, visible_scopes
from alchemiscale_like.security.tokens import TokenClaims, TokenSettings, decode_access_token
from alchemiscale_like.server.settings import APISettings
from alchemiscale_like.services.identities import ensure_active
from alchemiscale_like.services.stores import Stores

_bearer = OAuth2PasswordBearer(tokenUrl="token", auto_error=False)


@dataclass
class AppState:
    """What every request of one app needs: stores, settings and the identity kind served."""

    stores: Stores
    settings: APISettings
    tokens: TokenSettings
    kind: IdentityKind
    backends: dict[str, str]
    _enabled_until: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def enabled_cached(self, claims: TokenClaims) -> bool:
        """Whether the token's identity was found active less than the cache time ago."""
        with self._lock:
            return self._enabled_until.get(claims.sub, 0.0) > time.monotonic()

    def check_still_enabled(self, claims: TokenClaims) -> None:
        """Refuse a token whose identity was disabled, removed or expired since it was issued.

        The answer is reused for ``identity_cache_seconds`` to spare the state store.
        """
        if self.enabled_cached(claims):
            return
        now = time.monotonic()
        try:
            record = self.stores.statestore.get_identity(self.kind, claims.sub)
        except NotFound:
            raise AuthenticationFailed("the token's identity no longer exists") from None
        ensure_active(record)
        with self._lock:
            self._enabled_until[claims.sub] = now + self.settings.identity_cache_seconds


async def app_state(request: Request) -> AppState:
    """The :class:`AppState` the composition root put on the app."""
    state: AppState = request.app.state.alchemiscale
    return state


State = Annotated[AppState, Depends(app_state)]


@dataclass(frozen=True)
class Identity:
    """The verified caller of a request."""

    claims: TokenClaims

    @property
    def identifier(self) -> str:
        """The identity's identifier (the token's subject)."""
        return self.claims.sub

    @property
    def scopes(self) -> list[Scope]:
        """The scopes the identity may access."""
        return self.claims.scope_list

    def can_see(self, scope: Scope) -> bool:
        """Whether objects in ``scope`` are visible to the identity."""
        return permits(self.scopes, scope)

    def require_visible(self, *keys: ScopedKey) -> None:
        """``NotFound`` (never 403: existence is not leaked) unless every key is in scope."""
        for key in keys:
            if not self.can_see(key.scope):
                raise NotFound(f"{key} not found")

    def require_creatable(self, scope: Scope) -> None:
        """``Forbidden`` unless the identity may create objects in the specific ``scope``."""
        scope.require_specific()
        if not self.can_see(scope):
            raise Forbidden(f"{self.identifier!r} may not create objects in scope {scope}")

    def query_scopes(self, requested: Scope | None) -> list[Scope]:
        """The parts of ``requested`` (everything if None) the identity may see."""
        return visible_scopes(self.scopes, requested)


async def current_identity(
    state: State, token: Annotated[str | None, Depends(_bearer)]
) -> Identity:
    """Verify the bearer token for this app's identity kind.

    Async so that a request pays no thread hop for it: only a cache miss of
    :meth:`AppState.check_still_enabled` reads the state store, in a worker thread.

    Raises:
        AuthenticationFailed: no token, or a bad, expired or forged one (401).
        Forbidden: a token of the other identity kind (403).
    """
    if not token:
        raise AuthenticationFailed("this route needs a bearer token (POST /token first)")
    return await verified_identity(state, token)


async def verified_identity(state: AppState, token: str) -> Identity:
    """The identity of ``token`` (a bearer token or the dashboard's session cookie).

    Raises:
        AuthenticationFailed: a bad, expired or forged token, or an identity that was
            disabled, removed or expired since (401).
        Forbidden: a token of the other identity kind (403).
    """
    claims = decode_access_token(token, secret=state.tokens.secret_key, expected_kind=state.kind)
    if not state.enabled_cached(claims):
        await run_in_threadpool(state.check_still_enabled, claims)
    return Identity(claims)


Caller = Annotated[Identity, Depends(current_identity)]
