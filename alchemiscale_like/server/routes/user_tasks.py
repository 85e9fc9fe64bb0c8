"""User API: tasks, their status and priority, progress, results, failures and files."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from alchemiscale_like.models.scope import ScopedKey
from alchemiscale_like.models.task import parse_status
from alchemiscale_like.server.auth import Caller, State
from alchemiscale_like.server.routes.common import (
    CHAIN_RESPONSE,
    FILE_RESPONSE,
    RequestBody,
    body_spec,
    file_response,
    in_thread,
    keys,
    parse_body,
    raw_json,
    scoped_key,
)
from alchemiscale_like.server.routes.user_networks import TaskList
from alchemiscale_like.services.files import (
    list_task_files,
    open_recorded_file,
    recorded_file_url,
    task_failures,
)
from alchemiscale_like.services.results import task_result_chain
from alchemiscale_like.storage.statestore.records import (
    ProtocolDAGResultRef,
    TaskProgress,
    TaskRecord,
)
from alchemiscale_like.storage.statestore.rules import MAX_PRIORITY

router = APIRouter(tags=["tasks"])

#: Most tasks one request may create.
MAX_CREATE = 10_000


class CreateTasks(RequestBody):
    """How many Tasks to create on a transformation, optionally extending one Task."""

    count: int = Field(default=1, ge=1, le=MAX_CREATE)
    extends: str | None = None


class SetStatus(RequestBody):
    """Tasks and the status a user moves them to (waiting, invalid or deleted)."""

    tasks: list[str]
    status: str


class SetPriority(RequestBody):
    """Tasks and their new priority (1 is the highest)."""

    tasks: list[str]
    priority: int = Field(ge=1, le=MAX_PRIORITY)


class UnitFailureInfo(BaseModel):
    """One failed unit attempt."""

    unit_key: str
    attempt: int
    exception: tuple[str, str]
    traceback: str


class TaskFileInfo(BaseModel):
    """A recorded result file and the unit attempt that produced it."""

    name: str
    size: int
    sha256: str
    location: str
    unit_key: str
    attempt: int
    unit_ok: bool


def _visible(caller: Caller, text: str) -> ScopedKey:
    key = scoped_key(text)
    caller.require_visible(key)
    return key


def _visible_tasks(caller: Caller, texts: list[str]) -> list[ScopedKey]:
    tasks = keys(texts)
    caller.require_visible(*tasks)
    return tasks


@router.post(
    "/transformations/{transformation}/tasks",
    response_model=list[str],
    openapi_extra=body_spec(CreateTasks),
)
async def create_tasks(
    transformation: str, request: Request, state: State, caller: Caller
) -> list[str]:
    """Create ``count`` Tasks on the transformation (extending ``extends`` if given)."""
    sk = _visible(caller, transformation)
    body = await parse_body(request, state, CreateTasks)
    extends = _visible(caller, body.extends) if body.extends else None
    created = await in_thread(
        state.stores.statestore.create_tasks,
        [sk] * body.count,
        [extends] * body.count,
        caller.identifier,
    )
    return [str(k) for k in created]


@router.get("/transformations/{transformation}/tasks", response_model=list[str])
def get_transformation_tasks(
    transformation: str, state: State, caller: Caller, status: str | None = None
) -> list[str]:
    """Tasks of the transformation (optionally in one status)."""
    sk = _visible(caller, transformation)
    wanted = parse_status(status) if status else None
    return [str(k) for k in state.stores.statestore.get_transformation_tasks(sk, wanted)]


@router.get("/transformations/{transformation}/results", response_model=list[ProtocolDAGResultRef])
def get_transformation_results(
    transformation: str, state: State, caller: Caller
) -> list[ProtocolDAGResultRef]:
    """Successful DAG results of every task of the transformation."""
    return state.stores.statestore.get_transformation_results(_visible(caller, transformation))


@router.post(
    "/tasks/status/query", response_model=dict[str, str], openapi_extra=body_spec(TaskList)
)
async def get_tasks_status(request: Request, state: State, caller: Caller) -> dict[str, str]:
    """The status of each task."""
    body = await parse_body(request, state, TaskList)
    tasks = _visible_tasks(caller, body.tasks)
    found = await in_thread(state.stores.statestore.get_task_status, tasks)
    return {str(k): v.value for k, v in found.items()}


@router.post("/tasks/status", response_model=list[str], openapi_extra=body_spec(SetStatus))
async def set_tasks_status(request: Request, state: State, caller: Caller) -> list[str]:
    """Move tasks to waiting, invalid or deleted (all or nothing); returns the changed tasks."""
    body = await parse_body(request, state, SetStatus)
    tasks = _visible_tasks(caller, body.tasks)
    status = parse_status(body.status)
    changed = await in_thread(state.stores.statestore.set_task_status, tasks, status)
    return [str(k) for k in changed]


@router.post(
    "/tasks/priority/query", response_model=dict[str, int], openapi_extra=body_spec(TaskList)
)
async def get_tasks_priority(request: Request, state: State, caller: Caller) -> dict[str, int]:
    """The priority of each task."""
    body = await parse_body(request, state, TaskList)
    tasks = _visible_tasks(caller, body.tasks)

    def priorities() -> dict[str, int]:
        return {str(t): state.stores.statestore.get_task(t).priority for t in tasks}

    return await in_thread(priorities)


@router.post("/tasks/priority", response_model=None, openapi_extra=body_spec(SetPriority))
async def set_tasks_priority(request: Request, state: State, caller: Caller) -> None:
    """Set the priority of tasks (1 is the highest)."""
    body = await parse_body(request, state, SetPriority)
    tasks = _visible_tasks(caller, body.tasks)
    await in_thread(state.stores.statestore.set_task_priority, tasks, body.priority)


@router.get("/tasks/{task}", response_model=TaskRecord)
def get_task(task: str, state: State, caller: Caller) -> TaskRecord:
    """A task's properties."""
    return state.stores.statestore.get_task(_visible(caller, task))


