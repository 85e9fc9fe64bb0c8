"""Submitting networks and reading back their objects (state store + object store).

The keyed chain is verified without its classes; the network, each
transformation and each chemical system is stored content-addressed in the
object store (as its own sub-chain) *before* the graph is written to the state
store, so every node a reader can find has its content.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from alchemiscale_like.errors import NotFound
from alchemiscale_like.models.scope import Scope, ScopedKey
from alchemiscale_like.models.verify import sub_chains, verify_keyed_chain
from alchemiscale_like.services.stores import Stores
from alchemiscale_like.storage.statestore.records import NetworkState, network_record_from_entries

#: Objects written at once (object store clients are thread-safe).
_PUT_CONCURRENCY = 8


def submit_network(
    stores: Stores, chain: Any, scope: Scope, state: NetworkState = NetworkState.ACTIVE
) -> ScopedKey:
    """Verify and store a network's keyed chain in ``scope``; idempotent.

    Raises:
        ValidationError, KeyMismatch: the chain is malformed or not a network.
        InvalidScope: ``scope`` is not specific.
    """
    scope.require_specific()
    entries = verify_keyed_chain(chain)
    record = network_record_from_entries(entries)
    members = [t.key for t in record.transformations] + [s.key for s in record.chemical_systems]
    objects = {record.key: chain, **sub_chains(entries, members)}
    # Thousands of small writes: sequential round trips would dominate the submission.
    with ThreadPoolExecutor(_PUT_CONCURRENCY, thread_name_prefix="put-object") as pool:
        # list() re-raises the first failure, and then the graph is never written.
        list(pool.map(stores.objectstore.put_object, objects, objects.values()))
    return stores.statestore.assemble_network(record, scope, state)


def get_object_chain(stores: Stores, sk: ScopedKey) -> Any:
    """The stored keyed chain of a network, transformation or chemical system.

    The state store is asked first, so a key outside the graph is ``NotFound``
    even if its content happens to be stored for another scope.
    """
    kind = sk.qualname
    if kind == "AlchemicalNetwork":
        stores.statestore.get_network_state(sk)
    elif kind in ("Transformation", "NonTransformation"):
        stores.statestore.get_transformation_protocol(sk)
    else:
        raise NotFound(f"no stored network or transformation {sk}")
    return stores.objectstore.get_object(sk.gufe_key)
