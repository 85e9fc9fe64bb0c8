"""Access tokens: what is accepted, and every way a bad token is refused."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from typing import Any

import jwt
import pytest
from pydantic import SecretStr

from alchemiscale_like.errors import AuthenticationFailed, Forbidden, ValidationError
from alchemiscale_like.models.scope import Scope
from alchemiscale_like.security.identity import IdentityKind
from alchemiscale_like.security.tokens import (
    CLOCK_SKEW_SECONDS,
    MAX_TOKEN_LENGTH,
    TokenSettings,
    create_access_token,
    decode_access_token,
    load_token_settings,
)

SECRET = "test-secret-0123456789abcdef0123456789"
OTHER_SECRET = "another-secret-0123456789abcdef01234567"
NOW = dt.datetime(2026, 11, 1, 12, 0, tzinfo=dt.UTC)
LIFETIME = 600


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64json(value: Any) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


def claims(**changes: Any) -> dict[str, Any]:
    """A valid payload issued at NOW; ``None`` values remove the claim."""
    issued = int(NOW.timestamp())
    payload: dict[str, Any] = {
        "sub": "alice",
        "kind": "user",
        "scopes": ["o-c-p"],
        "iat": issued,
        "exp": issued + LIFETIME,
    }
    payload.update(changes)
    return {k: v for k, v in payload.items() if v is not None}


def signed(payload: dict[str, Any], header: dict[str, Any], secret: str = SECRET) -> str:
    """A token with any header, HMAC-SHA256-signed by hand (pyjwt would refuse odd headers)."""
    signing_input = f"{b64json(header)}.{b64json(payload)}"
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def token(kind: str = "user", **kw: Any) -> str:
    args: dict[str, Any] = {"secret": SECRET, "lifetime_seconds": LIFETIME, "now": NOW}
    args.update(kw)
    return create_access_token(kind, "alice", ["o-c-p", "o-*-*", "o-c-p"], **args)


def decode(value: str, kind: str = "user", **kw: Any):
    args: dict[str, Any] = {"secret": SECRET, "expected_kind": kind, "now": NOW}
    args.update(kw)
    return decode_access_token(value, **args)


def refused(value: Any, match: str, **kw: Any) -> str:
    """Assert the token is refused with 401; return the message (which must not echo it)."""
    with pytest.raises(AuthenticationFailed, match=match) as info:
        decode(value, **kw)
    message = str(info.value)
    if isinstance(value, str) and value:
        for segment in value.split("."):
            assert len(segment) < 8 or segment not in message, "the message echoes the token"
    return message


def test_round_trip_carries_identity_scopes_and_times():
    got = decode(token(), now=NOW + dt.timedelta(seconds=1))
    assert got.sub == got.identifier == "alice"
    assert got.kind is IdentityKind.USER
    assert got.scopes == ("o-*-*", "o-c-p"), "canonical, sorted, deduplicated"
    assert got.scope_list == [Scope.from_str("o-*-*"), Scope.from_str("o-c-p")]
    assert got.iat == int(NOW.timestamp())
    assert got.exp == got.iat + LIFETIME
    assert got.expires_at == NOW + dt.timedelta(seconds=LIFETIME)


def test_compute_tokens_work_on_the_compute_api():
    got = decode(token("compute"), kind=IdentityKind.COMPUTE)
    assert got.kind is IdentityKind.COMPUTE


def test_default_clock_accepts_a_fresh_token():
    fresh = create_access_token(
        IdentityKind.USER, "alice", [Scope.from_str("o-c-p")], secret=SECRET, lifetime_seconds=1800
    )
    assert decode_access_token(fresh, secret=SecretStr(SECRET), expected_kind="user").sub == "alice"


def test_token_expires_at_exp_exactly():
    value = token()
    assert decode(value, now=NOW + dt.timedelta(seconds=LIFETIME - 1)).sub == "alice"
    refused(value, "expired", now=NOW + dt.timedelta(seconds=LIFETIME))
    refused(value, "expired", now=NOW + dt.timedelta(days=3))


def test_default_clock_refuses_an_old_token():
    old = create_access_token(
        "user",
        "alice",
        ["o-c-p"],
        secret=SECRET,
        lifetime_seconds=60,
        now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2),
    )
    with pytest.raises(AuthenticationFailed, match="expired"):
        decode_access_token(old, secret=SECRET, expected_kind="user")


def test_token_issued_in_the_future_is_refused():
    value = token(now=NOW + dt.timedelta(seconds=CLOCK_SKEW_SECONDS + 1))
    refused(value, "future")
    skewed = token(now=NOW + dt.timedelta(seconds=CLOCK_SKEW_SECONDS))
    assert decode(skewed).sub == "alice", "small clock differences are tolerated"


def test_token_signed_with_another_secret_is_refused():
    refused(token(secret=OTHER_SECRET), "signature is invalid")
    refused(signed(claims(), {"alg": "HS256", "typ": "JWT"}, OTHER_SECRET), "signature")


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", ""])
def test_unsigned_alg_none_token_is_refused(alg):
    forged = f"{b64json({'alg': alg, 'typ': 'JWT'})}.{b64json(claims())}."
    refused(forged, r"not signed with the accepted algorithm \(HS256\)")


def test_header_without_alg_is_refused():
    forged = signed(claims(), {"typ": "JWT"})
    refused(forged, "algorithm")


def test_hs512_token_with_the_right_secret_is_refused():
    long_secret = SECRET * 2  # HS512 wants 64 bytes
    other_alg = jwt.encode(claims(), long_secret, algorithm="HS512")
    assert jwt.decode(other_alg, long_secret, algorithms=["HS512"], options={"verify_exp": False})
    refused(other_alg, "HS256", secret=long_secret)


@pytest.mark.parametrize("alg", ["RS256", "ES256", "PS256", "HS384", "EdDSA"])
def test_alg_switch_is_refused_even_with_a_valid_hmac(alg):
    # The classic confusion attack: an HMAC made with the shared secret, header claiming
    # another algorithm. Only the fixed algorithm list decides, never the header.
    refused(signed(claims(), {"alg": alg, "typ": "JWT"}), "HS256")


@pytest.mark.parametrize("claim", ["sub", "kind", "scopes", "iat", "exp"])
def test_token_missing_a_claim_is_refused(claim):
    value = jwt.encode(claims(**{claim: None}), SECRET, algorithm="HS256")
    message = refused(value, claim)
    assert "lacks" in message


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"kind": "admin"}, "invalid claims: kind"),
        ({"sub": "bad identifier!"}, "invalid claims: sub"),
        ({"sub": "alice\n"}, "invalid claims: sub"),
        ({"sub": 5}, "is invalid"),  # pyjwt itself insists on a string subject
        ({"scopes": "o-c-p"}, "invalid claims: scopes"),
        ({"scopes": ["*-c-p"]}, "invalid claims: scopes"),
        ({"scopes": [5]}, "invalid claims: scopes"),
        ({"iat": "1793534400"}, "invalid claims: iat"),
        ({"exp": 1.5e9}, "invalid claims: exp"),
        ({"exp": "never"}, "invalid claims: exp"),
    ],
)
def test_signed_token_with_invalid_claims_is_refused(changes, problem):
    value = jwt.encode(claims(**changes), SECRET, algorithm="HS256")
    refused(value, problem)


def test_tampered_payload_is_refused():
    header, _, signature = token().split(".")
    wider = b64json(claims(scopes=["*-*-*"]))
    refused(f"{header}.{wider}.{signature}", "signature is invalid")
    later = b64json(claims(exp=int(NOW.timestamp()) + 10 * LIFETIME))
    refused(f"{header}.{later}.{signature}", "signature is invalid")


def test_tampered_kind_is_refused_before_the_kind_check():
    header, _, signature = token().split(".")
    refused(f"{header}.{b64json(claims(kind='compute'))}.{signature}", "signature", kind="compute")


@pytest.mark.parametrize(
    ("expected", "other"), [(IdentityKind.COMPUTE, "user"), (IdentityKind.USER, "compute")]
)
def test_token_of_the_other_kind_is_forbidden(expected, other):
    with pytest.raises(Forbidden, match=f"{other} token cannot be used on the {expected} API"):
        decode(token(other), kind=expected)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "missing"),
        (None, "missing"),
        (b"bytes.are.not.tokens", "missing"),
        ("abc", "malformed"),
        ("a.b", "malformed"),
        ("a.b.c", "malformed"),
        ("...", "malformed"),
        ("a.b.c.d", "malformed"),
        ("Bearer x.y.z", "malformed"),
        ("!!!.???.***", "malformed"),
        ("x" * (MAX_TOKEN_LENGTH + 1), r"malformed \(too long\)"),
    ],
)
def test_malformed_tokens_are_refused(value, problem):
    refused(value, f"^access token is {problem}")


def test_bearer_prefix_and_extra_segments_are_refused():
    value = token()
    refused(f"Bearer {value}", "malformed")
    refused(f"{value}.extra", "malformed")
    refused(value + "x", "signature is invalid")


def test_unknown_extra_claims_are_ignored_when_signed():
    value = jwt.encode(claims(jti="abc", nbf=0), SECRET, algorithm="HS256")
    assert decode(value).sub == "alice"


@pytest.mark.parametrize(
    "kw",
    [
        {"lifetime_seconds": 0},
        {"lifetime_seconds": -5},
        {"lifetime_seconds": True},
        {"lifetime_seconds": 1.5},
        {"secret": "short"},
        {"now": dt.datetime(2026, 11, 1, 12, 0)},  # naive on purpose
    ],
)
def test_create_refuses_bad_arguments(kw):
    with pytest.raises(ValidationError):
        token(**kw)


@pytest.mark.parametrize(
    ("kind", "identifier", "scopes"),
    [
        ("admin", "alice", ["o-c-p"]),
        ("user", "bad identifier!", ["o-c-p"]),
        ("user", "alice", ["*-c-p"]),
        ("user", "alice", "o-c-p"),
    ],
)
def test_create_refuses_bad_identity(kind, identifier, scopes):
    with pytest.raises(ValidationError):
        create_access_token(
            kind, identifier, scopes, secret=SECRET, lifetime_seconds=LIFETIME, now=NOW
        )


def test_decode_refuses_a_short_secret_as_a_server_error():
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        decode(token(), secret="short")


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("ALCHEMISCALE_LIKE_JWT_SECRET_KEY", SECRET)
    monkeypatch.setenv("ALCHEMISCALE_LIKE_JWT_EXPIRE_SECONDS", "60")
    settings = load_token_settings()
    assert settings.secret_key.get_secret_value() == SECRET
    assert settings.expire_seconds == 60
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings)


def test_settings_default_lifetime(monkeypatch):
    monkeypatch.delenv("ALCHEMISCALE_LIKE_JWT_EXPIRE_SECONDS", raising=False)
    assert load_token_settings(secret_key=SECRET).expire_seconds == 1800


def test_missing_secret_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("ALCHEMISCALE_LIKE_JWT_SECRET_KEY", raising=False)
    with pytest.raises(ValidationError, match="ALCHEMISCALE_LIKE_JWT_SECRET_KEY must be set"):
        load_token_settings()


def test_short_secret_is_refused_without_echoing_it(monkeypatch):
    short = "tooshort-secret-value"
    monkeypatch.setenv("ALCHEMISCALE_LIKE_JWT_SECRET_KEY", short)
    with pytest.raises(ValidationError, match="at least 32 bytes") as info:
        load_token_settings()
    assert short not in str(info.value)
    with pytest.raises(Exception) as direct:  # noqa: PT011 (pydantic's own error type)
        TokenSettings()
    assert short not in str(direct.value)


@pytest.mark.parametrize("value", ["0", "-1", "soon"])
def test_bad_lifetime_is_refused(monkeypatch, value):
    monkeypatch.setenv("ALCHEMISCALE_LIKE_JWT_EXPIRE_SECONDS", value)
    with pytest.raises(ValidationError, match="EXPIRE_SECONDS"):
        load_token_settings(secret_key=SECRET)
