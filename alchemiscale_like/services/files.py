"""Listing and serving a Task's recorded result files and checkpoints, and its failures."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from alchemiscale_like.errors import NotFound
from alchemiscale_like.models.layout import STORE_LAYOUT
from alchemiscale_like.models.resultfile import ResultFile
from alchemiscale_like.models.scope import ScopedKey
from alchemiscale_like.models.verify import summarize_unit_result, verify_keyed_chain
from alchemiscale_like.services.stores import Stores
from alchemiscale_like.storage.objectstore.models import ObjectInfo
from alchemiscale_like.storage.statestore.records import ProtocolUnitResultRef


@dataclass(frozen=True)
class TaskFile:
    """A recorded result file with the unit attempt that produced it."""

    file: ResultFile
    unit_key: str
    attempt: int
    ok: bool


def list_task_files(
    stores: Stores, task: ScopedKey, refs: Sequence[ProtocolUnitResultRef] | None = None
) -> list[TaskFile]:
    """Every recorded result file of every recorded unit attempt of the Task (``refs``:
    its unit results, when the caller has read them already)."""
    if refs is None:
        refs = stores.statestore.get_unit_results(task)
    return [
        TaskFile(file=f, unit_key=u.unit_key, attempt=u.attempt, ok=u.ok)
        for u in refs
        for f in u.files
    ]


def recorded_file(stores: Stores, task: ScopedKey, location: str) -> ResultFile:
    """The recorded file at task-relative ``location``; unrecorded objects are ``NotFound``.

    Only recorded files are served: an upload a dead service never recorded
    stays invisible.
    """
    for entry in list_task_files(stores, task):
        if entry.file.location == location:
            return entry.file
    raise NotFound(f"task {task} has no recorded result file {location!r}")


def open_recorded_file(
    stores: Stores, task: ScopedKey, location: str
) -> tuple[ResultFile, Iterator[bytes]]:
    """A recorded file and a verified stream of its bytes (sha256 checked at the end)."""
    ref = recorded_file(stores, task, location)
    return ref, stores.objectstore.open_task_file(task, ref.location)


def recorded_file_url(stores: Stores, task: ScopedKey, location: str, expires: int) -> str:
    """A presigned URL of a recorded file, valid ``expires`` seconds."""
    ref = recorded_file(stores, task, location)
    return stores.objectstore.task_file_url(task, ref.location, expires)


def list_checkpoints(stores: Stores, task: ScopedKey, unit_key: str) -> dict[str, ObjectInfo]:
    """The stored checkpoint files of one unit of the Task, by name.

    Raises:
        NotFound: there is no such Task (an unknown Task has no checkpoints, not an empty set).
    """
    stores.statestore.get_task(task)
    return stores.objectstore.list_checkpoints(task, unit_key)


def open_checkpoint(
    stores: Stores, task: ScopedKey, unit_key: str, name: str
) -> tuple[ObjectInfo, Iterator[bytes]]:
    """A checkpoint file's info and a verified stream of its bytes.

    Raises:
        NotFound: there is no such Task, or it has no such checkpoint file.
    """
    stores.statestore.get_task(task)
    relpath = STORE_LAYOUT.checkpoint(unit_key, name)
    info = stores.objectstore.stat_task_file(task, relpath)
    return info, stores.objectstore.open_task_file(task, relpath)


def unit_results(stores: Stores, task: ScopedKey, ok_only: bool) -> list[tuple[Any, Any]]:
    """Recorded unit attempts of the Task with their stored JSON: ``[(ref, chain), ...]``."""
    return [
        (ref, stores.objectstore.get_task_json(task, ref.relpath))
        for ref in stores.statestore.get_unit_results(task, ok_only=ok_only)
    ]


@dataclass(frozen=True)
class UnitFailure:
    """One failed unit attempt of a Task, with its exception and traceback."""

    unit_key: str
    attempt: int
    exception: tuple[str, str]
    traceback: str


def task_failures(
    stores: Stores, task: ScopedKey, refs: Sequence[ProtocolUnitResultRef] | None = None
) -> list[UnitFailure]:
    """Every recorded failed unit attempt of the Task, read from the stored results
    (only the failures' own: ``refs`` are its unit results, if already read)."""
    if refs is None:
        refs = stores.statestore.get_unit_results(task)
    failures = []
    for ref in refs:
        if ref.ok:
            continue
        entries = verify_keyed_chain(stores.objectstore.get_task_json(task, ref.relpath))
        summary = summarize_unit_result(entries)
        raw = entries[-1].keyed_dict.get("exception")
        exception = (
            (str(raw[0]), str(raw[1])) if isinstance(raw, list) and len(raw) == 2 else ("", "")
        )
        failures.append(UnitFailure(ref.unit_key, ref.attempt, exception, summary.traceback or ""))
    return failures