@router.get("/tasks/{task}/progress", response_model=TaskProgress)
def get_task_progress(task: str, state: State, caller: Caller) -> TaskProgress:
    """Units done / total of the task's DAG."""
    return state.stores.statestore.get_task_progress(_visible(caller, task))


@router.get("/tasks/{task}/results", response_model=list[ProtocolDAGResultRef])
def get_task_results(task: str, state: State, caller: Caller) -> list[ProtocolDAGResultRef]:
    """Every DAG result (failed and successful) of the task."""
    return state.stores.statestore.get_task_results(_visible(caller, task))


@router.get("/tasks/{task}/results/{pdr_key}", responses=CHAIN_RESPONSE)
def get_task_result(task: str, pdr_key: str, state: State, caller: Caller) -> Response:
    """One DAG result's raw keyed-chain JSON (readable without the protocol's code)."""
    return raw_json(task_result_chain(state.stores, _visible(caller, task), pdr_key))


@router.get("/tasks/{task}/failures", response_model=list[UnitFailureInfo])
def get_task_failures(task: str, state: State, caller: Caller) -> list[UnitFailureInfo]:
    """Every failed unit attempt of the task, with its exception and traceback."""
    return [
        UnitFailureInfo(
            unit_key=f.unit_key, attempt=f.attempt, exception=f.exception, traceback=f.traceback
        )
        for f in task_failures(state.stores, _visible(caller, task))
    ]


@router.get("/tasks/{task}/files", response_model=list[TaskFileInfo])
def list_result_files(task: str, state: State, caller: Caller) -> list[TaskFileInfo]:
    """The task's recorded result files: name, size, sha256, location, unit and attempt."""
    return [
        TaskFileInfo(
            **entry.file.model_dump(),
            unit_key=entry.unit_key,
            attempt=entry.attempt,
            unit_ok=entry.ok,
        )
        for entry in list_task_files(state.stores, _visible(caller, task))
    ]


@router.get("/tasks/{task}/files/{location:path}", responses=FILE_RESPONSE)
def download_result_file(
    task: str, location: str, state: State, caller: Caller, redirect: bool = False
) -> Any:
    """A recorded result file's bytes (streamed), or a 307 to a presigned URL."""
    sk = _visible(caller, task)
    if redirect:
        url = recorded_file_url(state.stores, sk, location, state.settings.presigned_expiry)
        return RedirectResponse(url, status_code=307)
    ref, chunks = open_recorded_file(state.stores, sk, location)
    return file_response(ref, chunks)
