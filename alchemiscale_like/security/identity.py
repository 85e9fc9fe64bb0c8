"""The two kinds of credentialed identity: users and compute services.

They live apart (separate Neo4j labels, separate APIs): a user identity cannot use
the compute API and a compute identity cannot use the user API. ``IdentityKind`` is a
``StrEnum``, so its members compare equal to the plain strings ``"user"`` and
``"compute"`` that older code and stored records use.
"""

from __future__ import annotations

from enum import StrEnum

from alchemiscale_like.errors import ValidationError


class IdentityKind(StrEnum):
    """Which API an identity may use."""

    USER = "user"
    COMPUTE = "compute"

    @classmethod
    def parse(cls, value: object) -> IdentityKind:
        """``value`` as an :class:`IdentityKind`.

        Raises:
            ValidationError: ``value`` is not ``"user"`` or ``"compute"``.
        """
        if isinstance(value, str) and value in cls._value2member_map_:
            return cls(value)
        choices = ", ".join(repr(kind.value) for kind in cls)
        raise ValidationError(f"identity kind must be one of {choices}, not {value!r}")
