"""Submitting a network: each transformation stored as its own chain (at once, or after
the answer and on first read), and no graph without content."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from alchemiscale_like.errors import PayloadTooLarge
from alchemiscale_like.models import Scope
from alchemiscale_like.models.canonical import canonical_json
from alchemiscale_like.models.tokenization import Tokenizable
from alchemiscale_like.services.networks import (
    begin_submission,
    object_chain,
    store_members,
    submit_network,
)
from alchemiscale_like.services.stores import Stores
from alchemiscale_like.storage.objectstore.local import LocalObjectStore
from tests.storage.statestore.conftest import build_network

SCOPE = Scope.from_str("org-campaign-project")
#: More members than the submission writes at once, so the writes really overlap.
EDGES = 40


def test_every_member_is_stored_as_its_own_chain(statestore, tmp_path: Path) -> None:
    network = build_network("wide", n_edges=EDGES)
    stores = Stores(statestore, LocalObjectStore(tmp_path))
    sk = submit_network(stores, json.loads(network.to_json()), SCOPE)

    assert Tokenizable.from_keyed_chain(object_chain(stores, sk)) == network
    edges = {t.key: t for t in network.edges}
    stored = statestore.get_network_transformations(sk)
    assert sorted(t.gufe_key for t in stored) == sorted(edges)
    for transformation in stored:
        chain = object_chain(stores, transformation)
        expected = edges[transformation.gufe_key]
        assert Tokenizable.from_keyed_chain(chain) == expected
        # Its own closure, nothing more of the network.
        assert {key for key, _ in chain} == {key for key, _ in expected.to_keyed_chain()}
        assert stores.objectstore.has_object(transformation.gufe_key)
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


def test_a_begun_submission_is_readable_before_its_members_are_stored(
    statestore, tmp_path: Path
) -> None:
    network = build_network("deferred", n_edges=5)
    stores = Stores(statestore, LocalObjectStore(tmp_path))
    submission = begin_submission(stores, json.loads(network.to_json()), SCOPE)
    assert sorted(submission.pending) == sorted(t.key for t in network.edges)
    assert not any(stores.objectstore.has_object(key) for key in submission.pending)
    first, *rest = statestore.get_network_transformations(submission.network)
    # Read before it was stored: taken from the network, and stored by the read.
    chain = object_chain(stores, first)
    assert Tokenizable.from_keyed_chain(chain) == next(
        t for t in network.edges if t.key == first.gufe_key
    )
    assert stores.objectstore.get_object(first.gufe_key) == chain
    assert not any(stores.objectstore.has_object(t.gufe_key) for t in rest)
    assert store_members(stores, submission) == 0
    assert all(stores.objectstore.has_object(t.gufe_key) for t in rest)
    assert object_chain(stores, first) == chain


def test_a_failed_member_write_is_recovered_on_read(statestore, tmp_path: Path) -> None:
    network = build_network("flaky", n_edges=4)
    chain = json.loads(network.to_json())
    stores = Stores(statestore, LocalObjectStore(tmp_path))
    submission = begin_submission(stores, chain, SCOPE)
    # Every member's write fails (a JSON size limit each exceeds); the network is stored.
    tiny = Stores(statestore, LocalObjectStore(tmp_path, max_json_size=16))
    assert store_members(tiny, submission) == len(submission.pending)
    for transformation in statestore.get_network_transformations(submission.network):
        assert not stores.objectstore.has_object(transformation.gufe_key)
        expected = next(t for t in network.edges if t.key == transformation.gufe_key)
        assert Tokenizable.from_keyed_chain(object_chain(stores, transformation)) == expected
        assert stores.objectstore.has_object(transformation.gufe_key)
