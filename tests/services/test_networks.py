"""Submitting a network: each member stored as its own chain, and no graph without content."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alchemiscale_like.errors import PayloadTooLarge
from alchemiscale_like.models import Scope
from alchemiscale_like.models.tokenization import Tokenizable
from alchemiscale_like.services.networks import get_object_chain, submit_network
from alchemiscale_like.services.stores import Stores
from alchemiscale_like.storage.objectstore.codec import canonical_json
from alchemiscale_like.storage.objectstore.local import LocalObjectStore
from tests.storage.statestore.conftest import build_network

SCOPE = Scope.from_str("org-campaign-project")
#: More members than the submission writes at once, so the writes really overlap.
EDGES = 40


def test_every_member_is_stored_as_its_own_chain(statestore, tmp_path: Path) -> None:
    network = build_network("wide", n_edges=EDGES)
    stores = Stores(statestore, LocalObjectStore(tmp_path))
    sk = submit_network(stores, json.loads(network.to_json()), SCOPE)

    assert Tokenizable.from_keyed_chain(get_object_chain(stores, sk)) == network
    edges = {t.key: t for t in network.edges}
    stored = statestore.get_network_transformations(sk)
    assert sorted(t.gufe_key for t in stored) == sorted(edges)
    for transformation in stored:
        chain = get_object_chain(stores, transformation)
        expected = edges[transformation.gufe_key]
        assert Tokenizable.from_keyed_chain(chain) == expected
        # Its own closure, nothing more of the network.
        assert {key for key, _ in chain} == {key for key, _ in expected.to_keyed_chain()}
    for system in network.nodes:
        chain = stores.objectstore.get_object(system.key)
        assert Tokenizable.from_keyed_chain(chain) == system
        assert {key for key, _ in chain} == {key for key, _ in system.to_keyed_chain()}
    assert submit_network(stores, json.loads(network.to_json()), SCOPE) == sk


def test_a_failed_object_write_leaves_no_network_in_the_state_store(
    statestore, tmp_path: Path
) -> None:
    network = build_network("big", n_edges=EDGES)
    chain = json.loads(network.to_json())
    # Every member's chain fits under the limit; the network's own does not.
    store = LocalObjectStore(tmp_path, max_json_size=len(canonical_json(chain)) - 1)
    with pytest.raises(PayloadTooLarge):
        submit_network(Stores(statestore, store), chain, SCOPE)
    assert statestore.query_networks(state=None) == []
    assert statestore.query_transformations() == []
