"""Run one unit attempt from plain data: what process-pool and Dask workers execute.

A worker receives no Python object of the parent's: a :class:`WorkerSpec`
(folders, claim, protocol modules) as JSON text, the unit and its upstream
results as keyed-chain JSON text, and the attempt number; :func:`run_unit`
answers with JSON text. The only other thing that crosses is the reference to
:func:`run_unit` itself, a module-level function of this package. The worker
rebuilds its :class:`~.unit_executor.UnitExecutor` from the spec.

Protocol classes register themselves when their module is imported, so a worker
imports the spec's modules before it decodes a unit. That list is the
configuration of the process running the DAG (see :func:`worker_modules`),
never something read from a payload.

Upstream files: before it submits a unit, the parent puts each upstream
ResultFile into the node's content cache (:meth:`~.fetcher.FileFetcher.fetch`,
which verifies it and downloads it if needed). The worker's fetcher reads that
cache and has no downloader: the parent's downloader is a closure over an API
client and stays in the parent. Files a worker produces go into the same cache
(hard links), so its dependants find them there.
"""

from __future__ import annotations

import importlib
import json
import logging
import re
import socket
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NoReturn

from alchemiscale_like import errors
from alchemiscale_like.errors import AlchemiscaleLikeError, ExecutionError, ValidationError
from alchemiscale_like.execution.fetcher import FileFetcher
from alchemiscale_like.execution.unit_executor import UnitExecutor, UnitOutcome
from alchemiscale_like.execution.worker_logs import capture_logs, replay_logs
from alchemiscale_like.models.protocol import Protocol
from alchemiscale_like.models.protocoldag import ProtocolDAG
from alchemiscale_like.models.protocolunit import ProtocolUnit, ProtocolUnitResult
from alchemiscale_like.models.tokenization import registered_classes

log = logging.getLogger(__name__)

#: Always imported by workers: the shipped protocols.
SHIPPED_PROTOCOLS = "alchemiscale_like.protocols"
_PACKAGE = "alchemiscale_like"
_MODULE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
#: A script run as ``python script.py`` is ``__main__``; a spawned child re-runs it
#: as ``__mp_main__``, so its classes would register under another name.
_SCRIPT_MODULES = frozenset({"__main__", "__mp_main__"})


def validate_module_name(name: str) -> str:
    """Return ``name`` if it is a dotted module name a worker can import.

    Raises:
        ValidationError: not a dotted Python name, or a script's ``__main__``.
    """
    if not isinstance(name, str) or len(name) > 200 or not _MODULE_NAME.fullmatch(name):
        raise ValidationError(f"not a Python module name: {name!r}")
    if name in _SCRIPT_MODULES:
        raise ValidationError(
            f"{name} cannot be imported by a worker process: define your protocol in a module "
            "and pass that module instead"
        )
    return name


def worker_modules(explicit: Iterable[str] = ()) -> tuple[str, ...]:
    """The modules workers import: shipped protocols, ``explicit``, registered protocols.

    The last are the ``__module__`` of every Protocol class registered in this
    process, so a protocol whose module the caller imported reaches the workers
    without being named. Left out: protocols defined in a script (``__main__``;
    :func:`refuse_script_classes` reports them if a DAG needs one) and in modules
    that were not imported from a file (built at run time, no ``__spec__``), which
    no worker could import either.

    Raises:
        ValidationError: an ``explicit`` name is not an importable module name.
    """
    names = [SHIPPED_PROTOCOLS, *(validate_module_name(n) for n in explicit)]
    names.extend(
        sorted(
            {
                cls.__module__
                for cls in registered_classes()
                if issubclass(cls, Protocol)
                and cls is not Protocol
                and cls.__module__ not in _SCRIPT_MODULES
                and getattr(sys.modules.get(cls.__module__), "__spec__", None) is not None
            }
        )
    )
    return tuple(dict.fromkeys(names))


