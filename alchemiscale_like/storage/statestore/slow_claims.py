"""The slow-claim log line every backend writes the same way.

The compute API shares one store across its request threads, so a stalled claim
stalls every compute node at once: claims taking a backend's
``slow_claim_seconds`` or longer are logged at WARNING as ``event=slow_claim``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from alchemiscale_like.errors import ValidationError
from alchemiscale_like.models.scope import Scope


def check_slow_claim_seconds(seconds: float) -> float:
    """Return ``seconds`` if it is a number >= 0, else ``ValidationError`` (NaN too)."""
    if not seconds >= 0:
        raise ValidationError(f"slow_claim_seconds must be a number >= 0, got {seconds!r}")
    return seconds


def log_slow_claim(
    log: logging.Logger,
    *,
    duration: float,
    identifier: str,
    count: int,
    claimed: int,
    scopes: Sequence[Scope],
    protocols: Sequence[str] | None,
    retries: int,
    transactions: int,
    error: str,
) -> None:
    """One ``event=slow_claim`` line with the claim's parameters and outcome."""
    log.warning(
        "event=slow_claim duration=%.3f identifier=%s count=%d claimed=%d "
        "scopes=%s protocols=%s retries=%d transactions=%d error=%s",
        duration,
        identifier,
        count,
        claimed,
        ",".join(str(scope) for scope in scopes),
        ",".join(sorted(protocols)) if protocols is not None else "any",
        retries,
        transactions,
        error,
    )
