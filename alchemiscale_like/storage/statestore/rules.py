"""Rules every state-store backend applies the same way (argument checks and policy).

Backends call these before or inside their atomic writes, so Neo4j and SQLite
refuse the same inputs with the same errors and decide restarts the same way.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from alchemiscale_like.errors import InvalidTransition, ValidationError
from alchemiscale_like.models.patterns import check_identifier
from alchemiscale_like.models.scope import Scope, ScopedKey
from alchemiscale_like.models.task import USER_TRANSITIONS, TaskStatus, parse_status
from alchemiscale_like.security.identity import IdentityKind
from alchemiscale_like.storage.statestore.records import ClaimCounter, NetworkState

__all__ = [
    "DEFAULT_ACTION_WEIGHT",
    "DEFAULT_PRIORITY",
    "DEFAULT_TASKHUB_WEIGHT",
    "MAX_CLAIM_COUNT",
    "MAX_PATTERN_LENGTH",
    "RestartCounter",
    "RestartDecision",
    "canonical_scopes",
    "check_claim_count",
    "check_identifier",
    "check_priority",
    "check_user_status",
    "check_user_transitions",
    "check_weight",
    "claims_last_minute",
    "count_claims",
    "decide_restart",
    "epoch_minute",
    "parse_identity_kind",
    "parse_network_state",
    "taskhub_key",
    "validate_patterns",
]

#: Priority of a new Task (1 is the highest).
DEFAULT_PRIORITY = 10
#: ACTIONS weight of a task actioned without an explicit weight.
DEFAULT_ACTION_WEIGHT = 0.5
#: Weight of a new network's TaskHub when services choose among hubs.
DEFAULT_TASKHUB_WEIGHT = 0.5
#: Most tasks one claim may take.
MAX_CLAIM_COUNT = 1000
#: Longest restart pattern accepted.
MAX_PATTERN_LENGTH = 1000
#: Restart patterns search only this much of the end of each traceback: the
#: interesting frames are last, and it bounds the cost of a user's regex.
TRACEBACK_SEARCH_LENGTH = 64 * 1024


def check_user_status(status: object) -> TaskStatus:
    """``status`` as a status a user may set (waiting, invalid, deleted).

    Raises:
        ValidationError: not a task status.
        InvalidTransition: a status only claims or compute services set.
    """
    checked = parse_status(status)  # type: ignore[arg-type]
    if checked not in USER_TRANSITIONS:
        raise InvalidTransition(
            f"tasks cannot be set to {checked} by a user "
            "(running: by claiming; complete/error: by the claiming compute service)"
        )
    return checked


def check_user_transitions(current: dict[str, TaskStatus], status: TaskStatus) -> None:
    """Raise ``InvalidTransition`` naming every task that may not move to ``status``."""
    illegal = {sk: s for sk, s in current.items() if s not in USER_TRANSITIONS[status]}
    if illegal:
        detail = ", ".join(f"{sk} ({s})" for sk, s in sorted(illegal.items()))
        raise InvalidTransition(f"cannot set to {status}: {detail}")


def canonical_scopes(scopes: Iterable[str]) -> list[str]:
    """Scope strings parsed, deduplicated and sorted in canonical form.

    Raises:
        InvalidScope: a scope string breaks the scope rules.
    """
    return sorted({str(Scope.from_str(scope)) for scope in scopes})


def parse_network_state(state: object) -> NetworkState:
    """``state`` as a :class:`NetworkState`, or ``ValidationError`` naming the choices."""
    try:
        return NetworkState(str(state))
    except ValueError:
        choices = ", ".join(s.value for s in NetworkState)
        raise ValidationError(f"network state must be one of {choices}, not {state!r}") from None


def parse_identity_kind(kind: object) -> IdentityKind:
    """``kind`` as an :class:`IdentityKind`, or ``ValidationError``."""
    return IdentityKind.parse(kind)


def check_weight(weight: object, what: str) -> float:
    """Return ``weight`` if it is a number in (0, 1], else raise ``ValidationError``."""
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 < weight <= 1:
        raise ValidationError(f"{what} weight must be a number in (0, 1], got {weight!r}")
    return float(weight)


#: Largest priority number (the store keeps 64-bit integers; keep well inside them).
MAX_PRIORITY = 2**31 - 1
#: Most restarts one pattern may grant.
MAX_RESTARTS = 10**6


def check_priority(priority: object) -> int:
    """Return ``priority`` if it is an integer in [1, MAX_PRIORITY], else ``ValidationError``."""
    if (
        isinstance(priority, bool)
        or not isinstance(priority, int)
        or not 1 <= priority <= MAX_PRIORITY
    ):
        raise ValidationError(
            f"priority must be an integer from 1 to {MAX_PRIORITY}, got {priority!r}"
        )
    return priority


def check_claim_count(count: object, *, limit: int | None = MAX_CLAIM_COUNT) -> int:
    """Return ``count`` if it is an integer in [1, ``limit``], else ``ValidationError``.

    The API caps a claim at :data:`MAX_CLAIM_COUNT`; the stores take ``limit=None``
    (any positive count).
    """
    if (
        isinstance(count, int)
        and not isinstance(count, bool)
        and count >= 1
        and (limit is None or count <= limit)
    ):
        return count
    wanted = "a positive integer" if limit is None else f"an integer from 1 to {limit}"
    raise ValidationError(f"claim count must be {wanted}, got {count!r}")


def taskhub_key(network: ScopedKey) -> str:
    """The scoped key of a network's TaskHub (one hub per network)."""
    digest = network.gufe_key.split("-", 1)[1]
    return f"TaskHub-{digest}-{network.org}-{network.campaign}-{network.project}"


