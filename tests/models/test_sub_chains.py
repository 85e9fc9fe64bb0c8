"""Sub-chains: each object of a verified chain alone, with exactly what it references."""

from __future__ import annotations

import json

import pytest

from alchemiscale_like.errors import ValidationError
from alchemiscale_like.models.tokenization import Tokenizable
from alchemiscale_like.models.verify import sub_chain, sub_chains, verify_keyed_chain
from tests.storage.statestore.conftest import build_network


def test_each_sub_chain_is_the_object_alone_in_chain_order() -> None:
    network = build_network("net", n_edges=6)
    chain = json.loads(network.to_json())
    entries = verify_keyed_chain(chain)
    order = [key for key, _ in chain]
    objects = {obj.key: obj for obj in [*network.edges, *network.nodes]}
    found = sub_chains(entries, objects)
    assert set(found) == set(objects)
    for key, sub in found.items():
        keys = [k for k, _ in sub]
        assert keys[-1] == key
        assert keys == sorted(keys, key=order.index)  # the network chain's order
        assert set(keys) == {k for k, _ in objects[key].to_keyed_chain()}
        assert Tokenizable.from_keyed_chain(sub) == objects[key]
        assert sub_chain(entries, key) == sub
    assert sub_chain(entries, network.key) == chain


def test_a_key_outside_the_chain_is_refused() -> None:
    entries = verify_keyed_chain(json.loads(build_network("net").to_json()))
    with pytest.raises(ValidationError, match="not in the keyed chain"):
        sub_chains(entries, [f"Transformation-{'0' * 32}"])
