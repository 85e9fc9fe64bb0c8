"""Credentialed identities: checking a login, and the admin operations the CLI offers.

:func:`authenticate` is what ``/token`` calls. It answers an unknown identifier and a
wrong key with the same message, and spends the same argon2 work on both (a dummy
hash stands in for a missing identity), so neither the answer nor its timing tells
an attacker which identifiers exist. Disabled and expired identities are refused only
after their key checked out, for the same reason.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Iterable

from alchemiscale_like.errors import AuthenticationFailed, NotFound, ValidationError
from alchemiscale_like.models.patterns import check_identifier
from alchemiscale_like.security.identity import IdentityKind
from alchemiscale_like.security.keys import generate_key, hash_key, verify_key
from alchemiscale_like.security.scopes import parse_scopes
from alchemiscale_like.storage.statestore.base import IdentityStore
from alchemiscale_like.storage.statestore.records import IdentityRecord

log = logging.getLogger(__name__)

#: Longer keys are refused before hashing: argon2 work must not be the caller's to choose.
MAX_KEY_LENGTH = 1024

__all__ = [
    "MAX_KEY_LENGTH",
    "add_identity",
    "add_scopes",
    "authenticate",
    "ensure_active",
    "list_identities",
    "remove_identity",
    "remove_scopes",
    "set_disabled",
]


@functools.cache
def _dummy_hash() -> str:
    """A hash made like every real one (same parameters), of a key nobody knows."""
    return hash_key(generate_key())


def _now(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise ValidationError("'now' must be a timezone-aware datetime")
    return now


def _aware(moment: dt.datetime) -> dt.datetime:
    # Stored times are UTC; a backend that drops the zone must not make them incomparable.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _canonical(scopes: Iterable[str]) -> list[str]:
    if isinstance(scopes, str):
        raise ValidationError("scopes must be a collection of scope strings, not one string")
    return sorted({str(scope) for scope in parse_scopes(scopes)})


def _find(statestore: IdentityStore, kind: IdentityKind, identifier: str) -> IdentityRecord | None:
    try:
        check_identifier(identifier)
    except ValidationError:
        return None  # no identity can have this identifier
    try:
        return statestore.get_identity(kind, identifier)
    except NotFound:
        return None


def authenticate(
    statestore: IdentityStore,
    kind: IdentityKind | str,
    identifier: str,
    key: str,
    *,
    now: dt.datetime | None = None,
) -> IdentityRecord:
    """The identity of ``kind`` named ``identifier`` if ``key`` is its key and it may log in.

    Raises:
        AuthenticationFailed: unknown identifier or wrong key (one message for both),
            or the identity is disabled or past its expiry.
        ValidationError: ``kind`` is not ``user`` or ``compute``.
        StoreUnavailable: the state store cannot be reached.
    """
    kind = IdentityKind.parse(kind)
    moment = _now(now)
    wrong = AuthenticationFailed(f"wrong identifier or key for a {kind.value} identity")
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        log.info("event=authentication_refused kind=%s reason=malformed_key", kind.value)
        raise wrong
    record = _find(statestore, kind, identifier)
    if record is None:
        verify_key(key, _dummy_hash())
        log.info("event=authentication_refused kind=%s reason=unknown_identifier", kind.value)
        raise wrong
    if not verify_key(key, record.hashed_key):
        log.info(
            "event=authentication_refused kind=%s identifier=%s reason=wrong_key",
            kind.value,
            record.identifier,
        )
        raise wrong
    return ensure_active(record, now=moment)


def ensure_active(record: IdentityRecord, *, now: dt.datetime | None = None) -> IdentityRecord:
    """Return ``record`` if it may be used now: not disabled, not past its expiry.

    The one definition of "active", for logins and for re-checking the identity behind
    a token that is still valid.

    Raises:
        AuthenticationFailed: the identity is disabled or has expired.
    """
    moment = _now(now)
    kind = IdentityKind.parse(record.kind)
    if record.disabled:
        log.info(
            "event=authentication_refused kind=%s identifier=%s reason=disabled",
            kind.value,
            record.identifier,
        )
        raise AuthenticationFailed(f"{kind.value} identity {record.identifier!r} is disabled")
    if record.expires is not None and _aware(record.expires) <= moment:
        log.info(
            "event=authentication_refused kind=%s identifier=%s reason=expired",
            kind.value,
            record.identifier,
        )
        raise AuthenticationFailed(
            f"{kind.value} identity {record.identifier!r} expired at "
            f"{_aware(record.expires).isoformat()}"
        )
    return record


def add_identity(
    statestore: IdentityStore,
    kind: IdentityKind | str,
    identifier: str,
    key: str,
    scopes: Iterable[str],
    expires: dt.datetime | None = None,
    *,
    now: dt.datetime | None = None,
) -> IdentityRecord:
    """Create an identity whose key is stored argon2id-hashed; returns the stored record.

    Args:
        expires: when the identity stops being able to log in (aware, in the future).
        now: the current time, for checking ``expires`` (default: the clock).

    Raises:
        ValidationError: a bad kind, identifier, key (16 to 1024 characters) or expiry.
        InvalidScope: a scope string breaks the scope rules.
        AlreadyExists: the identifier is taken for that kind.
    """
    kind = IdentityKind.parse(kind)
    check_identifier(identifier)
    canonical = _canonical(scopes)
    if expires is not None:
        if expires.tzinfo is None:
            raise ValidationError("expires must be a timezone-aware datetime")
        if expires <= _now(now):
            raise ValidationError(f"expires ({expires.isoformat()}) is not in the future")
    if isinstance(key, str) and len(key) > MAX_KEY_LENGTH:
        raise ValidationError(f"keys must be at most {MAX_KEY_LENGTH} characters")
    record = IdentityRecord(
        kind=kind,
        identifier=identifier,
        hashed_key=hash_key(key),
        scopes=tuple(canonical),
        expires=expires,
    )
    statestore.add_identity(record)
    log.info("event=identity_added kind=%s identifier=%s", kind.value, identifier)
    return statestore.get_identity(kind, identifier)


def list_identities(statestore: IdentityStore, kind: IdentityKind | str) -> list[IdentityRecord]:
    """Every identity of ``kind``, ordered by identifier."""
    return statestore.list_identities(IdentityKind.parse(kind))


def remove_identity(statestore: IdentityStore, kind: IdentityKind | str, identifier: str) -> None:
    """Delete an identity.

    Raises:
        NotFound: there is no such identity.
    """
    kind = IdentityKind.parse(kind)
    statestore.remove_identity(kind, check_identifier(identifier))
    log.info("event=identity_removed kind=%s identifier=%s", kind.value, identifier)


def add_scopes(
    statestore: IdentityStore, kind: IdentityKind | str, identifier: str, scopes: Iterable[str]
) -> IdentityRecord:
    """Grant ``scopes`` (those already held are kept once); returns the updated record.

    Raises:
        InvalidScope: a scope string breaks the scope rules (nothing changed).
        ValidationError: no scope given.
        NotFound: there is no such identity.
    """
    kind = IdentityKind.parse(kind)
    added = _canonical(scopes)
    if not added:
        raise ValidationError("give at least one scope to add")
    current = statestore.get_identity(kind, check_identifier(identifier))
    updated = statestore.update_identity(
        kind, identifier, scopes=sorted(set(current.scopes) | set(added))
    )
    log.info("event=identity_scopes_added kind=%s identifier=%s", kind.value, identifier)
    return updated


def remove_scopes(
    statestore: IdentityStore, kind: IdentityKind | str, identifier: str, scopes: Iterable[str]
) -> IdentityRecord:
    """Withdraw ``scopes``; returns the updated record.

    Raises:
        InvalidScope: a scope string breaks the scope rules (nothing changed).
        ValidationError: no scope given, or the identity does not hold one of them
            (nothing changed).
        NotFound: there is no such identity.
    """
    kind = IdentityKind.parse(kind)
    removed = _canonical(scopes)
    if not removed:
        raise ValidationError("give at least one scope to remove")
    current = statestore.get_identity(kind, check_identifier(identifier))
    missing = sorted(set(removed) - set(current.scopes))
    if missing:
        raise ValidationError(
            f"{kind.value} identity {identifier!r} does not hold {', '.join(missing)}"
        )
    updated = statestore.update_identity(
        kind, identifier, scopes=sorted(set(current.scopes) - set(removed))
    )
    log.info("event=identity_scopes_removed kind=%s identifier=%s", kind.value, identifier)
    return updated


def set_disabled(
    statestore: IdentityStore, kind: IdentityKind | str, identifier: str, disabled: bool
) -> IdentityRecord:
    """Disable (refuse every login) or re-enable an identity; returns the updated record.

    Raises:
        NotFound: there is no such identity.
    """
    kind = IdentityKind.parse(kind)
    if not isinstance(disabled, bool):
        raise ValidationError("disabled must be True or False")
    updated = statestore.update_identity(kind, check_identifier(identifier), disabled=disabled)
    log.info(
        "event=identity_disabled_set kind=%s identifier=%s disabled=%s",
        kind.value,
        identifier,
        disabled,
    )
    return updated
