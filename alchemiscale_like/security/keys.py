"""Hashing and checking identity keys (argon2id: memory-hard, salted, self-describing).

argon2-cffi does the work: a well-kept binding of the reference implementation,
so we store its encoded hashes (parameters and salt included) and never a key.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from alchemiscale_like.errors import ValidationError

#: argon2id with argon2-cffi's defaults (RFC 9106's low-memory profile: 3 passes, 64 MiB).
PRODUCTION_HASHER = PasswordHasher()
_HASHER = PRODUCTION_HASHER
MIN_KEY_LENGTH = 16


def generate_key() -> str:
    """A new random key (43 URL-safe characters, 256 bits)."""
    return secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The argon2id hash of ``key`` to store in place of the key."""
    if not isinstance(key, str) or len(key) < MIN_KEY_LENGTH:
        raise ValidationError(f"keys must be strings of at least {MIN_KEY_LENGTH} characters")
    return _HASHER.hash(key)


def verify_key(key: str, hashed: str) -> bool:
    """True if ``key`` matches ``hashed``; False for a wrong key or a malformed hash."""
    try:
        return _HASHER.verify(hashed, key)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(hashed: str) -> bool:
    """True if ``hashed`` used weaker parameters than today's defaults."""
    return _HASHER.check_needs_rehash(hashed)
