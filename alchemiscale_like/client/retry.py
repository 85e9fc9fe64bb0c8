"""When to retry a request and how long to wait: exponential backoff with full jitter.

A failure is retryable if the service may answer next time: a connection error,
a timeout, a body cut short, or a 502/503/504. Every write of the API is
idempotent (see the HTTP contract), so POST and PUT are retried like GET.
A request's retries are bounded both in number and in total time.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests

#: Response statuses after which a request is sent again.
RETRYABLE_STATUS = frozenset({502, 503, 504})

#: Transport failures after which a request is sent again. A TLS failure is not
#: among them: a bad certificate stays bad.
RETRYABLE_EXCEPTIONS: tuple[type[requests.RequestException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)

#: The longest single pause of the backoff, whatever the attempt number.
MAX_DELAY = 30.0


def is_retryable(exc: BaseException) -> bool:
    """Whether ``exc``, raised while sending or receiving, may go away on a retry."""
    return isinstance(exc, RETRYABLE_EXCEPTIONS) and not isinstance(
        exc, requests.exceptions.SSLError
    )


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header, or None if absent or malformed.

    The header is either a number of seconds or an HTTP date (RFC 9110, 10.2.3);
    a date in the past means 0.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """How often and for how long one request is retried.

    Attributes:
        max_retries: retries after the first attempt (so at most ``max_retries + 1`` sends).
        max_retry_time: no retry starts later than this many seconds after the first send.
        backoff: the first pause's upper bound; the bound doubles with each retry.
    """

    max_retries: int = 6
    max_retry_time: float = 120.0
    backoff: float = 0.5

    def __post_init__(self) -> None:
        if self.max_retries < 0 or self.max_retry_time < 0 or self.backoff < 0:
            raise ValueError("max_retries, max_retry_time and backoff must not be negative")

    def start(self, clock: Callable[[], float] = time.monotonic) -> RetryBudget:
        """A fresh budget for one request, its clock starting now."""
        return RetryBudget(self, clock)


@dataclass
class RetryBudget:
    """What is left of a :class:`RetryPolicy` for one request (shared by its sends)."""

    policy: RetryPolicy
    clock: Callable[[], float]
    failures: int = 0
    started: float = field(init=False)
    _rng: random.Random = field(init=False, default_factory=random.Random)

    def __post_init__(self) -> None:
        self.started = self.clock()

    def next_delay(self, retry_after: float | None = None) -> float | None:
        """Record one failed send; return the pause before the next, or None if none is left.

        The pause is drawn uniformly from ``[0, backoff * 2**(failures-1)]`` (full
        jitter, capped at :data:`MAX_DELAY`), and is at least ``retry_after`` when
        the server sent one. No retry is offered if it would start after
        ``max_retry_time``.
        """
        self.failures += 1
        if self.failures > self.policy.max_retries:
            return None
        bound = min(MAX_DELAY, self.policy.backoff * 2 ** (self.failures - 1))
        delay = self._rng.uniform(0.0, bound)
        if retry_after is not None:
            delay = max(delay, retry_after)
        if self.clock() - self.started + delay > self.policy.max_retry_time:
            return None
        return delay
