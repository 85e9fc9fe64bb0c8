"""`Tokenizable`: frozen pydantic models with stable, content-derived keys.

The key of an object is ``f"{ClassName}-{sha256(canonical)[:32]}"`` where
``canonical`` is the canonical JSON (:mod:`.canonical`) of its *keyed dict*: its
own fields (nested Tokenizables replaced by ``{":key:": <key>}``, other values
through :mod:`~alchemiscale_like.models.codecs`), plus ``__qualname__``,
``__module__`` and ``:version:``. Everything needed to recompute a key is in that JSON, so a
server can verify keys without the classes (see :mod:`.verify`).

Classes register themselves when they are defined. Decoding looks a class up in
that registry by ``(__module__, __qualname__)`` and never imports anything.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from functools import cached_property
from typing import Any, ClassVar, Self

import pydantic
from pydantic import BaseModel, ConfigDict

from alchemiscale_like.errors import UnknownClass, ValidationError
from alchemiscale_like.models.canonical import canonical_json as canonical_json
from alchemiscale_like.models.codecs import KEY_TAG, check_dict_key, encode_value, has_codec

_REGISTRY: dict[tuple[str, str], type[Tokenizable]] = {}

META_KEYS = ("__qualname__", "__module__", ":version:")


def key_from_keyed_dict(keyed_dict: dict[str, Any]) -> str:
    """Compute the key of an object from its keyed dict alone (no class needed)."""
    qualname = keyed_dict.get("__qualname__")
    if not isinstance(qualname, str) or not qualname:
        raise ValidationError("keyed dict lacks a '__qualname__' string")
    class_name = qualname.rsplit(".", 1)[-1]
    digest = hashlib.sha256(canonical_json(keyed_dict)).hexdigest()[:32]
    return f"{class_name}-{digest}"


def registered_class(module: str, qualname: str) -> type[Tokenizable]:
    """Look up a registered class; raise :class:`UnknownClass` (no import) if absent."""
    try:
        return _REGISTRY[(module, qualname)]
    except KeyError:
        raise UnknownClass(
            f"unknown class {module}.{qualname}: it is not a registered Tokenizable "
            "(classes are never imported from payloads)"
        ) from None


def registered_classes() -> list[type[Tokenizable]]:
    """Every registered Tokenizable class (those defined in imported modules)."""
    return list(_REGISTRY.values())


def _keyed_value(value: Any) -> Any:
    if isinstance(value, Tokenizable):
        return {KEY_TAG: value.key}
    if has_codec(value):
        return encode_value(value)
    if isinstance(value, BaseModel):
        return {name: _keyed_value(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, dict):
        return {check_dict_key(key): _keyed_value(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_keyed_value(item) for item in value]
    return encode_value(value)


def _children(value: Any) -> Iterator[Tokenizable]:
    if isinstance(value, Tokenizable):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _children(getattr(value, name))
    elif isinstance(value, dict):
        for item in value.values():
            yield from _children(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _children(item)


class Tokenizable(BaseModel):
    """A frozen model whose identity is its content: see the module docstring.

    Subclasses set ``_version`` (a ``ClassVar[int]``) when they change their
    fields incompatibly; the version is part of the key.
    """

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True, extra="forbid")

    _version: ClassVar[int] = 1

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except pydantic.ValidationError as exc:
            raise wrap_validation_error(type(self), exc) from exc

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        _REGISTRY[(cls.__module__, cls.__qualname__)] = cls

    def to_keyed_dict(self) -> dict[str, Any]:
        """Own fields with nested Tokenizables as ``{":key:": key}``, plus class metadata."""
        return dict(self._keyed_dict)

    @cached_property
    def _keyed_dict(self) -> dict[str, Any]:
        cls = type(self)
        out = {name: _keyed_value(getattr(self, name)) for name in cls.model_fields}
        out["__qualname__"] = cls.__qualname__
        out["__module__"] = cls.__module__
        out[":version:"] = cls._version
        return out

    @cached_property
    def key(self) -> str:
        """``{ClassName}-{32 hex digits}``: stable across processes, machines and releases."""
        return key_from_keyed_dict(self._keyed_dict)

    def dependencies(self) -> list[Tokenizable]:
        """The Tokenizables directly referenced by this object's fields."""
        out: list[Tokenizable] = []
        for name in type(self).model_fields:
            out.extend(_children(getattr(self, name)))
        return out

    def to_keyed_chain(self) -> list[tuple[str, dict[str, Any]]]:
        """``[(key, keyed_dict), ...]``: dependencies first, each object once."""
        from alchemiscale_like.models.keyedchain import to_keyed_chain

        return to_keyed_chain(self)

    @classmethod
    def from_keyed_chain(cls, chain: Any) -> Self:
        """Rebuild the object at the end of ``chain`` (must be an instance of ``cls``)."""
        from alchemiscale_like.models.keyedchain import from_keyed_chain

        obj = from_keyed_chain(chain, expect=cls)
        assert isinstance(obj, cls)
        return obj

    def to_json(self) -> str:
        """The keyed chain as compact JSON text."""
        return canonical_json(self.to_keyed_chain()).decode("utf-8")

    @classmethod
    def from_json(cls, text: str | bytes, max_size: int | None = None) -> Self:
        """Parse keyed-chain JSON (optionally size-limited) into an instance of ``cls``."""
        from alchemiscale_like.models.keyedchain import parse_json

        return cls.from_keyed_chain(parse_json(text, max_size))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Tokenizable):
            return NotImplemented
        return type(self) is type(other) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"<{self.key}>"


def wrap_validation_error(cls: type, exc: pydantic.ValidationError) -> ValidationError:
    """Turn a pydantic error into our :class:`ValidationError` with a readable message.

    If a validator raised one of our own subclasses (say :class:`DAGError`), that
    type is kept so callers can catch it specifically.
    """
    problems = []
    error_type: type[ValidationError] = ValidationError
    for err in exc.errors():
        original = (err.get("ctx") or {}).get("error")
        if isinstance(original, ValidationError):
            error_type = type(original)
        where = ".".join(str(p) for p in err["loc"]) or "<root>"
        problems.append(f"{where}: {str(err['msg']).removeprefix('Value error, ')}")
    return error_type(f"invalid {cls.__name__}: {'; '.join(problems)}")
