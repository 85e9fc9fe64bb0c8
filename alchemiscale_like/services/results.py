"""Recording what a compute service produces: files, unit results, checkpoints, the final result.

Every write first checks that the caller still holds the Task's claim (so a
service that lost it changes nothing), stores content in the object store,
then records the reference in the state store, whose write checks the claim
again atomically. A reference is therefore only ever recorded for content that
is durable, and retrying any write with the same content is a no-op.
"""

from __future__ import annotations

import datetime as dt
from typing import IO, Any

from alchemiscale_like.errors import ClaimLost, Conflict, NotFound, ValidationError
from alchemiscale_like.models.estimate import ResultEstimate
from alchemiscale_like.models.layout import STORE_LAYOUT
from alchemiscale_like.models.resultfile import ResultFile
from alchemiscale_like.models.scope import ScopedKey
from alchemiscale_like.models.task import TaskStatus
from alchemiscale_like.models.verify import (
    UnitResultSummary,
    summarize_dag_result,
    summarize_unit_result,
    verify_keyed_chain,
)
from alchemiscale_like.services.claims import require_claim
from alchemiscale_like.services.dags import dag_unit_keys
from alchemiscale_like.services.stores import Stores
from alchemiscale_like.storage.objectstore.models import ObjectInfo
from alchemiscale_like.storage.statestore.records import (
    ClaimedTask,
    ProtocolDAGRef,
    ProtocolDAGResultRef,
    ProtocolUnitResultRef,
)

#: Highest unit attempt number accepted: far above any real retry count, and an integer
#: every state-store backend can hold (Neo4j's are 64-bit).
MAX_ATTEMPT = 2**31 - 1


def check_attempt(attempt: object) -> int:
    """Return ``attempt`` if it is an integer from 1 to :data:`MAX_ATTEMPT`.

    Raises:
        ValidationError: anything else (checked before anything is stored).
    """
    if isinstance(attempt, bool) or not isinstance(attempt, int) or not 1 <= attempt <= MAX_ATTEMPT:
        raise ValidationError(
            f"attempt must be an integer from 1 to {MAX_ATTEMPT}, not {attempt!r}"
        )
    return attempt


def _require_dag(claimed: ClaimedTask) -> ProtocolDAGRef:
    if claimed.dag is None:
        raise NotFound(f"task {claimed.record.scoped_key} has no ProtocolDAG yet")
    return claimed.dag


def store_result_file(
    stores: Stores,
    task: ScopedKey,
    service_id: str,
    unit_key: str,
    attempt: int,
    name: str,
    source: IO[bytes],
    sha256: str,
) -> ResultFile:
    """Stream one result file of a unit attempt into the store, checked against ``sha256``.

    The file lands in the attempt folder of the caller's claim (see ``TaskLayout``).

    Raises:
        ClaimLost: the caller does not hold the Task.
        IntegrityError: the bytes do not hash to ``sha256``; nothing is stored.
        UnsafeFileName: ``name`` breaks the file-name rule.
        ValidationError: ``attempt`` is out of range, or ``unit_key`` is not in the DAG.
    """
    check_attempt(attempt)
    claimed = require_claim(stores, task, service_id)
    if unit_key not in dag_unit_keys(stores, task, _require_dag(claimed)):
        raise ValidationError(f"{unit_key} is not a unit of the DAG of {task}")
    relpath = STORE_LAYOUT.unit_file(unit_key, attempt, name, claimed.record.attempts)
    info = stores.objectstore.put_task_file(task, relpath, source, sha256=sha256)
    return ResultFile(name=name, size=info.size, sha256=info.sha256, location=relpath)


def record_unit_result(
    stores: Stores, task: ScopedKey, service_id: str, chain: Any
) -> ProtocolUnitResultRef:
    """Store and record one unit attempt's result (or failure) with the files it lists.

    Every file the result lists must already be stored, in this claim's attempt
    folder, with the listed sha256 and size.

    The hot path of every compute node, so the early claim check is skipped when the
    claim is remembered from an earlier request (:meth:`Stores.remembered_claim`):
    the result is stored, then recorded by a write that checks the claim *and its
    number*. If that claim turns out to be over, the stored result is deleted again
    unless something recorded it, and the upload is redone with a fresh claim check
    (a lost claim then answers :class:`ClaimLost` with nothing changed). Once a claim
    is over it never comes back (the next one has the next number), so an
    unrecorded result in its folder can only be a leftover.

    Raises:
        ClaimLost: the caller does not hold the Task (nothing is written).
        NotFound: the Task has no DAG yet.
        ValidationError: the chain is not a unit result of this Task's DAG, or a file is missing.
        Conflict: this attempt was already stored with different content.
    """
    summary = summarize_unit_result(verify_keyed_chain(chain))
    check_attempt(summary.attempt)
    remembered = stores.remembered_claim(task, service_id)
    if remembered is not None:
        try:
            return _record_unit_result(stores, task, service_id, chain, summary, remembered)
        except (Conflict, ValidationError):  # ClaimLost is a Conflict
            # Over, or remembered from an earlier claim of this service (whose folder
            # holds other content, and not the listed files): ask the store instead.
            stores.forget_claim(task, service_id)
    claimed = require_claim(stores, task, service_id)
    return _record_unit_result(stores, task, service_id, chain, summary, claimed)


