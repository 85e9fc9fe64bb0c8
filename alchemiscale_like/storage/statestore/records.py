"""Records the state store takes and returns (no Neo4j or SQLite types leak out).

Frozen pydantic models, so the APIs send them as they are; scoped keys serialize
as their string form.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

import pydantic
from pydantic import BaseModel, ConfigDict

from alchemiscale_like.errors import ValidationError
from alchemiscale_like.models.codecs import KEY_TAG
from alchemiscale_like.models.estimate import ResultEstimate
from alchemiscale_like.models.resultfile import ResultFile
from alchemiscale_like.models.scope import ScopedKeyField
from alchemiscale_like.models.task import TaskStatus
from alchemiscale_like.models.tokenization import wrap_validation_error
from alchemiscale_like.models.verify import VerifiedEntry, verify_keyed_chain
from alchemiscale_like.security.identity import IdentityKind


class NetworkState(StrEnum):
    """Whether a network's TaskHub is offered to compute services (only ``active`` ones are)."""

    ACTIVE = "active"
    INACTIVE = "inactive"
    INVALID = "invalid"
    DELETED = "deleted"


class _Record(BaseModel):
    """Records are frozen pydantic models: they become API bodies as they are."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except pydantic.ValidationError as exc:
            raise wrap_validation_error(type(self), exc) from exc


class TransformationRecord(_Record):
    """A Transformation as the state store sees it."""

    key: str
    name: str
    protocol: str
    state_a: str
    state_b: str
    qualname: str = "Transformation"


class ChemicalSystemRecord(_Record):
    """A ChemicalSystem as the state store sees it."""

    key: str
    name: str


class NetworkRecord(_Record):
    """The structure of an AlchemicalNetwork, read from its verified keyed chain."""

    key: str
    name: str
    transformations: tuple[TransformationRecord, ...]
    chemical_systems: tuple[ChemicalSystemRecord, ...]


def _ref(value: Any, what: str) -> str:
    if not (isinstance(value, dict) and isinstance(value.get(KEY_TAG), str)):
        raise ValidationError(f"{what} must be a reference to another object")
    return str(value[KEY_TAG])


def network_record_from_chain(chain: Any) -> NetworkRecord:
    """Verify a network's keyed chain without its classes and extract its structure.

    Raises:
        ValidationError: the chain is malformed or its root is not an AlchemicalNetwork.
        KeyMismatch: a key does not match its content.
    """
    return network_record_from_entries(verify_keyed_chain(chain))


def network_record_from_entries(entries: list[VerifiedEntry]) -> NetworkRecord:
    """The structure of a network from its already verified keyed chain."""
    by_key: dict[str, VerifiedEntry] = {e.key: e for e in entries}
    root = entries[-1]
    if root.qualname != "AlchemicalNetwork":
        raise ValidationError(f"expected an AlchemicalNetwork, got a {root.qualname}")
    edges, nodes = root.keyed_dict.get("edges"), root.keyed_dict.get("nodes")
    if not isinstance(edges, list) or not isinstance(nodes, list):
        raise ValidationError("an AlchemicalNetwork needs 'edges' and 'nodes' lists")
    systems = []
    for ref in nodes:
        entry = by_key[_ref(ref, "a network node")]
        if entry.qualname != "ChemicalSystem":
            raise ValidationError(f"network node {entry.key} is a {entry.qualname}")
        systems.append(
            ChemicalSystemRecord(key=entry.key, name=str(entry.keyed_dict.get("name", "")))
        )
    system_keys = {s.key for s in systems}
    transformations = []
    for ref in edges:
        entry = by_key[_ref(ref, "a network edge")]
        body = entry.keyed_dict
        if entry.qualname not in ("Transformation", "NonTransformation"):
            raise ValidationError(f"network edge {entry.key} is a {entry.qualname}")
        state_a = _ref(body.get("stateA"), "stateA")
        state_b = _ref(body.get("stateB"), "stateB")
        if not {state_a, state_b} <= system_keys:
            raise ValidationError(f"edge {entry.key} uses a system that is not a network node")
        protocol = by_key[_ref(body.get("protocol"), "protocol")]
        transformations.append(
            TransformationRecord(
                key=entry.key,
                name=str(body.get("name", "")),
                protocol=protocol.qualname,
                state_a=state_a,
                state_b=state_b,
                qualname=entry.qualname,
            )
        )
    return NetworkRecord(
        key=root.key,
        name=str(root.keyed_dict.get("name", "")),
        transformations=tuple(transformations),
        chemical_systems=tuple(systems),
    )


class TaskRecord(_Record):
    """A Task's state-store properties. ``attempts`` counts its claims so far."""

    scoped_key: ScopedKeyField
    status: TaskStatus
    priority: int
    created: dt.datetime
    creator: str | None
    attempts: int
    extends: ScopedKeyField | None
    transformation: ScopedKeyField


