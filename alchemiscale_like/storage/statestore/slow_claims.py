"""The slow-claim log line every backend writes the same way.

The compute API shares one store across its request threads, so a stalled claim
stalls every compute node at once: claims taking a backend's
``slow_claim_seconds`` or longer are logged at WARNING as ``event=slow_claim``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

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


@contextmanager
def timed_claim(
    log: logging.Logger,
    threshold: float,
    *,
    identifier: str,
    count: int,
    scopes: Sequence[Scope],
    protocols: Sequence[str] | None,
    attempts: Callable[[], tuple[int, int]] = lambda: (0, 1),
) -> Iterator[list[str]]:
    """Time the claim in the block; log it with :func:`log_slow_claim` if it was slow.

    The block puts the claimed keys into the yielded list. ``attempts`` tells, once the
    block has ended (or raised), the claim's ``(retries, transactions)``.
    """
    claimed: list[str] = []
    started = time.monotonic()
    error = "none"
    try:
        yield claimed
    except BaseException as exc:
        error = type(exc).__name__
        raise
    finally:
        duration = time.monotonic() - started
        if duration >= threshold:
            retries, transactions = attempts()
            log_slow_claim(
                log,
                duration=duration,
                identifier=identifier,
                count=count,
                claimed=len(claimed),
                scopes=scopes,
                protocols=protocols,
                retries=retries,
                transactions=transactions,
                error=error,
            )