def _record_unit_result(
    stores: Stores,
    task: ScopedKey,
    service_id: str,
    chain: Any,
    summary: UnitResultSummary,
    claimed: ClaimedTask,
) -> ProtocolUnitResultRef:
    claim = claimed.record.attempts
    if summary.unit_key not in dag_unit_keys(stores, task, _require_dag(claimed)):
        raise ValidationError(f"{summary.unit_key} is not a unit of the DAG of {task}")
    files = tuple(
        _check_listed_file(stores, task, summary.unit_key, summary.attempt, claim, f)
        for f in summary.files
    )
    relpath = STORE_LAYOUT.unit_result(summary.unit_key, summary.attempt, claim)
    stores.objectstore.put_task_json(task, relpath, chain)
    ref = ProtocolUnitResultRef(
        unit_key=summary.unit_key,
        attempt=summary.attempt,
        ok=summary.ok,
        relpath=relpath,
        files=tuple(sorted(files, key=lambda f: f.name)),
        service=service_id,
        started=summary.started,
        finished=summary.finished,
    )
    try:
        stores.statestore.add_unit_result(task, service_id, ref, claim=claim)
    except ClaimLost:
        if not any(r.relpath == relpath for r in stores.statestore.get_unit_results(task)):
            stores.objectstore.delete_task_object(task, relpath)
        raise
    return ref


def _check_listed_file(
    stores: Stores, task: ScopedKey, unit_key: str, attempt: int, claim: int, raw: dict[str, Any]
) -> ResultFile:
    fields = {k: v for k, v in raw.items() if k != ":codec:"}
    try:
        listed = ResultFile.model_validate(fields)
    except ValueError as exc:
        raise ValidationError(f"a listed result file is malformed: {exc}") from exc
    expected = STORE_LAYOUT.unit_file(unit_key, attempt, listed.name, claim)
    if listed.location != expected:
        raise ValidationError(
            f"result file {listed.name!r} is listed at {listed.location!r}; this claim "
            f"stores it at {expected!r}"
        )
    try:
        info = stores.objectstore.stat_task_file(task, expected)
    except NotFound:
        raise ValidationError(
            f"result file {listed.name!r} was not uploaded before its unit result"
        ) from None
    if (info.sha256, info.size) != (listed.sha256, listed.size):
        raise ValidationError(
            f"result file {listed.name!r}: stored sha256/size differ from the listed ones"
        )
    return listed


def store_checkpoint(
    stores: Stores,
    task: ScopedKey,
    service_id: str,
    unit_key: str,
    name: str,
    source: IO[bytes],
    sha256: str,
) -> ObjectInfo:
    """Replace checkpoint file ``name`` of ``unit_key`` (atomically; sha256 checked)."""
    claimed = require_claim(stores, task, service_id)
    if unit_key not in dag_unit_keys(stores, task, _require_dag(claimed)):
        raise ValidationError(f"{unit_key} is not a unit of the DAG of {task}")
    return stores.objectstore.put_checkpoint(task, unit_key, name, source, sha256=sha256)


def finish_task(
    stores: Stores,
    task: ScopedKey,
    service_id: str,
    chain: Any,
    estimate: ResultEstimate | None = None,
) -> tuple[ProtocolDAGResultRef, TaskStatus]:
    """Store the final ProtocolDAGResult and end the claim: complete, or error/restart.

    A result counts as successful only if every unit has a successful result
    that is already recorded, so a Task is never complete before all it
    produced is durable. Sending the same result again after it was recorded
    (a retry whose first answer was lost) returns the recorded outcome.
    ``estimate`` (computed by the service, which has the protocol's code) is kept
    beside a successful result; a failed result keeps none.

    Raises:
        ClaimLost: the caller does not hold the Task (nothing is written).
        ValidationError: not a result of this Task's DAG, or a unit result was never recorded.
        Conflict: the Task already has a successful result.
    """
    summary = summarize_dag_result(verify_keyed_chain(chain))
    try:
        claimed = require_claim(stores, task, service_id)
    except ClaimLost:
        for recorded_ref in stores.statestore.get_task_results(task):
            if recorded_ref.key == summary.key:
                return recorded_ref, stores.statestore.get_task(task).status
        raise
    dag = _require_dag(claimed)
    if summary.dag_key != dag.key:
        raise ValidationError(f"the result is of DAG {summary.dag_key}, not {dag.key} of {task}")
    recorded = {r.unit_key for r in stores.statestore.get_unit_results(task, ok_only=True)}
    missing = sorted(set(summary.successful_units) - recorded)
    if missing:
        raise ValidationError(
            f"successful unit results were never recorded for {task}: {missing[:5]}"
        )
    relpath = STORE_LAYOUT.dag_result(summary.key)
    stores.objectstore.put_task_json(task, relpath, chain)
    ref = ProtocolDAGResultRef(
        key=summary.key,
        ok=summary.ok,
        relpath=relpath,
        created=dt.datetime.now(dt.UTC),
        task=task,
        estimate=estimate if summary.ok else None,
    )
    status = stores.statestore.finish_task(task, service_id, ref, summary.tracebacks)
    stores.forget_claim(task, service_id)  # finishing ends the claim
    return ref, status


def task_result_chain(stores: Stores, task: ScopedKey, pdr_key: str) -> Any:
    """The stored JSON of one ProtocolDAGResult of the Task."""
    for ref in stores.statestore.get_task_results(task):
        if ref.key == pdr_key:
            return stores.objectstore.get_task_json(task, ref.relpath)
    raise NotFound(f"task {task} has no ProtocolDAGResult {pdr_key}")


def extended_result(stores: Stores, task: ScopedKey) -> tuple[ScopedKey, Any] | None:
    """For a Task that extends another: that Task and its successful DAG result JSON."""
    record = stores.statestore.get_task(task)
    if record.extends is None:
        return None
    for ref in stores.statestore.get_task_results(record.extends):
        if ref.ok:
            return record.extends, stores.objectstore.get_task_json(record.extends, ref.relpath)
    raise Conflict(f"{record.extends}, which {task} extends, has no successful result")
