"""Submitting networks and reading back their objects (state store + object store).

The keyed chain is verified without its classes. The network's chain is stored
content-addressed in the object store *before* the graph is written to the state
store, so every network a reader can find has its content.

Each transformation is also stored as its own sub-chain (what a compute service
fetches for a task), but thousands of small writes would dominate a submission, so
:func:`begin_submission` returns them as a :class:`Submission`'s pending members,
to be stored by :func:`store_members` after the caller has its answer (the API does
it as a background task); :func:`submit_network` does both at once. Until a member
is stored, or if storing it failed, a read extracts it from a stored network that
holds it and stores it then
(:func:`object_chain`): content-addressed, so every path writes the same bytes.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from alchemiscale_like.errors import AlchemiscaleLikeError, NotFound
from alchemiscale_like.models.scope import Scope, ScopedKey
from alchemiscale_like.models.verify import sub_chain, sub_chains, verify_keyed_chain
from alchemiscale_like.services.stores import Stores
from alchemiscale_like.storage.statestore.records import NetworkState, network_record_from_entries

log = logging.getLogger(__name__)

#: Objects written at once (object store clients are thread-safe).
_PUT_CONCURRENCY = 16
_TRANSFORMATION_KINDS = ("Transformation", "NonTransformation")


@dataclass(frozen=True)
class Submission:
    """A submitted network and the member sub-chains still to be stored, by gufe key."""

    network: ScopedKey
    pending: dict[str, list[list[Any]]] = field(default_factory=dict, repr=False)


def submit_network(
    stores: Stores, chain: Any, scope: Scope, state: NetworkState = NetworkState.ACTIVE
) -> ScopedKey:
    """Verify and store a network's keyed chain and every member object in ``scope``;
    idempotent.

    Raises:
        ValidationError, KeyMismatch: the chain is malformed or not a network.
        InvalidScope: ``scope`` is not specific.
    """
    submission = begin_submission(stores, chain, scope, state)
    store_members(stores, submission)
    return submission.network


def begin_submission(
    stores: Stores, chain: Any, scope: Scope, state: NetworkState = NetworkState.ACTIVE
) -> Submission:
    """Verify and store a network's keyed chain in ``scope``; idempotent.

    The network is readable, with every transformation, when this returns; pass the
    result to :func:`store_members` to store the transformations' own objects.

    Raises:
        ValidationError, KeyMismatch: the chain is malformed or not a network.
        InvalidScope: ``scope`` is not specific.
    """
    scope.require_specific()
    entries = verify_keyed_chain(chain)
    record = network_record_from_entries(entries)
    stores.objectstore.put_object(record.key, chain)
    network = stores.statestore.assemble_network(record, scope, state)
    pending = sub_chains(entries, [t.key for t in record.transformations])
    return Submission(network, pending)


def store_members(stores: Stores, submission: Submission) -> int:
    """Store the pending member objects of ``submission``; returns how many failed.

    A failure is logged, not raised: :func:`object_chain` stores a missing member when
    it is first read, so nothing is lost by it.
    """
    failed = 0

    def put(key: str) -> None:
        nonlocal failed
        try:
            stores.objectstore.put_object(key, submission.pending[key])
        except AlchemiscaleLikeError as exc:
            failed += 1
            log.warning("event=member_store_failed key=%s error=%r", key, exc)

    # Thousands of small writes: sequential round trips would dominate.
    with ThreadPoolExecutor(_PUT_CONCURRENCY, thread_name_prefix="put-object") as pool:
        list(pool.map(put, submission.pending))
    log.info(
        "event=network_members_stored network=%s members=%d failed=%d",
        submission.network,
        len(submission.pending),
        failed,
    )
    return failed


def object_chain(stores: Stores, sk: ScopedKey) -> Any:
    """The stored keyed chain of a network or transformation.

    The state store is asked first, so a key outside the graph is ``NotFound``
    even if its content happens to be stored for another scope. A transformation
    whose own object is not stored yet is extracted from a network holding it.

    Raises:
        NotFound: no such network or transformation in the graph.
    """
    kind = sk.qualname
    if kind == "AlchemicalNetwork":
        stores.statestore.get_network_state(sk)
        return stores.objectstore.get_object(sk.gufe_key)
    if kind not in _TRANSFORMATION_KINDS:
        raise NotFound(f"no stored network or transformation {sk}")
    stores.statestore.get_transformation_protocol(sk)
    try:
        return stores.objectstore.get_object(sk.gufe_key)
    except NotFound:
        pass
    networks = stores.statestore.get_transformation_networks(sk)
    if not networks:
        raise NotFound(f"no network holds {sk}")
    entries = verify_keyed_chain(stores.objectstore.get_object(networks[0].gufe_key))
    chain = sub_chain(entries, sk.gufe_key)
    stores.objectstore.put_object(sk.gufe_key, chain)
    log.info("event=member_stored_on_read key=%s network=%s", sk.gufe_key, networks[0])
    return chain
