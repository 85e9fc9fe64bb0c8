"""The dashboard's login session: a JWT in an HttpOnly, SameSite=Strict cookie, and CSRF tokens.

The session cookie holds the same short-lived access token ``POST /token`` issues, so
every check of the JSON API (signature, expiry, identity still enabled, scopes)
applies unchanged. It is scoped to the dashboard's path, so the JSON API never
accepts it (that API takes bearer tokens only). A token past half its lifetime is
renewed on the next page, so an active user stays logged in.

Every write (a form POST) carries a CSRF token:

- after login, an HMAC of the identity and a random session id that login puts in a
  second HttpOnly cookie (nothing to store server-side; it survives the token's
  renewals, so a page's forms stay valid while its tables refresh, and it differs
  between two logins of one identity);
- for the login form itself, a random value that must match a third HttpOnly
  cookie set with the form (double submit).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response

from alchemiscale_like.errors import AuthenticationFailed, Forbidden
from alchemiscale_like.security.tokens import create_access_token
from alchemiscale_like.server.auth import AppState, Identity, verified_identity

SESSION_COOKIE = "alchemiscale_like_session"
SESSION_ID_COOKIE = "alchemiscale_like_session_id"
LOGIN_CSRF_COOKIE = "alchemiscale_like_login_csrf"
#: The shape of every CSRF token and session id this module issues.
CSRF_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")


class LoginRequired(AuthenticationFailed):
    """No valid session: the dashboard sends the browser to its login page."""


class CSRFRejected(Forbidden):
    """A write without the right CSRF token (refused with 403, nothing changed)."""


@dataclass(frozen=True)
class Session:
    """A logged-in dashboard user: the identity, its token and the session's CSRF value."""

    identity: Identity
    token: str
    csrf: str
    renewed: str | None = None  # a fresh token to set on the response, if renewed


def base_path(request: Request) -> str:
    """The dashboard's URL prefix (``/ui``, behind any proxy prefix)."""
    return str(request.scope.get("root_path", "")).rstrip("/")


def csrf_for(state: AppState, identifier: str, session_id: str) -> str:
    """The CSRF token of ``identifier``'s session ``session_id``."""
    key = state.tokens.secret_key.get_secret_value().encode()
    message = b"ui-csrf\x00" + identifier.encode() + b"\x00" + session_id.encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def new_session_id() -> str:
    """A fresh random session id (one per login)."""
    return secrets.token_urlsafe(32)


def _check_submitted(expected: str | None, submitted: str | None) -> None:
    if (
        not expected
        or not submitted
        or CSRF_PATTERN.fullmatch(submitted) is None
        or not hmac.compare_digest(expected, submitted)
    ):
        raise CSRFRejected("the form's CSRF token is missing or wrong: reload the page")


def check_csrf(session: Session, submitted: str | None) -> None:
    """Refuse a logged-in write whose CSRF token is not the session's.

    Raises:
        CSRFRejected: the token is missing or wrong.
    """
    _check_submitted(session.csrf, submitted)


def new_login_csrf() -> str:
    """A fresh random CSRF value for the login form."""
    return secrets.token_urlsafe(32)


def check_login_csrf(request: Request, submitted: str | None) -> None:
    """Refuse a login whose form token does not match its cookie.

    Raises:
        CSRFRejected: the token or the cookie is missing, or they differ.
    """
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    if cookie is not None and CSRF_PATTERN.fullmatch(cookie) is None:
        cookie = None
    _check_submitted(cookie, submitted)


async def current_session(request: Request, state: AppState) -> Session:
    """The session of the request's cookie, renewed when past half its lifetime.

    Raises:
        LoginRequired: no cookie, or a token that is invalid, expired or whose identity
            was disabled or removed.
    """
    token = request.cookies.get(SESSION_COOKIE)
    session_id = request.cookies.get(SESSION_ID_COOKIE)
    if not token or not session_id or CSRF_PATTERN.fullmatch(session_id) is None:
        raise LoginRequired("please log in")
    try:
        identity = await verified_identity(state, token)
    except (AuthenticationFailed, Forbidden) as exc:
        raise LoginRequired(f"please log in again ({exc})") from exc
    renewed = None
    claims = identity.claims
    if time.time() > claims.iat + (claims.exp - claims.iat) / 2:
        renewed = issue_token(state, identity.identifier, identity.claims.scopes)
        token = renewed
    csrf = csrf_for(state, identity.identifier, session_id)
    return Session(identity=identity, token=token, csrf=csrf, renewed=renewed)


def issue_token(state: AppState, identifier: str, scopes: tuple[str, ...] | list[str]) -> str:
    """A new session token for ``identifier`` with ``scopes``."""
    return create_access_token(
        state.kind,
        identifier,
        list(scopes),
        secret=state.tokens.secret_key,
        lifetime_seconds=state.tokens.expire_seconds,
    )


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def set_session_cookie(response: Response, request: Request, state: AppState, token: str) -> None:
    """Put ``token`` in the HttpOnly, SameSite=Strict session cookie (Secure over HTTPS)."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=state.tokens.expire_seconds,
        path=base_path(request) or "/",
        secure=_secure(request),
        httponly=True,
        samesite="strict",
    )


def set_session_id_cookie(response: Response, request: Request, session_id: str) -> None:
    """Put the login's session id in its HttpOnly, SameSite=Strict cookie (until the
    browser closes: the session token's expiry decides how long the session lasts)."""
    response.set_cookie(
        SESSION_ID_COOKIE,
        session_id,
        path=base_path(request) or "/",
        secure=_secure(request),
        httponly=True,
        samesite="strict",
    )


def set_login_csrf_cookie(response: Response, request: Request, value: str) -> None:
    """Put the login form's CSRF value in its own HttpOnly, SameSite=Strict cookie."""
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        value,
        max_age=3600,
        path=base_path(request) or "/",
        secure=_secure(request),
        httponly=True,
        samesite="strict",
    )


def clear_cookies(response: Response, request: Request) -> None:
    """Log out: delete every cookie of the dashboard."""
    for name in (SESSION_COOKIE, SESSION_ID_COOKIE, LOGIN_CSRF_COOKIE):
        response.delete_cookie(
            name,
            path=base_path(request) or "/",
            secure=_secure(request),
            httponly=True,
            samesite="strict",
        )
