"""`Context`: what a ProtocolUnit gets to work with while it executes."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from alchemiscale_like.models.resultfile import ResultFile


def _never() -> bool:
    return False


@dataclass(frozen=True)
class Context:
    """Folders and services for one unit attempt.

    Attributes:
        scratch: private working folder, deleted after the attempt.
        shared: lives as long as the DAG run on this node; hand files to downstream units.
        permanent: files written here and returned (as ``Path``) in the unit's outputs
            become :class:`ResultFile` outputs, uploaded with the unit result.
        checkpoint: the unit's own checkpoint root, kept across attempts. Prefer
            :attr:`save_checkpoint` and :attr:`restore_checkpoint`, which the compute
            service uploads and restores consistently.
        fetch: materialize an upstream :class:`ResultFile` on this node and return its path.
        unit_key: key of the executing unit.
        attempt: attempt number (1 for the first).
        save_checkpoint: ``with ctx.save_checkpoint() as folder:`` write every restart
            file into ``folder``; on exit they become the unit's checkpoint as one whole
            generation (atomically; a failure inside the block commits nothing).
        restore_checkpoint: the folder of the last committed checkpoint (verified), or None.
        should_stop: True once the service must stop (signal, walltime): save a
            checkpoint and raise :class:`~alchemiscale_like.errors.UnitInterrupted`; the
            unit then resumes from that checkpoint elsewhere.
    """

    scratch: Path
    shared: Path
    permanent: Path
    checkpoint: Path
    fetch: Callable[[ResultFile], Path]
    unit_key: str
    attempt: int
    save_checkpoint: Callable[[], AbstractContextManager[Path]]
    restore_checkpoint: Callable[[], Path | None]
    should_stop: Callable[[], bool] = _never
