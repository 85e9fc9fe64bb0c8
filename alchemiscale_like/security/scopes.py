"""Authorization over scopes: which objects and which query scopes an identity may touch.

An identity holds scopes such as ``org-*-*`` or ``org-campaign-project``. It may touch
an object when one of its scopes contains the object's (specific) scope. A query asks
for a scope, possibly with wildcards; the identity sees only the part of that scope it
holds. Scopes are prefix patterns (wildcards only trail), so two scopes either nest or
are disjoint, and the intersection of two scopes is simply the narrower one.

Pure functions only: the APIs call them from one authorization dependency.
"""

from __future__ import annotations

from collections.abc import Iterable

from alchemiscale_like.models.scope import Scope

__all__ = ["intersection", "parse_scopes", "permits", "visible_scopes"]


def parse_scopes(strings: Iterable[str]) -> list[Scope]:
    """Parse scope strings (``org-campaign-project``), dropping duplicates, keeping order.

    Raises:
        InvalidScope: a string breaks the scope rules.
    """
    parsed: dict[Scope, None] = {}
    for text in strings:
        parsed[Scope.from_str(text)] = None
    return list(parsed)


def permits(identity_scopes: Iterable[Scope], target: Scope) -> bool:
    """True if one of ``identity_scopes`` contains all of ``target``.

    ``target`` is normally the specific scope of an object; a wildcard ``target`` is
    permitted only when the identity holds the whole of it.
    """
    return any(scope.is_superset(target) for scope in identity_scopes)


def intersection(first: Scope, second: Scope) -> Scope | None:
    """The scope of the objects within both ``first`` and ``second`` (None if disjoint)."""
    if first.is_superset(second):
        return second
    if second.is_superset(first):
        return first
    return None


def visible_scopes(identity_scopes: Iterable[Scope], requested: Scope | None) -> list[Scope]:
    """The parts of ``requested`` (everything, if None) that the identity may see.

    Examples: an identity with ``o-*-*`` asking for ``o-c-*`` sees ``[o-c-*]``; one with
    ``o-c-p`` asking for ``*-*-*`` sees ``[o-c-p]``; disjoint scopes give ``[]``.

    The result is minimal (no scope in it contains another) and sorted by its string
    form, so a query over it never returns an object twice.
    """
    requested = requested or Scope()
    parts = {
        part for scope in identity_scopes if (part := intersection(scope, requested)) is not None
    }
    minimal = [
        part
        for part in parts
        if not any(other != part and other.is_superset(part) for other in parts)
    ]
    return sorted(minimal, key=str)
