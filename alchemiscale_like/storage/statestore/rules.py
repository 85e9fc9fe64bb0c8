"""Rules every state-store backend applies the same way (argument checks and policy).

Backends call these before touching their database, so Neo4j and SQLite refuse
the same inputs with the same errors.
"""

from __future__ import annotations

from collections.abc import Iterable

from alchemiscale_like.models.patterns import check_identifier
from alchemiscale_like.models.scope import Scope

__all__ = ["canonical_scopes", "check_identifier"]


def canonical_scopes(scopes: Iterable[str]) -> list[str]:
    """Scope strings parsed, deduplicated and sorted in canonical form.

    Raises:
        InvalidScope: a scope string breaks the scope rules.
    """
    return sorted({str(Scope.from_str(scope)) for scope in scopes})
