"""User API: networks, transformations, TaskHubs and restart patterns."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from alchemiscale_like.models.estimate import TransformationEstimate
from alchemiscale_like.models.scope import Scope, ScopedKey
from alchemiscale_like.models.task import parse_status
from alchemiscale_like.server.auth import Caller, State
from alchemiscale_like.server.routes.common import (
    CHAIN_RESPONSE,
    RequestBody,
    body_spec,
    in_thread,
    keys,
    parse_body,
    raw_json,
    scoped_key,
)
from alchemiscale_like.services.networks import begin_submission, object_chain, store_members
from alchemiscale_like.services.overview import network_estimates
from alchemiscale_like.storage.statestore.records import NetworkState, RestartPattern
from alchemiscale_like.storage.statestore.rules import MAX_RESTARTS, parse_network_state

router = APIRouter(tags=["networks"])


class SubmitNetwork(RequestBody):
    """A network's keyed chain and the specific scope to store it in."""

    network: list[Any] = Field(min_length=1)
    scope: str
    state: str = NetworkState.ACTIVE.value


class CreatedKey(BaseModel):
    """The scoped key of a created (or already existing) object."""

    scoped_key: str


class NetworkStates(RequestBody):
    """Networks and the state to put them in."""

    networks: list[str]
    state: str


class StateValue(BaseModel):
    """A network's state."""

    state: str


class TaskList(RequestBody):
    """Tasks by scoped key."""

    tasks: list[str]


class ActionTasks(RequestBody):
    """Tasks to put on a network's TaskHub, optionally with an ACTIONS weight in (0, 1]."""

    tasks: list[str]
    weight: float | None = None


class Weight(RequestBody):
    """A TaskHub weight in (0, 1] (a request body and the answer of ``GET``)."""

    weight: float


class AddRestartPatterns(RequestBody):
    """Regexes on failure tracebacks and the restarts each grants per task."""

    patterns: list[str]
    max_retries: int = Field(ge=0, le=MAX_RESTARTS)


class RemoveRestartPatterns(RequestBody):
    """Restart patterns to remove."""

    patterns: list[str]


def _query_scopes(caller: Caller, scope: str | None) -> list[Scope]:
    return caller.query_scopes(Scope.from_str(scope) if scope else None)


def _visible(caller: Caller, text: str) -> ScopedKey:
    key = scoped_key(text)
    caller.require_visible(key)
    return key


@router.post("/networks", response_model=CreatedKey, openapi_extra=body_spec(SubmitNetwork))
async def create_network(
    request: Request, state: State, caller: Caller, background: BackgroundTasks
) -> CreatedKey:
    """Store a network (keyed-chain JSON, verified without its classes) in a scope.

    The answer comes once the network and its graph are stored; the transformations'
    own objects are stored after it (read before that, one is taken from the network).
    """
    body = await parse_body(request, state, SubmitNetwork)
    scope = Scope.from_str(body.scope)
    caller.require_creatable(scope)
    network_state = parse_network_state(body.state)
    submission = await in_thread(begin_submission, state.stores, body.network, scope, network_state)
    background.add_task(store_members, state.stores, submission)
    return CreatedKey(scoped_key=str(submission.network))


@router.get("/networks", response_model=list[str])
def query_networks(
    state: State,
    caller: Caller,
    name: str | None = None,
    scope: str | None = None,
    network_state: str | None = NetworkState.ACTIVE.value,
) -> list[str]:
    """Networks in the caller's scopes, by name fragment, scope and state (empty: any state)."""
    wanted = parse_network_state(network_state) if network_state else None
    found: set[str] = set()
    for visible in _query_scopes(caller, scope):
        found.update(str(k) for k in state.stores.statestore.query_networks(name, visible, wanted))
    return sorted(found)


@router.get("/networks/{network}", responses=CHAIN_RESPONSE)
def get_network(network: str, state: State, caller: Caller) -> Response:
    """The network's keyed chain, as submitted."""
    return raw_json(object_chain(state.stores, _visible(caller, network)))


@router.get("/networks/{network}/transformations", response_model=list[str])
def get_network_transformations(network: str, state: State, caller: Caller) -> list[str]:
    """The network's transformations."""
    sk = _visible(caller, network)
    return [str(k) for k in state.stores.statestore.get_network_transformations(sk)]


@router.get("/networks/{network}/chemicalsystems", response_model=list[str])
def get_network_chemicalsystems(network: str, state: State, caller: Caller) -> list[str]:
    """The network's chemical systems."""
    sk = _visible(caller, network)
    return [str(k) for k in state.stores.statestore.get_network_chemicalsystems(sk)]


@router.get("/networks/{network}/state", response_model=StateValue)
def get_network_state(network: str, state: State, caller: Caller) -> StateValue:
    """The network's state."""
    sk = _visible(caller, network)
    return StateValue(state=state.stores.statestore.get_network_state(sk).value)


@router.post("/networks/state", response_model=None, openapi_extra=body_spec(NetworkStates))
async def set_network_state(request: Request, state: State, caller: Caller) -> None:
    """Set the state of networks (all visible, or nothing changes)."""
    body = await parse_body(request, state, NetworkStates)
    networks = keys(body.networks)
    caller.require_visible(*networks)
    await in_thread(state.stores.statestore.set_network_state, networks, body.state)


@router.get("/networks/{network}/status", response_model=dict[str, int])
def get_network_status(network: str, state: State, caller: Caller) -> dict[str, int]:
    """Task counts per status over the network."""
    return state.stores.statestore.get_network_status(_visible(caller, network))


@router.get("/networks/{network}/estimates", response_model=list[TransformationEstimate])
def get_network_estimates(
    network: str, state: State, caller: Caller
) -> list[TransformationEstimate]:
    """Each transformation's combined estimate, from the summaries compute services stored
    with their successful results (only transformations that have one), by name."""
    return network_estimates(state.stores, _visible(caller, network))


