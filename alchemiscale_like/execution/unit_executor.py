"""`UnitExecutor`: run one attempt of one ProtocolUnit in a fresh Context."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from alchemiscale_like.errors import (
    IntegrityError,
    StoreUnavailable,
    UnitInterrupted,
    ValidationError,
)
from alchemiscale_like.execution.checkpoints import CheckpointFolder
from alchemiscale_like.execution.fetcher import FileFetcher, sha256_of
from alchemiscale_like.models.context import Context
from alchemiscale_like.models.protocolunit import (
    ProtocolUnit,
    ProtocolUnitFailure,
    ProtocolUnitResult,
)
from alchemiscale_like.models.resultfile import ResultFile, validate_file_name

log = logging.getLogger(__name__)


@dataclass
class UnitOutcome:
    """The result of one attempt plus the local paths of the files it kept.

    ``files`` maps each ResultFile's task-relative ``location`` to the local file.
    """

    result: ProtocolUnitResult
    files: dict[str, Path] = field(default_factory=dict)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def substitute_results(value: Any, results: dict[str, ProtocolUnitResult]) -> Any:
    """Replace every ProtocolUnit inside ``value`` by its result in ``results``."""
    if isinstance(value, ProtocolUnit):
        return results[value.key]
    if isinstance(value, dict):
        return {k: substitute_results(v, results) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(substitute_results(v, results) for v in value)
    return value


class UnitExecutor:
    """Runs single unit attempts under ``workdir``.

    Layout: ``workdir/scratch/<unit>/<attempt>`` (deleted after the attempt),
    ``workdir/shared`` (DAG lifetime), ``workdir/permanent/<unit>/<attempt>``
    (kept files; the caller persists them), ``checkpoint_root/<unit>`` (kept
    across attempts and runs). ``fetcher`` materializes upstream files.

    ``claim`` is the number of the compute service's claim on the Task (None for a
    local run): it goes into every result file's location (see
    :class:`~alchemiscale_like.models.layout.TaskLayout`), so attempts made under
    different claims never share a write-once location.
    """

    def __init__(
        self,
        workdir: Path,
        checkpoint_root: Path,
        fetcher: FileFetcher,
        claim: int | None = None,
    ) -> None:
        self.workdir = workdir
        self.checkpoint_root = checkpoint_root
        self.fetcher = fetcher
        self.claim = claim

    def checkpoint_dir(self, unit_key: str) -> Path:
        """The checkpoint folder of a unit (same for every attempt)."""
        return self.checkpoint_root / unit_key

    @property
    def stop_file(self) -> Path:
        """While this file exists, running units are asked to checkpoint and stop.

        A file, not an in-memory flag, so units in worker processes (or on a
        cluster sharing the filesystem) see it too.
        """
        return self.workdir / "STOP"

    def run(
        self, unit: ProtocolUnit, upstream: dict[str, ProtocolUnitResult], attempt: int
    ) -> UnitOutcome:
        """Execute ``unit`` once. Exceptions become a :class:`ProtocolUnitFailure`.

        Raises:
            IntegrityError: an input file (``ctx.fetch``) does not match its sha256.
            StoreUnavailable: an input file could not be fetched from the store.
            UnitInterrupted: the unit saved a checkpoint and stopped on request.
        """
        scratch = self.workdir / "scratch" / unit.key / str(attempt)
        permanent = self.workdir / "permanent" / unit.key / str(attempt)
        shutil.rmtree(permanent, ignore_errors=True)
        for folder in (scratch, permanent, self.workdir / "shared", self.checkpoint_dir(unit.key)):
            folder.mkdir(parents=True, exist_ok=True)
        checkpoints = CheckpointFolder(self.checkpoint_dir(unit.key))
        stop_file = self.stop_file
        ctx = Context(
            scratch=scratch,
            shared=self.workdir / "shared",
            permanent=permanent,
            checkpoint=self.checkpoint_dir(unit.key),
            fetch=self.fetcher.fetch,
            unit_key=unit.key,
            attempt=attempt,
            save_checkpoint=checkpoints.save,
            restore_checkpoint=checkpoints.restore,
            should_stop=stop_file.exists,
        )
        start = _now()
        log.info("event=unit_start unit=%s name=%r attempt=%d", unit.key, unit.name, attempt)
        try:
            inputs = substitute_results(unit.inputs, upstream)
            raw_outputs = unit._execute(ctx, **inputs)
            if not isinstance(raw_outputs, dict):
                raise ValidationError(f"{type(unit).__name__}._execute must return a dict")
            files, by_path = self._collect_files(unit.key, attempt, permanent, self.claim)
            outputs = _clean_outputs(raw_outputs, permanent, by_path)
            result: ProtocolUnitResult = ProtocolUnitResult(
                name=unit.name,
                source_key=unit.key,
                attempt=attempt,
                outputs=outputs,
                files=[ref for ref, _ in files],
                start_time=start,
                end_time=_now(),
            )
            local = {ref.location: path for ref, path in files}
            for ref, path in files:
                self.fetcher.register(ref, path)
        except (IntegrityError, StoreUnavailable, UnitInterrupted):
            # Damaged or unreachable inputs are the node's fault, not the unit's, and
            # an interruption on request is no failure at all: none of them may count
            # as a failed attempt (retries, restart patterns). The caller retries,
            # re-downloads, or releases the task for another node to resume.
            log.info("event=unit_stopped unit=%s attempt=%d", unit.key, attempt)
            raise
        except Exception as exc:
            result = ProtocolUnitFailure(
                name=unit.name,
                source_key=unit.key,
                attempt=attempt,
                exception=(type(exc).__qualname__, str(exc)),
                traceback=traceback.format_exc(),
                start_time=start,
                end_time=_now(),
            )
            local = {}
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        log.info("event=unit_end unit=%s attempt=%d ok=%s", unit.key, attempt, result.ok())
        return UnitOutcome(result=result, files=local)

    @staticmethod
    def _collect_files(
        unit_key: str, attempt: int, permanent: Path, claim: int | None
    ) -> tuple[list[tuple[ResultFile, Path]], dict[Path, ResultFile]]:
        files: list[tuple[ResultFile, Path]] = []
        for path in sorted(p for p in permanent.rglob("*") if p.is_file()):
            name = validate_file_name(path.relative_to(permanent).as_posix())
            sha, size = sha256_of(path)
            ref = ResultFile(
                name=name,
                size=size,
                sha256=sha,
                location=ResultFile.location_for(unit_key, attempt, name, claim),
            )
            files.append((ref, path))
        return files, {path.resolve(): ref for ref, path in files}


def _clean_outputs(value: Any, permanent: Path, by_path: dict[Path, ResultFile]) -> Any:
    """Outputs may hold JSON values and files under ``permanent``; nothing else."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValidationError(f"output keys must be strings, got {key!r}")
            out[key] = _clean_outputs(item, permanent, by_path)
        return out
    if isinstance(value, (list, tuple)):
        return [_clean_outputs(item, permanent, by_path) for item in value]
    if isinstance(value, Path):
        resolved = value.resolve()
        if resolved not in by_path:
            raise ValidationError(
                f"output path {value} is not a file in ctx.permanent; only kept files may be "
                "returned as paths"
            )
        return by_path[resolved]
    if isinstance(value, np.generic) and not isinstance(value, np.void):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str, ResultFile)):
        return value
    raise ValidationError(
        f"unit outputs must be JSON values or files in ctx.permanent, not {type(value).__name__} "
        "(save arrays to ctx.permanent as .npy and return the path)"
    )
