"""A Task's one ProtocolDAG: ensured once, adopted by everyone after (design.md principle 2)."""

from __future__ import annotations

from typing import Any

from alchemiscale_like.errors import AlreadyExists, ValidationError
from alchemiscale_like.models.layout import STORE_LAYOUT
from alchemiscale_like.models.scope import ScopedKey
from alchemiscale_like.models.verify import DAGSummary, summarize_dag, verify_keyed_chain
from alchemiscale_like.services.claims import require_claim
from alchemiscale_like.services.stores import Stores
from alchemiscale_like.storage.statestore.records import ClaimedTask, ProtocolDAGRef


def get_task_dag(stores: Stores, task: ScopedKey) -> tuple[ProtocolDAGRef, Any] | None:
    """The Task's DAG reference and keyed chain, or None if it has none yet."""
    ref = stores.statestore.get_task_dag(task)
    if ref is None:
        return None
    return ref, stores.objectstore.get_task_json(task, ref.relpath)


def ensure_task_dag(
    stores: Stores, task: ScopedKey, service_id: str, chain: Any
) -> tuple[ProtocolDAGRef, Any]:
    """Give the Task ``chain`` as its DAG unless it has one; return the DAG it has.

    First writer wins: a service that loses the race (or finds a DAG left in the
    object store by a service that died before recording it) gets the stored
    DAG back and must run that one.

    Raises:
        ClaimLost: ``service_id`` does not hold the Task.
        ValidationError: ``chain`` is not a ProtocolDAG of the Task's transformation.
    """
    claimed = require_claim(stores, task, service_id)
    record = claimed.record
    # The offer is checked even when the Task already has a DAG: bad input is a 400,
    # never silently answered with the stored DAG.
    summary = summarize_dag(verify_keyed_chain(chain))
    if summary.transformation_key not in (None, record.transformation.gufe_key):
        raise ValidationError(
            f"the DAG is for {summary.transformation_key}, but {task} performs "
            f"{record.transformation.gufe_key}"
        )
    if claimed.dag is not None:  # the claim check read it already
        return claimed.dag, stores.objectstore.get_task_json(task, claimed.dag.relpath)
    relpath = STORE_LAYOUT.dag
    try:
        stores.objectstore.put_task_json(task, relpath, chain)
    except AlreadyExists:
        # Stored by a claimant that died before recording it: adopt that DAG.
        chain = stores.objectstore.get_task_json(task, relpath)
        summary = summarize_dag(verify_keyed_chain(chain))
    ref = stores.statestore.set_task_dag(task, service_id, _ref(summary, relpath))
    stores.remember_claim(task, service_id, ClaimedTask(record=record, dag=ref))
    if ref.key != summary.key:
        chain = stores.objectstore.get_task_json(task, ref.relpath)
    return ref, chain


def dag_unit_keys(stores: Stores, task: ScopedKey, ref: ProtocolDAGRef) -> frozenset[str]:
    """The unit keys of the Task's DAG (cached by DAG key: a DAG never changes)."""
    cached = stores.dag_units.get(ref.key)
    if cached is None:
        chain = stores.objectstore.get_task_json(task, ref.relpath)
        cached = frozenset(summarize_dag(verify_keyed_chain(chain)).unit_keys)
        stores.remember_dag_units(ref.key, cached)
    return cached


def _ref(summary: DAGSummary, relpath: str) -> ProtocolDAGRef:
    return ProtocolDAGRef(key=summary.key, relpath=relpath, n_units=len(summary.unit_keys))
