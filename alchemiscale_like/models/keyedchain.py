"""Keyed chains: the JSON form of a Tokenizable graph.

A keyed chain is ``[[key, keyed_dict], ...]`` with every object once and every
dependency before its first use, so a network that references the same protein
a hundred times stores it once.
"""

from __future__ import annotations

import json
from typing import Any

from alchemiscale_like.errors import KeyMismatch, PayloadTooLarge, ValidationError
from alchemiscale_like.models.codecs import CODEC_TAG, KEY_TAG, from_jsonable
from alchemiscale_like.models.limits import MAX_NESTING, check_chain_length, check_depth
from alchemiscale_like.models.tokenization import Tokenizable, registered_class

#: Default cap on the size of keyed-chain JSON text accepted by :func:`parse_json`.
DEFAULT_MAX_JSON = 256 * 1024 * 1024


def to_keyed_chain(root: Tokenizable) -> list[tuple[str, dict[str, Any]]]:
    """Serialize ``root`` and everything it references, dependencies first."""
    chain: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    # Iterative post-order walk: deep DAGs must not hit the recursion limit.
    stack: list[tuple[Tokenizable, bool]] = [(root, False)]
    while stack:
        obj, expanded = stack.pop()
        if obj.key in seen:
            continue
        if expanded:
            seen.add(obj.key)
            chain.append((obj.key, obj.to_keyed_dict()))
            continue
        stack.append((obj, True))
        for child in reversed(obj.dependencies()):
            if child.key not in seen:
                stack.append((child, False))
    return chain


def _resolve(value: Any, resolved: dict[str, Tokenizable]) -> Any:
    if isinstance(value, dict):
        if KEY_TAG in value:
            ref = value[KEY_TAG]
            if len(value) != 1 or not isinstance(ref, str):
                raise ValidationError("a reference must be exactly {':key:': '<key>'}")
            try:
                return resolved[ref]
            except KeyError:
                raise ValidationError(
                    f"reference to {ref} before its definition in the keyed chain"
                ) from None
        if CODEC_TAG in value:
            return from_jsonable(value)
        return {k: _resolve(v, resolved) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(item, resolved) for item in value]
    return value


def build_from_keyed_dict(
    keyed_dict: dict[str, Any], resolved: dict[str, Tokenizable]
) -> Tokenizable:
    """Instantiate the registered class named in ``keyed_dict`` (never importing it)."""
    if not isinstance(keyed_dict, dict):
        raise ValidationError("a keyed dict must be a JSON object")
    module, qualname = keyed_dict.get("__module__"), keyed_dict.get("__qualname__")
    if not isinstance(module, str) or not isinstance(qualname, str):
        raise ValidationError("keyed dict needs '__module__' and '__qualname__' strings")
    cls = registered_class(module, qualname)
    version = keyed_dict.get(":version:")
    if version != cls._version:
        raise ValidationError(
            f"{qualname} has version {version!r} in the payload but {cls._version} here"
        )
    fields = {
        name: _resolve(value, resolved)
        for name, value in keyed_dict.items()
        if name not in ("__module__", "__qualname__", ":version:")
    }
    return cls(**fields)


def from_keyed_chain(chain: Any, expect: type[Tokenizable] = Tokenizable) -> Any:
    """Rebuild the last object of ``chain``, checking every declared key.

    Raises:
        ValidationError: malformed chain, dangling reference, wrong root type, nesting
            deeper than :data:`~alchemiscale_like.models.limits.MAX_NESTING`.
        UnknownClass: a class that is not registered.
        KeyMismatch: an object's recomputed key differs from the declared one.
    """
    if not isinstance(chain, list) or not chain:
        raise ValidationError("a keyed chain must be a non-empty list of [key, keyed_dict]")
    check_chain_length(chain)
    check_depth(chain, what="keyed chain")
    resolved: dict[str, Tokenizable] = {}
    obj: Tokenizable | None = None
    for entry in chain:
        if not (isinstance(entry, (list, tuple)) and len(entry) == 2):
            raise ValidationError("each keyed chain entry must be [key, keyed_dict]")
        key, keyed_dict = entry
        if not isinstance(key, str):
            raise ValidationError("keyed chain keys must be strings")
        obj = build_from_keyed_dict(keyed_dict, resolved)
        if obj.key != key:
            raise KeyMismatch(f"declared key {key} but the content hashes to {obj.key}")
        resolved[key] = obj
    if not isinstance(obj, expect):
        raise ValidationError(
            f"keyed chain holds a {type(obj).__name__}, expected a {expect.__name__}"
        )
    return obj


def parse_json(text: str | bytes, max_size: int | None = None) -> Any:
    """Parse JSON text, refusing inputs larger than ``max_size`` bytes or nested too deeply.

    Raises:
        PayloadTooLarge: ``text`` is longer than ``max_size`` bytes.
        ValidationError: malformed JSON, or nesting deeper than
            :data:`~alchemiscale_like.models.limits.MAX_NESTING`.
    """
    limit = DEFAULT_MAX_JSON if max_size is None else max_size
    if len(text) > limit:
        raise PayloadTooLarge(f"JSON payload of {len(text)} bytes exceeds the limit of {limit}")
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationError(f"malformed JSON: {exc}") from exc
    except RecursionError:
        # json's C scanner recurses per level; it unwinds cleanly, so this is safe.
        raise ValidationError(f"JSON nests deeper than the limit of {MAX_NESTING} levels") from None
    check_depth(value, what="JSON")
    return value
