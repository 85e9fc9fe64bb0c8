"""Short-lived access tokens (JWT, HS256 only) carrying an identity and its scopes.

The user API and the compute API each issue tokens at ``/token`` and accept only their
own kind: :func:`decode_access_token` refuses a token of the other kind with
:class:`~alchemiscale_like.errors.Forbidden` (403). Everything else that is wrong with a
token (expired, forged, another algorithm, ``alg: none``, malformed, missing claims)
raises :class:`~alchemiscale_like.errors.AuthenticationFailed` (401). Error messages
never contain the token.

Claims: ``sub`` (identifier), ``kind`` (``user`` or ``compute``), ``scopes`` (canonical
scope strings), ``iat`` and ``exp`` (JWT NumericDates: whole seconds since the epoch,
UTC, kept as ``int`` so comparisons are exact).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from typing import Any, Self

import jwt
import pydantic
from pydantic import BaseModel, ConfigDict, Field, SecretStr, StrictInt, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from alchemiscale_like.errors import AuthenticationFailed, Forbidden, ValidationError
from alchemiscale_like.models.patterns import check_identifier
from alchemiscale_like.models.scope import Scope
from alchemiscale_like.security.identity import IdentityKind
from alchemiscale_like.security.scopes import parse_scopes

__all__ = [
    "ALGORITHM",
    "MAX_TOKEN_LENGTH",
    "MIN_SECRET_BYTES",
    "TokenClaims",
    "TokenSettings",
    "create_access_token",
    "decode_access_token",
    "load_token_settings",
]

#: The one algorithm we sign with and accept. Fixed here, never read from a token
#: (RFC 8725 section 2.1: an attacker must not choose the algorithm).
ALGORITHM = "HS256"
#: RFC 7518 section 3.2: an HS256 key must be at least as long as the hash (32 bytes).
MIN_SECRET_BYTES = 32
#: Our tokens are a few hundred bytes; anything far longer is refused before parsing.
MAX_TOKEN_LENGTH = 16_384
#: Tolerated clock difference for ``iat`` between the server that issued a token and
#: the one checking it. Expiry gets no leeway: clients refresh before ``exp``.
CLOCK_SKEW_SECONDS = 30
_REQUIRED_CLAIMS = ["sub", "kind", "scopes", "iat", "exp"]
_SECRET_VAR = "ALCHEMISCALE_LIKE_JWT_SECRET_KEY"  # noqa: S105 (a variable name, not a secret)


class TokenSettings(BaseSettings):
    """How access tokens are signed.

    Environment variables: ``ALCHEMISCALE_LIKE_JWT_SECRET_KEY`` (required, at least 32
    bytes; e.g. ``python -c 'import secrets; print(secrets.token_urlsafe(32))'``) and
    ``ALCHEMISCALE_LIKE_JWT_EXPIRE_SECONDS`` (default 1800).
    """

    # The secret must never appear in an error message.
    model_config = SettingsConfigDict(
        env_prefix="ALCHEMISCALE_LIKE_JWT_",
        extra="ignore",
        hide_input_in_errors=True,
        use_attribute_docstrings=True,
    )

    secret_key: SecretStr
    """HMAC key shared by every process of one API that issues or checks its tokens."""
    expire_seconds: int = Field(default=1800, gt=0)
    """Lifetime of an access token, in seconds."""

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        _check_secret(value)
        return value


def load_token_settings(**overrides: Any) -> TokenSettings:
    """Token settings from the environment (``overrides`` win), with a clear error.

    Raises:
        ValidationError: the secret is missing or too short, or a value is invalid.
    """
    try:
        return TokenSettings(**overrides)
    except pydantic.ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            if field == "secret_key" and error["type"] == "missing":
                problems.append(f"{_SECRET_VAR} must be set (at least {MIN_SECRET_BYTES} bytes)")
            else:
                message = str(error["msg"]).removeprefix("Value error, ")
                problems.append(f"ALCHEMISCALE_LIKE_JWT_{field.upper()}: {message}")
        raise ValidationError("invalid token settings: " + "; ".join(problems)) from exc


class TokenClaims(BaseModel):
    """The verified claims of an access token."""

    # Claims we do not know are ignored: only we can sign, so they came from a newer
    # version of this project sharing the secret, not from an attacker.
    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)

    sub: str
    """The identity's identifier."""
    kind: IdentityKind
    """Which API the token is for."""
    scopes: tuple[str, ...]
    """The identity's scopes when the token was issued, canonical strings."""
    iat: StrictInt
    """Issued at, seconds since the epoch (UTC)."""
    exp: StrictInt
    """Expires at (refused from this second on), seconds since the epoch (UTC)."""

    @field_validator("sub")
    @classmethod
    def _identifier(cls, value: str) -> str:
        return check_identifier(value)

    @field_validator("scopes")
    @classmethod
    def _canonical_scopes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(str(scope) for scope in parse_scopes(value))

    @property
    def identifier(self) -> str:
        """The identity's identifier (``sub``)."""
        return self.sub

    @property
    def scope_list(self) -> list[Scope]:
        """The scopes as :class:`Scope` objects, for :mod:`alchemiscale_like.security.scopes`."""
        return parse_scopes(self.scopes)

    @property
    def expires_at(self) -> dt.datetime:
        """``exp`` as an aware UTC datetime."""
        return dt.datetime.fromtimestamp(self.exp, dt.UTC)

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Self:
        """Validate a decoded payload (``AuthenticationFailed`` if a claim is wrong)."""
        try:
            return cls.model_validate(payload)
        except pydantic.ValidationError as exc:
            fields = sorted({str(error["loc"][0]) for error in exc.errors() if error["loc"]})
            raise AuthenticationFailed(
                f"access token has invalid claims: {', '.join(fields) or 'payload'}"
            ) from exc


