"""Compute API: registration, heartbeats, claims and everything a claimed Task produces.

Service identifiers belong to the compute identity that uses them: ``{identity}``
or ``{identity}~{suffix}`` (one identity may run many services). Every write
goes through :mod:`alchemiscale_like.services.results`, which checks the claim.
"""

from __future__ import annotations

import functools
import re
from typing import Annotated, Any

import pydantic
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from alchemiscale_like.errors import Forbidden, NotFound, ValidationError
from alchemiscale_like.models.estimate import ResultEstimate
from alchemiscale_like.models.layout import STORE_LAYOUT
from alchemiscale_like.models.resultfile import ResultFile
from alchemiscale_like.models.scope import Scope, ScopedKey
from alchemiscale_like.models.task import TaskStatus
from alchemiscale_like.models.tokenization import wrap_validation_error
from alchemiscale_like.server.auth import Caller, State
from alchemiscale_like.server.routes.common import (
    CHAIN_BODY,
    CHAIN_RESPONSE,
    FILE_BODY,
    FILE_RESPONSE,
    RequestBody,
    body_spec,
    chain_body,
    file_response,
    in_thread,
    parse_body,
    raw_json,
    scoped_key,
    stream,
)
from alchemiscale_like.server.uploads import store_upload
from alchemiscale_like.services import claims, dags, files, results
from alchemiscale_like.services.networks import object_chain
from alchemiscale_like.storage.objectstore.models import ObjectInfo
from alchemiscale_like.storage.statestore.records import (
    ComputeServiceRecord,
    ProtocolDAGRef,
    ProtocolDAGResultRef,
    ProtocolUnitResultRef,
    TaskRecord,
)
from alchemiscale_like.storage.statestore.rules import check_claim_count

router = APIRouter(prefix="/computeservice/{service_id}", tags=["compute"])

_SUFFIX = re.compile(r"[A-Za-z0-9._-]{1,64}")


async def service_of(service_id: str, caller: Caller) -> str:
    """The path's service identifier, if it belongs to the calling compute identity."""
    own = service_id == caller.identifier
    prefix = f"{caller.identifier}~"
    if not own and not (
        service_id.startswith(prefix) and _SUFFIX.fullmatch(service_id[len(prefix) :])
    ):
        raise Forbidden(
            f"service identifier {service_id!r} must be {caller.identifier!r} or "
            f"'{caller.identifier}~<suffix>'"
        )
    return service_id


Service = Annotated[str, Depends(service_of)]


class Register(RequestBody):
    """The protocols a service can run (None: any)."""

    protocols: list[str] | None = None


class Claim(RequestBody):
    """What to claim: how many tasks, from which scopes (default: all of the token's)."""

    count: int = Field(default=1, ge=1)
    protocols: list[str] | None = None
    scopes: list[str] | None = None


class Heartbeat(BaseModel):
    """A recorded heartbeat."""

    status: str = "ok"


class DAGAnswer(BaseModel):
    """The Task's one DAG: run exactly this one."""

    ref: ProtocolDAGRef
    dag: list[Any]


class UnitResultEntry(BaseModel):
    """A recorded unit attempt and its stored result JSON."""

    ref: ProtocolUnitResultRef
    result: list[Any]


class ExtendsAnswer(BaseModel):
    """For a Task extending another: that Task and its successful DAG result (else nulls)."""

    task: str | None
    result: list[Any] | None


class FinishAnswer(BaseModel):
    """The recorded DAG result and the Task's status after it."""

    ref: ProtocolDAGResultRef
    status: TaskStatus


def _task(caller: Caller, text: str) -> ScopedKey:
    key = scoped_key(text)
    caller.require_visible(key)
    return key


@router.post("/register", response_model=ComputeServiceRecord, openapi_extra=body_spec(Register))
async def register(service_id: Service, request: Request, state: State) -> ComputeServiceRecord:
    """Register (or re-register) the service."""
    body = await parse_body(request, state, Register)
    return await in_thread(claims.register, state.stores, service_id, body.protocols)


@router.post("/heartbeat", response_model=Heartbeat)
def heartbeat(service_id: Service, state: State) -> Heartbeat:
    """Record that the service is alive (its lease is renewed)."""
    state.stores.statestore.heartbeat_computeservice(service_id)
    return Heartbeat()