def refuse_script_classes(dag: ProtocolDAG) -> None:
    """Refuse a DAG that uses a class defined in a script: no worker can import it.

    Raises:
        ExecutionError: naming the class and what to do instead.
    """
    for _, keyed in dag.to_keyed_chain():
        if keyed.get("__module__") in _SCRIPT_MODULES:
            raise ExecutionError(
                f"{keyed['__qualname__']} is defined in the script being run (__main__), which "
                "worker processes cannot import; move it into a module (pass it with -m/--module "
                "or the compute settings' modules) or use the 'inprocess' execution model"
            )


def import_modules(names: Sequence[str]) -> None:
    """Import ``names`` (idempotent: a module already imported is not run again).

    Raises:
        ExecutionError: a module is missing or fails on import (the cause is chained).
    """
    for name in names:
        validate_module_name(name)
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except Exception as exc:  # any error while running a user's module at import
            raise ExecutionError(
                f"worker on {socket.gethostname()} cannot import protocol module {name!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to rebuild the parent's UnitExecutor, as plain data.

    ``shared_probe`` is a file name under ``workdir`` that the parent created: a
    worker that cannot see it does not share the parent's filesystem.
    ``log_level``: the parent's level for this package; what the worker logs at
    that level comes back with the answer (see :mod:`.worker_logs`).
    """

    workdir: str
    checkpoint_root: str
    cache_dir: str
    claim: int | None
    modules: tuple[str, ...]
    shared_probe: str | None = None
    log_level: int = logging.WARNING

    @classmethod
    def for_executor(
        cls, executor: UnitExecutor, modules: Sequence[str], shared_probe: str | None = None
    ) -> WorkerSpec:
        """The spec of ``executor`` (its folders and claim; not its downloader)."""
        return cls(
            workdir=str(executor.workdir.resolve()),
            checkpoint_root=str(executor.checkpoint_root.resolve()),
            cache_dir=str(executor.fetcher.cache_dir.resolve()),
            claim=executor.claim,
            modules=tuple(modules),
            shared_probe=shared_probe,
            log_level=logging.getLogger(_PACKAGE).getEffectiveLevel(),
        )

    def to_json(self) -> str:
        """The spec as JSON text."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> WorkerSpec:
        """Parse :meth:`to_json` output.

        Raises:
            ValidationError: malformed spec.
        """
        try:
            data = json.loads(text)
            spec = cls(
                workdir=data["workdir"],
                checkpoint_root=data["checkpoint_root"],
                cache_dir=data["cache_dir"],
                claim=data["claim"],
                modules=tuple(data["modules"]),
                shared_probe=data.get("shared_probe"),
                log_level=data.get("log_level", logging.WARNING),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValidationError(f"malformed worker spec: {exc}") from exc
        folders = (spec.workdir, spec.checkpoint_root, spec.cache_dir)
        if (
            not all(isinstance(f, str) for f in folders)
            or not (spec.claim is None or type(spec.claim) is int)
            or type(spec.log_level) is not int
        ):
            raise ValidationError(
                "malformed worker spec: folders must be text, claim and log_level ints"
            )
        return spec

    def unit_executor(self) -> UnitExecutor:
        """A UnitExecutor on the spec's folders whose fetcher only reads the cache."""
        return UnitExecutor(
            Path(self.workdir),
            Path(self.checkpoint_root),
            FileFetcher(Path(self.cache_dir)),
            self.claim,
        )

    def check_shared(self) -> None:
        """Raise :class:`ExecutionError` unless this process sees the parent's workdir."""
        if self.shared_probe is not None and not (Path(self.workdir) / self.shared_probe).is_file():
            raise ExecutionError(
                f"worker on {socket.gethostname()} does not see {self.workdir}: the dask "
                "execution model needs a filesystem shared by the submitting process and every "
                "worker, mounted at the same path"
            )


def init_pool_worker(spec_json: str) -> None:
    """Process-pool initializer: import the protocol modules once per worker.

    A failure is logged, not raised (a raising initializer breaks the whole pool
    with no message): :func:`run_unit` imports again and reports the error to the
    parent with the unit it could not run.
    """
    try:
        import_modules(WorkerSpec.from_json(spec_json).modules)
    except AlchemiscaleLikeError as exc:
        log.error("event=worker_import_failed error=%r", str(exc))


def run_unit(spec_json: str, unit_json: str, attempt: int, *upstream_json: str) -> str:
    """Run one attempt of a unit in a worker; JSON text in, JSON text out.

    Returns ``{"result": <unit result JSON>, "files": {location: path}, "logs": [...]}``,
    or ``{"error": {"type": ..., "message": ...}, "logs": [...]}`` for the errors
    that :meth:`UnitExecutor.run` raises instead of recording a failed attempt
    (damaged inputs, an interruption) and for a worker that cannot import or
    decode what it was sent. :func:`outcome_from_json` turns either back.
    """
    try:
        spec = WorkerSpec.from_json(spec_json)
    except ValidationError as exc:
        return json.dumps({"error": {"type": type(exc).__name__, "message": str(exc)}})
    loggers = {_PACKAGE, *(m.split(".")[0] for m in spec.modules)}
    body: dict[str, object]
    with capture_logs(spec.log_level, sorted(loggers)) as logs:
        try:
            spec.check_shared()
            import_modules(spec.modules)
            unit, upstream = _decode(spec, unit_json, upstream_json)
            outcome = spec.unit_executor().run(unit, upstream, attempt)
        except AlchemiscaleLikeError as exc:
            body = {"error": {"type": type(exc).__name__, "message": str(exc)}}
        else:
            files = {location: str(path) for location, path in outcome.files.items()}
            body = {"result": outcome.result.to_json(), "files": files}
    body["logs"] = logs
    return json.dumps(body, default=str)


def _decode(
    spec: WorkerSpec, unit_json: str, upstream_json: Sequence[str]
) -> tuple[ProtocolUnit, dict[str, ProtocolUnitResult]]:
    try:
        unit = ProtocolUnit.from_json(unit_json)
        upstream = {r.source_key: r for r in map(ProtocolUnitResult.from_json, upstream_json)}
    except ValidationError as exc:
        raise ExecutionError(
            f"worker cannot decode the unit: {exc}; it imported {list(spec.modules)}: pass "
            "the module that defines it with -m/--module (compute settings: modules)"
        ) from exc
    return unit, upstream


def outcome_from_json(text: str) -> UnitOutcome:
    """The :class:`UnitOutcome` of a :func:`run_unit` answer; a reported error is raised.

    The worker's log records are handed to this process's loggers first.

    Raises:
        AlchemiscaleLikeError: the error type the worker reported (e.g. IntegrityError),
            or ExecutionError for an answer that is not what :func:`run_unit` writes.
    """
    try:
        body = json.loads(text)
        replay_logs(body.get("logs") or [])
        error = body.get("error")
        if error is None:
            result = ProtocolUnitResult.from_json(body["result"])
            files = {str(k): Path(v) for k, v in body["files"].items()}
        else:
            kind, message = str(error["type"]), str(error["message"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ExecutionError(f"malformed answer from a worker: {exc}") from exc
    if error is not None:
        _raise_reported(kind, message)
    return UnitOutcome(result=result, files=files)


def _raise_reported(kind: str, message: str) -> NoReturn:
    # Only our own error classes, found among the subclasses defined in
    # alchemiscale_like.errors: nothing is imported or resolved by a payload's name.
    known = {c.__name__: c for c in _subclasses(AlchemiscaleLikeError)}
    if kind in known:
        raise known[kind](message)
    raise ExecutionError(f"worker error {kind}: {message}")


def _subclasses(base: type[AlchemiscaleLikeError]) -> list[type[AlchemiscaleLikeError]]:
    out = [base] if base.__module__ == errors.__name__ else []
    for cls in base.__subclasses__():
        out.extend(_subclasses(cls))
    return out