def _check_secret(secret: SecretStr | str) -> bytes:
    raw = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    if not isinstance(raw, str):
        raise ValidationError("the token secret must be a string")
    encoded = raw.encode("utf-8")
    if len(encoded) < MIN_SECRET_BYTES:
        raise ValidationError(
            f"the token secret must be at least {MIN_SECRET_BYTES} bytes long (set {_SECRET_VAR})"
        )
    return encoded


def _timestamp(now: dt.datetime | None) -> int:
    if now is None:
        now = dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise ValidationError("'now' must be a timezone-aware datetime")
    return math.floor(now.timestamp())


def create_access_token(
    kind: IdentityKind | str,
    identifier: str,
    scopes: Iterable[str | Scope],
    *,
    secret: SecretStr | str,
    lifetime_seconds: int,
    now: dt.datetime | None = None,
) -> str:
    """A signed access token for ``identifier`` of ``kind`` with ``scopes``.

    Args:
        kind: ``user`` or ``compute``: the API the token is for.
        identifier: the identity's identifier.
        scopes: an iterable of scope strings or :class:`Scope` objects.
        secret: the HMAC key (at least 32 bytes).
        lifetime_seconds: seconds until the token expires (> 0).
        now: the issue time (aware; default: the current time).

    Raises:
        ValidationError: a bad argument (kind, identifier, scope, lifetime, secret).
    """
    key = _check_secret(secret)
    kind = IdentityKind.parse(kind)
    check_identifier(identifier)
    if isinstance(scopes, str | Scope):
        raise ValidationError("scopes must be a collection of scopes, not a single one")
    canonical = sorted({str(scope) for scope in parse_scopes(str(scope) for scope in scopes)})
    if isinstance(lifetime_seconds, bool) or not isinstance(lifetime_seconds, int):
        raise ValidationError("lifetime_seconds must be an integer")
    if lifetime_seconds <= 0:
        raise ValidationError("lifetime_seconds must be positive")
    issued = _timestamp(now)
    payload = {
        "sub": identifier,
        "kind": kind.value,
        "scopes": canonical,
        "iat": issued,
        "exp": issued + lifetime_seconds,
    }
    return jwt.encode(payload, key, algorithm=ALGORITHM)


def decode_access_token(
    token: str,
    *,
    secret: SecretStr | str,
    expected_kind: IdentityKind | str,
    now: dt.datetime | None = None,
) -> TokenClaims:
    """Verify ``token`` and return its claims.

    Args:
        token: the compact JWT (no ``Bearer`` prefix).
        secret: the HMAC key it must be signed with.
        expected_kind: the kind of identity this API serves.
        now: the time to check expiry against (aware; default: the current time).

    Raises:
        AuthenticationFailed: the token is malformed, not signed with ``secret`` using
            HS256, lacks a claim, has an invalid claim, has expired or is issued in
            the future.
        Forbidden: the token is valid but for the other kind of identity.
        ValidationError: a bad ``secret``, ``expected_kind`` or ``now`` (server bug).
    """
    key = _check_secret(secret)
    expected = IdentityKind.parse(expected_kind)
    at = _timestamp(now)
    if not isinstance(token, str) or not token:
        raise AuthenticationFailed("access token is missing")
    if len(token) > MAX_TOKEN_LENGTH:
        raise AuthenticationFailed("access token is malformed (too long)")
    try:
        payload = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            # Times are checked below against ``now``; pyjwt would use its own clock.
            options={
                "require": _REQUIRED_CLAIMS,
                "verify_signature": True,
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.MissingRequiredClaimError as exc:
        raise AuthenticationFailed(f"access token lacks the {exc.claim!r} claim") from exc
    except jwt.InvalidAlgorithmError as exc:
        raise AuthenticationFailed(
            f"access token is not signed with the accepted algorithm ({ALGORITHM})"
        ) from exc
    except jwt.InvalidSignatureError as exc:
        raise AuthenticationFailed("access token signature is invalid") from exc
    except jwt.DecodeError as exc:
        raise AuthenticationFailed("access token is malformed") from exc
    except jwt.PyJWTError as exc:
        raise AuthenticationFailed("access token is invalid") from exc
    claims = TokenClaims.from_payload(payload)
    if claims.exp <= at:
        raise AuthenticationFailed("access token has expired; request a new one")
    if claims.iat > at + CLOCK_SKEW_SECONDS:
        raise AuthenticationFailed("access token is issued in the future")
    if claims.kind != expected:
        raise Forbidden(f"a {claims.kind.value} token cannot be used on the {expected.value} API")
    return claims