#: A stored result file: the model's own ResultFile (``location`` is task-relative).
ResultFileRef = ResultFile


class ProtocolDAGRef(_Record):
    """The one ProtocolDAG of a Task (``relpath``: task-relative, see ``TaskLayout``)."""

    key: str
    relpath: str
    n_units: int


class ClaimedTask(_Record):
    """A Task its caller holds, with the DAG it has (if any yet)."""

    record: TaskRecord
    dag: ProtocolDAGRef | None


class ProtocolUnitResultRef(_Record):
    """One stored unit attempt: which service recorded it, and when the unit ran."""

    unit_key: str
    attempt: int
    ok: bool
    relpath: str
    files: tuple[ResultFile, ...] = ()
    service: str | None = None
    started: dt.datetime | None = None
    finished: dt.datetime | None = None


class ProtocolDAGResultRef(_Record):
    """One stored ProtocolDAGResult of a Task."""

    key: str
    ok: bool
    relpath: str
    created: dt.datetime
    task: ScopedKeyField | None = None
    estimate: ResultEstimate | None = None


class TaskProgress(_Record):
    """Units with a successful result, out of all units of the Task's DAG (0 if none yet)."""

    done: int
    total: int


class ComputeServiceRecord(_Record):
    """A registered compute service.

    ``claims_total`` counts the Tasks it claimed since it registered;
    ``claims_last_minute`` estimates how many it claimed in the last 60 s (see
    :func:`~alchemiscale_like.storage.statestore.rules.claims_last_minute`).
    """

    identifier: str
    registered: dt.datetime
    heartbeat: dt.datetime
    protocols: tuple[str, ...] | None
    claimed: tuple[ScopedKeyField, ...] = ()
    claims_total: int = 0
    claims_last_minute: float = 0.0


class ClaimCounter(_Record):
    """A service's claim counts by minute (``minute``: minutes since the epoch, UTC)."""

    total: int = 0
    minute: int = 0
    this_minute: int = 0
    last_minute: int = 0


class TransformationSummary(_Record):
    """One transformation of a network at a glance: Task counts by status and unit progress.

    ``units_done`` / ``units_total`` sum the successful units and all units over the
    transformation's Tasks that have a DAG.
    """

    scoped_key: ScopedKeyField
    name: str
    protocol: str
    status: dict[str, int]
    units_done: int
    units_total: int


class TaskSummary(_Record):
    """One Task at a glance: its record, unit progress and current claimant."""

    record: TaskRecord
    done: int
    total: int
    claimant: str | None


class EstimateRecord(_Record):
    """The stored estimate of one successful DAG result."""

    transformation: ScopedKeyField
    name: str
    task: ScopedKeyField
    estimate: ResultEstimate


class IdentityRecord(_Record):
    """A credentialed user or compute identity (the key is stored hashed only)."""

    kind: IdentityKind
    identifier: str
    hashed_key: str
    scopes: tuple[str, ...] = ()
    disabled: bool = False
    expires: dt.datetime | None = None


class RestartPattern(_Record):
    """A regex on failure tracebacks and how many restarts it grants per task."""

    pattern: str
    max_retries: int