@router.get("/networks/{network}/tasks", response_model=list[str])
def get_network_tasks(
    network: str, state: State, caller: Caller, status: str | None = None
) -> list[str]:
    """Tasks of the network (optionally in one status)."""
    sk = _visible(caller, network)
    wanted = parse_status(status) if status else None
    return [str(k) for k in state.stores.statestore.get_network_tasks(sk, wanted)]


@router.post(
    "/networks/{network}/tasks/action",
    response_model=list[str],
    openapi_extra=body_spec(ActionTasks),
)
async def action_tasks(network: str, request: Request, state: State, caller: Caller) -> list[str]:
    """Put tasks on the network's TaskHub; returns those now actioned."""
    sk = _visible(caller, network)
    body = await parse_body(request, state, ActionTasks)
    tasks = keys(body.tasks)
    caller.require_visible(*tasks)
    done = await in_thread(state.stores.statestore.action_tasks, tasks, sk, body.weight)
    return [str(k) for k in done]


@router.post(
    "/networks/{network}/tasks/cancel", response_model=list[str], openapi_extra=body_spec(TaskList)
)
async def cancel_tasks(network: str, request: Request, state: State, caller: Caller) -> list[str]:
    """Take tasks off the network's TaskHub; returns those that were on it."""
    sk = _visible(caller, network)
    body = await parse_body(request, state, TaskList)
    tasks = keys(body.tasks)
    caller.require_visible(*tasks)
    return [str(k) for k in await in_thread(state.stores.statestore.cancel_tasks, tasks, sk)]


@router.get("/networks/{network}/taskhub/tasks", response_model=list[str])
def get_taskhub_tasks(network: str, state: State, caller: Caller) -> list[str]:
    """Tasks actioned on the network's TaskHub."""
    sk = _visible(caller, network)
    return [str(k) for k in state.stores.statestore.get_taskhub_tasks(sk)]


@router.get("/networks/{network}/taskhub/weights", response_model=dict[str, float])
def get_task_weights(network: str, state: State, caller: Caller) -> dict[str, float]:
    """The ACTIONS weight of each actioned task."""
    sk = _visible(caller, network)
    return {str(k): w for k, w in state.stores.statestore.get_task_weights(sk).items()}


@router.get("/networks/{network}/taskhub/weight", response_model=Weight)
def get_taskhub_weight(network: str, state: State, caller: Caller) -> Weight:
    """The network's TaskHub weight."""
    return Weight(weight=state.stores.statestore.get_taskhub_weight(_visible(caller, network)))


@router.put(
    "/networks/{network}/taskhub/weight", response_model=None, openapi_extra=body_spec(Weight)
)
async def set_taskhub_weight(network: str, request: Request, state: State, caller: Caller) -> None:
    """Set the network's TaskHub weight (0 < w <= 1)."""
    sk = _visible(caller, network)
    body = await parse_body(request, state, Weight)
    await in_thread(state.stores.statestore.set_taskhub_weight, sk, body.weight)


@router.get("/networks/{network}/restart-patterns", response_model=list[RestartPattern])
def get_restart_patterns(network: str, state: State, caller: Caller) -> list[RestartPattern]:
    """Restart patterns enforced on the network's TaskHub."""
    return state.stores.statestore.get_task_restart_patterns(_visible(caller, network))


@router.post(
    "/networks/{network}/restart-patterns",
    response_model=None,
    openapi_extra=body_spec(AddRestartPatterns),
)
async def add_restart_patterns(
    network: str, request: Request, state: State, caller: Caller
) -> None:
    """Add restart patterns (or update their retries) on the network's TaskHub."""
    sk = _visible(caller, network)
    body = await parse_body(request, state, AddRestartPatterns)
    await in_thread(
        state.stores.statestore.add_task_restart_patterns, sk, body.patterns, body.max_retries
    )


@router.post(
    "/networks/{network}/restart-patterns/remove",
    response_model=None,
    openapi_extra=body_spec(RemoveRestartPatterns),
)
async def remove_restart_patterns(
    network: str, request: Request, state: State, caller: Caller
) -> None:
    """Remove restart patterns from the network's TaskHub."""
    sk = _visible(caller, network)
    body = await parse_body(request, state, RemoveRestartPatterns)
    await in_thread(state.stores.statestore.remove_task_restart_patterns, sk, body.patterns)


@router.get("/transformations", response_model=list[str])
def query_transformations(
    state: State, caller: Caller, name: str | None = None, scope: str | None = None
) -> list[str]:
    """Transformations in the caller's scopes, by name fragment and scope."""
    found: set[str] = set()
    for visible in _query_scopes(caller, scope):
        found.update(str(k) for k in state.stores.statestore.query_transformations(name, visible))
    return sorted(found)


@router.get("/transformations/{transformation}", responses=CHAIN_RESPONSE)
def get_transformation(transformation: str, state: State, caller: Caller) -> Response:
    """The transformation's keyed chain."""
    return raw_json(object_chain(state.stores, _visible(caller, transformation)))


@router.get("/transformations/{transformation}/networks", response_model=list[str])
def get_transformation_networks(transformation: str, state: State, caller: Caller) -> list[str]:
    """Networks containing the transformation."""
    sk = _visible(caller, transformation)
    return [str(k) for k in state.stores.statestore.get_transformation_networks(sk)]


@router.get("/transformations/{transformation}/status", response_model=dict[str, int])
def get_transformation_status(transformation: str, state: State, caller: Caller) -> dict[str, int]:
    """Task counts per status for the transformation."""
    return state.stores.statestore.get_transformation_status(_visible(caller, transformation))
