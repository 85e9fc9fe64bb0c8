"""Scopes (``org-campaign-project``) and scoped keys.

A :class:`Scope` names where an object lives. Each field is an identifier of
letters, digits and underscores, or ``*`` (wildcard). Wildcards may only trail:
``org-*-*`` is valid, ``*-campaign-project`` is not. A scope with no wildcard is
*specific*; objects are always stored under a specific scope, while identities
and queries may hold wildcard scopes.
"""

from __future__ import annotations

from typing import Annotated, Any

import pydantic
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    WithJsonSchema,
    model_validator,
)

from alchemiscale_like.errors import InvalidScope
from alchemiscale_like.models.patterns import is_key, is_scope_field


class _ScopeModel(BaseModel):
    """Raises :class:`InvalidScope` (not pydantic's error) for every invalid input."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except pydantic.ValidationError as exc:
            messages = "; ".join(
                str(err["msg"]).removeprefix("Value error, ") for err in exc.errors()
            )
            raise InvalidScope(f"invalid {type(self).__name__}: {messages}") from exc


class Scope(_ScopeModel):
    """An ``org-campaign-project`` scope; ``*`` (or ``None``) fields are wildcards."""

    org: str = "*"
    campaign: str = "*"
    project: str = "*"

    @model_validator(mode="before")
    @classmethod
    def _none_is_wildcard(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: ("*" if v is None else v) for k, v in data.items()}
        return data

    @model_validator(mode="after")
    def _check_rules(self) -> Scope:
        fields = (self.org, self.campaign, self.project)
        for value in fields:
            if value != "*" and not is_scope_field(value):
                raise InvalidScope(
                    f"scope field {value!r} must be '*' or letters, digits and underscores"
                )
        seen_wildcard = False
        for value in fields:
            if value == "*":
                seen_wildcard = True
            elif seen_wildcard:
                raise InvalidScope(
                    f"scope {'-'.join(fields)!r}: wildcards may only trail "
                    "(e.g. 'org-*-*', not '*-campaign-project')"
                )
        return self

    @classmethod
    def from_str(cls, text: str) -> Scope:
        """Parse ``org-campaign-project`` (missing trailing parts are wildcards)."""
        parts = text.split("-")
        if not 1 <= len(parts) <= 3 or any(p == "" for p in parts):
            raise InvalidScope(f"scope {text!r} must look like 'org-campaign-project'")
        parts += ["*"] * (3 - len(parts))
        return cls(org=parts[0], campaign=parts[1], project=parts[2])

    def __str__(self) -> str:
        return f"{self.org}-{self.campaign}-{self.project}"

    def to_tuple(self) -> tuple[str, str, str]:
        """The three fields as a tuple."""
        return (self.org, self.campaign, self.project)

    @property
    def specific(self) -> bool:
        """True when no field is a wildcard."""
        return "*" not in self.to_tuple()

    def require_specific(self) -> Scope:
        """Return self, or raise :class:`InvalidScope` if any field is a wildcard."""
        if not self.specific:
            raise InvalidScope(f"scope {self} must be specific (no wildcards) here")
        return self

    def is_superset(self, other: Scope) -> bool:
        """True if every object in ``other`` is also within this scope."""
        for mine, theirs in zip(self.to_tuple(), other.to_tuple(), strict=True):
            if mine == "*":
                return True
            if mine != theirs:
                return False
        return True


class ScopedKey(_ScopeModel):
    """A gufe key bound to the specific scope it is stored under.

    String form: ``{key}-{org}-{campaign}-{project}``, where ``key`` is
    ``{ClassName}-{32 hex digits}``.
    """

    gufe_key: str
    org: str
    campaign: str
    project: str

    @model_validator(mode="after")
    def _check(self) -> ScopedKey:
        if not is_key(self.gufe_key):
            raise InvalidScope(f"key {self.gufe_key!r} must look like 'ClassName-<32 hex>'")
        # The rules of a specific Scope, checked in place: pages and stores parse
        # thousands of keys at a time, and building a Scope here doubled the cost.
        for value in (self.org, self.campaign, self.project):
            if not is_scope_field(value):
                raise InvalidScope(
                    f"scope {self.org}-{self.campaign}-{self.project} must be specific (no "
                    "wildcards): letters, digits and underscores in each field"
                )
        return self

    @property
    def scope(self) -> Scope:
        """The (specific) scope of this key."""
        return Scope(org=self.org, campaign=self.campaign, project=self.project)

    @property
    def qualname(self) -> str:
        """The class name part of the key."""
        return self.gufe_key.split("-", 1)[0]

    @classmethod
    def from_key(cls, key: str, scope: Scope) -> ScopedKey:
        """Bind ``key`` to a specific ``scope``."""
        scope.require_specific()
        return cls(gufe_key=key, org=scope.org, campaign=scope.campaign, project=scope.project)

    @classmethod
    def from_str(cls, text: str) -> ScopedKey:
        """Parse ``{ClassName}-{hex}-{org}-{campaign}-{project}``."""
        if not isinstance(text, str):
            raise InvalidScope(f"scoped key must be a string, not {type(text).__name__}")
        parts = text.split("-")
        if len(parts) != 5:
            raise InvalidScope(
                f"scoped key {text!r} must look like 'ClassName-<hex>-org-campaign-project'"
            )
        return cls(
            gufe_key=f"{parts[0]}-{parts[1]}", org=parts[2], campaign=parts[3], project=parts[4]
        )

    def __str__(self) -> str:
        return f"{self.gufe_key}-{self.org}-{self.campaign}-{self.project}"

    def __lt__(self, other: object) -> bool:
        """Scoped keys sort by their string form."""
        if not isinstance(other, ScopedKey):
            return NotImplemented
        return str(self) < str(other)


def _scoped_key_from_text(value: Any) -> Any:
    return ScopedKey.from_str(value) if isinstance(value, str) else value


#: A :class:`ScopedKey` field of a pydantic model that travels as its string form.
ScopedKeyField = Annotated[
    ScopedKey,
    BeforeValidator(_scoped_key_from_text),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": (
                r"^[A-Za-z_][A-Za-z0-9_]*-[0-9a-f]{32}"
                r"-[A-Za-z0-9_]+-[A-Za-z0-9_]+-[A-Za-z0-9_]+$"
            ),
            "description": "scoped key: {ClassName}-{32 hex}-{org}-{campaign}-{project}",
        }
    ),
]