@router.post("/deregister", response_model=list[str])
def deregister(service_id: Service, state: State) -> list[str]:
    """Remove the registration; returns the tasks released back to waiting."""
    return [str(k) for k in state.stores.statestore.deregister_computeservice(service_id)]


@router.post("/claim", response_model=list[str], openapi_extra=body_spec(Claim))
async def claim(service_id: Service, request: Request, state: State, caller: Caller) -> list[str]:
    """Claim up to ``count`` tasks within the requested scopes (narrowed to the token's)."""
    body = await parse_body(request, state, Claim)
    check_claim_count(body.count)
    if body.scopes is None:
        scopes = caller.scopes
    else:
        scopes = []
        for text in body.scopes:
            scopes.extend(caller.query_scopes(Scope.from_str(text)))
    claimed = await in_thread(
        claims.claim, state.stores, service_id, body.count, scopes, body.protocols
    )
    return [str(k) for k in claimed]


@router.get("/tasks/{task}", response_model=TaskRecord)
def get_task(service_id: Service, task: str, state: State, caller: Caller) -> TaskRecord:
    """A task's properties (``attempts`` is the current claim's number)."""
    return state.stores.statestore.get_task(_task(caller, task))


@router.post("/tasks/{task}/release", response_model=list[str])
def release(service_id: Service, task: str, state: State, caller: Caller) -> list[str]:
    """Give a held task back (to waiting) so another service resumes it at once."""
    sk = _task(caller, task)
    claims.require_claim(state.stores, sk, service_id)
    changed = state.stores.statestore.set_task_status([sk], TaskStatus.WAITING)
    state.stores.forget_claim(sk, service_id)
    return [str(k) for k in changed]


@router.get("/tasks/{task}/transformation", responses=CHAIN_RESPONSE)
def get_task_transformation(
    service_id: Service, task: str, state: State, caller: Caller
) -> Response:
    """The keyed chain of the Transformation the task performs."""
    record = state.stores.statestore.get_task(_task(caller, task))
    return raw_json(object_chain(state.stores, record.transformation))


@router.get("/tasks/{task}/extends", response_model=ExtendsAnswer)
def get_extends(service_id: Service, task: str, state: State, caller: Caller) -> ExtendsAnswer:
    """The task this one extends and its successful DAG result JSON (nulls if none)."""
    found = results.extended_result(state.stores, _task(caller, task))
    if found is None:
        return ExtendsAnswer(task=None, result=None)
    return ExtendsAnswer(task=str(found[0]), result=found[1])


@router.get("/tasks/{task}/dag", responses=CHAIN_RESPONSE)
def get_dag(service_id: Service, task: str, state: State, caller: Caller) -> Response:
    """The task's ProtocolDAG keyed chain (404 if it has none yet)."""
    sk = _task(caller, task)
    found = dags.get_task_dag(state.stores, sk)
    if found is None:
        raise NotFound(f"task {sk} has no ProtocolDAG yet")
    return raw_json(found[1])


@router.put("/tasks/{task}/dag", response_model=DAGAnswer, openapi_extra=CHAIN_BODY)
async def ensure_dag(
    service_id: Service, task: str, request: Request, state: State, caller: Caller
) -> DAGAnswer:
    """Give the task this DAG unless it has one; answers with the DAG to run."""
    sk = _task(caller, task)
    chain = await chain_body(request, state)
    ref, dag = await in_thread(dags.ensure_task_dag, state.stores, sk, service_id, chain)
    return DAGAnswer(ref=ref, dag=dag)


@router.get("/tasks/{task}/unit-results", response_model=list[UnitResultEntry])
def get_unit_results(
    service_id: Service, task: str, state: State, caller: Caller, ok_only: bool = True
) -> list[UnitResultEntry]:
    """Recorded unit attempts with their result JSON (for resume: successful ones)."""
    entries = files.unit_results(state.stores, _task(caller, task), ok_only)
    return [UnitResultEntry(ref=ref, result=chain) for ref, chain in entries]


@router.put(
    "/tasks/{task}/unit-results", response_model=ProtocolUnitResultRef, openapi_extra=CHAIN_BODY
)
async def put_unit_result(
    service_id: Service, task: str, request: Request, state: State, caller: Caller
) -> ProtocolUnitResultRef:
    """Store and record one unit attempt's result (its files uploaded first)."""
    sk = _task(caller, task)
    chain = await chain_body(request, state)
    return await in_thread(results.record_unit_result, state.stores, sk, service_id, chain)


