"""Verify a keyed chain without its classes (what the server does with every upload).

The server never imports protocol code, yet it must trust keys: it recomputes
each key from the JSON, checks each reference points to an earlier entry, and
reports what the chain holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alchemiscale_like.errors import KeyMismatch, ValidationError
from alchemiscale_like.models.codecs import KEY_TAG
from alchemiscale_like.models.limits import check_depth
from alchemiscale_like.models.tokenization import key_from_keyed_dict


@dataclass(frozen=True)
class VerifiedEntry:
    """One verified object of a keyed chain."""

    key: str
    qualname: str
    module: str
    keyed_dict: dict[str, Any]
    references: tuple[str, ...]


def _references(value: Any, out: list[str]) -> None:
    if isinstance(value, dict):
        if KEY_TAG in value:
            ref = value[KEY_TAG]
            if len(value) != 1 or not isinstance(ref, str):
                raise ValidationError("a reference must be exactly {':key:': '<key>'}")
            out.append(ref)
            return
        for item in value.values():
            _references(item, out)
    elif isinstance(value, list):
        for item in value:
            _references(item, out)


def verify_keyed_chain(chain: Any) -> list[VerifiedEntry]:
    """Check a keyed chain's keys and references using its JSON alone.

    Returns the entries in chain order (the root last).

    Raises:
        ValidationError: malformed structure, duplicate key, dangling or forward reference,
            nesting deeper than :data:`~alchemiscale_like.models.limits.MAX_NESTING`.
        KeyMismatch: a declared key differs from the key recomputed from the JSON.
    """
    if not isinstance(chain, list) or not chain:
        raise ValidationError("a keyed chain must be a non-empty list of [key, keyed_dict]")
    check_depth(chain, what="keyed chain")
    seen: set[str] = set()
    entries: list[VerifiedEntry] = []
    for position, entry in enumerate(chain):
        if not (isinstance(entry, list) and len(entry) == 2):
            raise ValidationError(f"keyed chain entry {position} must be [key, keyed_dict]")
        key, keyed_dict = entry
        if not isinstance(key, str) or not isinstance(keyed_dict, dict):
            raise ValidationError(f"keyed chain entry {position} must be [string, object]")
        module, qualname = keyed_dict.get("__module__"), keyed_dict.get("__qualname__")
        version = keyed_dict.get(":version:")
        if not isinstance(module, str) or not isinstance(qualname, str):
            raise ValidationError(f"entry {key} lacks '__module__'/'__qualname__' strings")
        if not isinstance(version, int) or isinstance(version, bool):
            raise ValidationError(f"entry {key} lacks an integer ':version:'")
        computed = key_from_keyed_dict(keyed_dict)
        if computed != key:
            raise KeyMismatch(f"declared key {key} but the content hashes to {computed}")
        if key in seen:
            raise ValidationError(f"key {key} appears twice in the keyed chain")
        refs: list[str] = []
        _references(keyed_dict, refs)
        for ref in refs:
            if ref not in seen:
                raise ValidationError(f"{key} references {ref}, which is not defined before it")
        seen.add(key)
        entries.append(VerifiedEntry(key, qualname, module, keyed_dict, tuple(refs)))
    return entries
