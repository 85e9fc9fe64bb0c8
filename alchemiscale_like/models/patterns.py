"""The shapes of identifiers that arrive from outside: one definition each.

Every check uses :func:`re.fullmatch`. ``re.match`` with ``^...$`` is not the
same: ``$`` also matches just before a final newline, so ``"org\\n"`` would pass.
"""

from __future__ import annotations

import re

from alchemiscale_like.errors import ValidationError

#: A gufe key: ``{ClassName}-{32 lowercase hex digits}``.
KEY_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*-[0-9a-f]{32}")
#: One field of a scope (``org``, ``campaign`` or ``project``) that is not a wildcard.
SCOPE_FIELD_PATTERN = re.compile(r"[A-Za-z0-9_]+")
#: A hex sha256 digest, lowercase.
SHA256_PATTERN = re.compile(r"[0-9a-f]{64}")
#: The same, for pydantic ``Field(pattern=...)``. pydantic matches patterns with Rust's regex
#: engine, where ``$`` is the very end of the text (no final-newline exception), and the
#: pattern also lands in the OpenAPI schema, where ``^...$`` is what JSON Schema tools expect.
SHA256_FIELD_PATTERN = r"^[0-9a-f]{64}$"
#: An identity's identifier (user name or compute service name): a letter or digit first,
#: then letters, digits and ``._@-``, at most 128 characters.
IDENTIFIER_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}")


def is_key(text: object) -> bool:
    """True if ``text`` is a string shaped like a gufe key."""
    return isinstance(text, str) and KEY_PATTERN.fullmatch(text) is not None


def is_scope_field(text: object) -> bool:
    """True if ``text`` is a non-wildcard scope field."""
    return isinstance(text, str) and SCOPE_FIELD_PATTERN.fullmatch(text) is not None


def is_sha256(text: object) -> bool:
    """True if ``text`` is a lowercase hex sha256 digest."""
    return isinstance(text, str) and SHA256_PATTERN.fullmatch(text) is not None


def check_key(key: object, what: str = "key") -> str:
    """Return ``key`` if it looks like ``ClassName-<32 hex>``, else raise ``ValidationError``."""
    if not is_key(key):
        raise ValidationError(f"{what} {key!r} must look like 'ClassName-<32 hex digits>'")
    assert isinstance(key, str)
    return key


def check_identifier(identifier: object) -> str:
    """Return ``identifier`` if it is a valid identity identifier, else ``ValidationError``."""
    if not isinstance(identifier, str) or IDENTIFIER_PATTERN.fullmatch(identifier) is None:
        raise ValidationError(
            f"identifier {identifier!r} must be 1-128 letters, digits or '._@-', "
            "starting with a letter or digit"
        )
    return identifier
