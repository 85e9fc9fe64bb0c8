"""Bounds on the shape of decoded client input, checked before any recursive walk.

The decoders here (keyed-chain verification and decoding, value codecs) recurse
into nested JSON; a payload nested thousands of levels deep would otherwise end
in a bare ``RecursionError``. :data:`MAX_NESTING` is far below the interpreter's
recursion limit and far above anything a real model needs.
"""

from __future__ import annotations

from typing import Any

from alchemiscale_like.errors import ValidationError

#: Deepest nesting of JSON containers (lists and objects) accepted in one payload.
MAX_NESTING = 100
#: Most entries of one keyed chain. A network of 10,000 transformations over 5,000
#: systems is about 30,000; every entry costs the server a sha256 of its canonical JSON.
MAX_CHAIN_ENTRIES = 200_000


def check_chain_length(chain: list[Any], limit: int = MAX_CHAIN_ENTRIES) -> None:
    """Raise :class:`ValidationError` if the keyed chain ``chain`` has more than ``limit``
    entries (before any entry is hashed or decoded)."""
    if len(chain) > limit:
        raise ValidationError(
            f"a keyed chain may hold at most {limit} entries, this one has {len(chain)}"
        )


def check_depth(value: Any, limit: int = MAX_NESTING, what: str = "payload") -> None:
    """Raise :class:`ValidationError` if ``value`` nests containers deeper than ``limit``.

    Iterative, so it is safe on any input; a top-level list or dict is level 1.
    """
    if not isinstance(value, (dict, list, tuple)):
        return
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise ValidationError(f"{what} nests deeper than the limit of {limit} levels")
        children = item.values() if isinstance(item, dict) else item
        stack.extend(
            (child, depth + 1) for child in children if isinstance(child, (dict, list, tuple))
        )
