"""Log records of a worker's unit attempt, carried back to the parent as JSON.

A pool or Dask worker has none of the parent's logging set up (a forked child
inherited it; a spawned one does not), and a Dask worker may be on another
host. So a worker records what is logged during an attempt by the thread that
runs it, as plain fields, and returns them with the result; the parent hands
them to its own loggers, where its handlers (text, JSON, file) apply as for
its own records. Timestamps are the worker's, so lines keep their true times
even though they arrive when the attempt ends.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

#: The LogRecord attributes that travel (all JSON values); the rest are rebuilt.
_FIELDS = (
    "name",
    "levelno",
    "levelname",
    "created",
    "msecs",
    "pathname",
    "filename",
    "module",
    "lineno",
    "funcName",
    "process",
    "processName",
    "threadName",
)


class _AttemptHandler(logging.Handler):
    """Keeps the records of one thread as plain dicts."""

    def __init__(self, thread: int) -> None:
        super().__init__()
        self.thread = thread
        self.records: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread:
            return
        fields = {name: getattr(record, name, None) for name in _FIELDS}
        fields["msg"] = record.getMessage()
        if record.exc_info:
            fields["exc_text"] = logging.Formatter().formatException(record.exc_info)
        self.records.append(fields)


@contextmanager
def capture_logs(level: int, loggers: Iterable[str]) -> Iterator[list[dict[str, Any]]]:
    """Collect what this thread logs at ``level`` or above, as plain dicts.

    ``loggers`` (the package's and the protocol modules') are lowered to
    ``level`` in this worker process where they are above it, so their records
    are made at all (a fresh worker's loggers are at WARNING); nothing else
    changes. Levels are not put back: another thread's attempt may still need them.
    """
    for name in loggers:
        logger = logging.getLogger(name)
        if logger.getEffectiveLevel() > level:
            logger.setLevel(level)
    handler = _AttemptHandler(threading.get_ident())
    handler.setLevel(level)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler.records
    finally:
        root.removeHandler(handler)


def replay_logs(records: Iterable[Any]) -> None:
    """Hand records made by :func:`capture_logs` in a worker to this process's loggers."""
    for fields in records:
        if not (
            isinstance(fields, dict)
            and isinstance(fields.get("name"), str)
            and type(fields.get("levelno")) is int
        ):
            continue
        record = logging.makeLogRecord({**fields, "args": None, "exc_info": None})
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)