def validate_patterns(patterns: Sequence[str], max_retries: int) -> list[str]:
    """Check each pattern compiles as a regex and ``max_retries`` is >= 0; sorted, unique."""
    if (
        isinstance(max_retries, bool)
        or not isinstance(max_retries, int)
        or not 0 <= max_retries <= MAX_RESTARTS
    ):
        raise ValidationError(
            f"max_retries must be an integer from 0 to {MAX_RESTARTS}, got {max_retries!r}"
        )
    checked = []
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern or len(pattern) > MAX_PATTERN_LENGTH:
            raise ValidationError(
                f"a restart pattern must be a non-empty string of at most {MAX_PATTERN_LENGTH} "
                "characters"
            )
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValidationError(
                f"restart pattern {pattern!r} is not a valid regex: {exc}"
            ) from exc
        checked.append(pattern)
    return sorted(set(checked))


@dataclass(frozen=True)
class RestartCounter:
    """One restart pattern enforced on a TaskHub that actions the failed task."""

    uid: str
    pattern: str
    max_retries: int
    used: int
    network: str


@dataclass(frozen=True)
class RestartDecision:
    """What a failed task becomes, and the bookkeeping that goes with it."""

    status: TaskStatus
    #: pattern uid -> restarts used after this failure
    used: dict[str, int]
    #: networks whose TaskHub must drop the task (a matching pattern is exhausted)
    cancel_on: tuple[str, ...]


def decide_restart(
    counters: Sequence[RestartCounter], tracebacks: Sequence[str]
) -> RestartDecision:
    """Apply restart patterns to a failure (design.md: "restart patterns decide").

    No matching pattern: the task is in error. Every match counts one restart;
    if any match is past its ``max_retries`` the task stays in error and leaves
    that pattern's TaskHub, else it goes back to waiting.
    """
    tails = [tb[-TRACEBACK_SEARCH_LENGTH:] for tb in tracebacks]
    matched = [c for c in counters if any(re.search(c.pattern, tb) for tb in tails)]
    if not matched:
        return RestartDecision(TaskStatus.ERROR, {}, ())
    used = {c.uid: c.used + 1 for c in matched}
    exhausted = tuple(sorted({c.network for c in matched if c.used + 1 > c.max_retries}))
    status = TaskStatus.ERROR if exhausted else TaskStatus.WAITING
    return RestartDecision(status, used, exhausted)


def epoch_minute(moment: dt.datetime) -> int:
    """Whole minutes since the Unix epoch (the buckets claim counts are kept in)."""
    return int(moment.timestamp() // 60)


def count_claims(counter: ClaimCounter, claimed: int, moment: dt.datetime) -> ClaimCounter:
    """``counter`` after ``claimed`` more claims at ``moment``.

    Two one-minute buckets are kept: this minute's count and the previous minute's.
    The Neo4j backend applies the same rule inside its claim query (one round trip);
    the conformance suite checks both against :func:`claims_last_minute`.
    """
    minute = epoch_minute(moment)
    if counter.minute == minute:
        last, this = counter.last_minute, counter.this_minute
    elif counter.minute == minute - 1:
        last, this = counter.this_minute, 0
    else:
        last, this = 0, 0
    return ClaimCounter(
        total=counter.total + claimed, minute=minute, this_minute=this + claimed, last_minute=last
    )


def claims_last_minute(counter: ClaimCounter, moment: dt.datetime) -> float:
    """Estimated claims in the 60 s before ``moment`` (a sliding-window counter).

    The current minute's count, plus the previous minute's weighted by the part of
    it that still lies within the last 60 s.
    """
    minute = epoch_minute(moment)
    elapsed = moment.timestamp() / 60 - minute  # fraction of the current minute gone by
    if counter.minute == minute:
        return counter.this_minute + counter.last_minute * (1.0 - elapsed)
    if counter.minute == minute - 1:
        return counter.this_minute * (1.0 - elapsed)
    return 0.0
