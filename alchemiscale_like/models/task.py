"""Task statuses and the status transition table (design.md, "State store").

The table lives here, in pure code, so every backend enforces the same rules
inside its own atomic write.
"""

from __future__ import annotations

import uuid
from enum import StrEnum

from alchemiscale_like.errors import ValidationError
from alchemiscale_like.models.scope import Scope, ScopedKey


class TaskStatus(StrEnum):
    """Lifecycle of a Task."""

    WAITING = "waiting"
    RUNNING = "running"
    COMPLETE = "complete"
    ERROR = "error"
    INVALID = "invalid"
    DELETED = "deleted"


#: target status -> statuses a *user* may move a task from. ``running`` is entered
#: only by a claim, ``complete``/``error`` only by the claiming compute service.
USER_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.WAITING: frozenset({TaskStatus.WAITING, TaskStatus.RUNNING, TaskStatus.ERROR}),
    TaskStatus.INVALID: frozenset(set(TaskStatus) - {TaskStatus.DELETED}),
    TaskStatus.DELETED: frozenset(set(TaskStatus) - {TaskStatus.INVALID}),
}

#: Statuses that cascade to every task extending the changed one.
CASCADING = frozenset({TaskStatus.INVALID, TaskStatus.DELETED})

#: Statuses in which a task may be actioned on a TaskHub.
ACTIONABLE = frozenset({TaskStatus.WAITING, TaskStatus.RUNNING, TaskStatus.ERROR})


def parse_status(value: str) -> TaskStatus:
    """``value`` as a :class:`TaskStatus`, or a :class:`ValidationError` naming the choices."""
    try:
        return TaskStatus(value)
    except ValueError:
        choices = ", ".join(s.value for s in TaskStatus)
        raise ValidationError(f"unknown task status {value!r} (one of: {choices})") from None


def new_task_key(scope: Scope) -> ScopedKey:
    """A fresh, random Task scoped key in a specific ``scope``."""
    return ScopedKey.from_key(f"Task-{uuid.uuid4().hex}", scope)
