"""`Context`: what a ProtocolUnit gets to work with while it executes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from alchemiscale_like.models.resultfile import ResultFile


@dataclass(frozen=True)
class Context:
    """Folders and services for one unit attempt.

    Attributes:
        scratch: private working folder, deleted after the attempt.
        shared: lives as long as the DAG run on this node; hand files to downstream units.
        permanent: files written here and returned (as ``Path``) in the unit's outputs
            become :class:`ResultFile` outputs, uploaded with the unit result.
        checkpoint: the unit's own restart files; kept across attempts and restored on
            resume, so a long unit continues instead of starting over.
        fetch: materialize an upstream :class:`ResultFile` on this node and return its path.
        unit_key: key of the executing unit.
        attempt: attempt number (1 for the first).
    """

    scratch: Path
    shared: Path
    permanent: Path
    checkpoint: Path
    fetch: Callable[[ResultFile], Path]
    unit_key: str
    attempt: int