@router.put(
    "/tasks/{task}/units/{unit_key}/{attempt}/files/{name:path}",
    response_model=ResultFile,
    openapi_extra=FILE_BODY,
)
async def put_result_file(
    service_id: Service,
    task: str,
    unit_key: str,
    attempt: int,
    name: str,
    request: Request,
    state: State,
    caller: Caller,
) -> ResultFile:
    """Stream one result file of a unit attempt (sha256 in ``X-Content-SHA256``)."""
    sk = _task(caller, task)
    results.check_attempt(attempt)  # refuse bad attempts and names before reading
    STORE_LAYOUT.unit_file(unit_key, attempt, name)
    store = functools.partial(
        results.store_result_file, state.stores, sk, service_id, unit_key, attempt, name
    )
    return await store_upload(request, state.settings, store)


@router.get("/tasks/{task}/files/{location:path}", responses=FILE_RESPONSE)
def get_result_file(
    service_id: Service, task: str, location: str, state: State, caller: Caller
) -> Any:
    """A recorded result file of a task (an upstream unit's, or an extended task's)."""
    ref, chunks = files.open_recorded_file(state.stores, _task(caller, task), location)
    return file_response(ref, chunks)


@router.get("/tasks/{task}/units/{unit_key}/checkpoints", response_model=dict[str, ObjectInfo])
def list_checkpoints(
    service_id: Service, task: str, unit_key: str, state: State, caller: Caller
) -> dict[str, ObjectInfo]:
    """The unit's stored checkpoint files, by name."""
    return files.list_checkpoints(state.stores, _task(caller, task), unit_key)


@router.put(
    "/tasks/{task}/units/{unit_key}/checkpoints/{name:path}",
    response_model=ObjectInfo,
    openapi_extra=FILE_BODY,
)
async def put_checkpoint(
    service_id: Service,
    task: str,
    unit_key: str,
    name: str,
    request: Request,
    state: State,
    caller: Caller,
) -> ObjectInfo:
    """Replace one checkpoint file of a unit of a held task."""
    sk = _task(caller, task)
    STORE_LAYOUT.checkpoint(unit_key, name)
    store = functools.partial(
        results.store_checkpoint, state.stores, sk, service_id, unit_key, name
    )
    return await store_upload(request, state.settings, store)


@router.get("/tasks/{task}/units/{unit_key}/checkpoints/{name:path}", responses=FILE_RESPONSE)
def get_checkpoint(
    service_id: Service, task: str, unit_key: str, name: str, state: State, caller: Caller
) -> Any:
    """One checkpoint file's bytes."""
    info, chunks = files.open_checkpoint(state.stores, _task(caller, task), unit_key, name)
    return stream(chunks, info.sha256, info.size)


def _estimate(
    estimate: float | None, uncertainty: float | None, units: str | None
) -> ResultEstimate | None:
    if estimate is None:
        if uncertainty is not None or units is not None:
            raise ValidationError("uncertainty and units need an estimate")
        return None
    try:
        return ResultEstimate(estimate=estimate, uncertainty=uncertainty, units=units)
    except pydantic.ValidationError as exc:
        raise wrap_validation_error(ResultEstimate, exc) from exc


@router.post("/tasks/{task}/finish", response_model=FinishAnswer, openapi_extra=CHAIN_BODY)
async def finish(
    service_id: Service,
    task: str,
    request: Request,
    state: State,
    caller: Caller,
    estimate: Annotated[float | None, Query(description="the result's scalar estimate")] = None,
    uncertainty: Annotated[
        float | None, Query(ge=0, description="its standard error (needs estimate)")
    ] = None,
    units: Annotated[
        str | None, Query(max_length=32, description="its units (needs estimate)")
    ] = None,
) -> FinishAnswer:
    """Record the final ProtocolDAGResult; the task becomes complete or error (or restarts).

    The service may send the result's scalar summary (computed where the protocol code
    is) as query parameters; the server keeps it beside a successful result.
    """
    sk = _task(caller, task)
    summary = _estimate(estimate, uncertainty, units)
    chain = await chain_body(request, state)
    ref, status = await in_thread(results.finish_task, state.stores, sk, service_id, chain, summary)
    return FinishAnswer(ref=ref, status=status)
