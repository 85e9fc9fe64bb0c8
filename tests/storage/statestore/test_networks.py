import json

import pytest

from alchemiscale_like.errors import InvalidScope, KeyMismatch, NotFound, ValidationError
from alchemiscale_like.models import Scope, ScopedKey
from alchemiscale_like.storage.statestore.records import network_record_from_chain
from tests.storage.statestore.conftest import SCOPE, build_network, mixed_protocol_network, submit


def test_submit_creates_structure(statestore):
    network = build_network("alpha", n_edges=3)
    sk = submit(statestore, network)
    assert sk == ScopedKey.from_key(network.key, SCOPE)
    assert statestore.get_network_state(sk) == "active"
    assert statestore.get_network_name(sk) == "alpha"
    transformations = statestore.get_network_transformations(sk)
    assert {t.gufe_key for t in transformations} == {t.key for t in network.edges}
    assert all(t.scope == SCOPE for t in transformations)
    systems = statestore.get_network_chemicalsystems(sk)
    assert {s.gufe_key for s in systems} == {n.key for n in network.nodes}
    assert statestore.get_transformation_networks(transformations[0]) == [sk]
    assert statestore.get_transformation_protocol(transformations[0]) == "HarmonicTIProtocol"
    assert statestore.get_taskhub_weight(sk) == 0.5


def test_submitting_twice_creates_nothing_new(statestore):
    network = build_network(n_edges=4)
    first = submit(statestore, network)
    statestore.set_network_state([first], "inactive")
    second = submit(statestore, network)
    assert first == second
    assert statestore.query_networks(state=None) == [first]
    assert len(statestore.query_transformations()) == 4
    assert len(statestore.get_network_chemicalsystems(first)) == 5
    # Resubmission does not reset the state either.
    assert statestore.get_network_state(first) == "inactive"


def test_overlapping_networks_share_nodes(statestore):
    small = build_network("small", n_edges=2)
    big = build_network("big", n_edges=3)
    sk_small, sk_big = submit(statestore, small), submit(statestore, big)
    shared = set(statestore.get_network_transformations(sk_small)) & set(
        statestore.get_network_transformations(sk_big)
    )
    # Edge names differ ("small-0" vs "big-0"), so transformations differ; systems are shared.
    assert not shared
    assert set(statestore.get_network_chemicalsystems(sk_small)) < set(
        statestore.get_network_chemicalsystems(sk_big)
    )
    assert len(statestore.query_transformations()) == 5


def test_same_network_in_two_scopes_is_two_networks(statestore):
    network = build_network()
    a = submit(statestore, network, Scope.from_str("org-campaign-project"))
    b = submit(statestore, network, Scope.from_str("org-campaign-other"))
    assert a != b
    assert a.gufe_key == b.gufe_key
    assert statestore.query_networks(scope=Scope.from_str("org-campaign-*")) == sorted(
        [a, b], key=str
    )
    assert statestore.query_networks(scope=Scope.from_str("org-campaign-other")) == [b]
    assert statestore.query_networks(scope=Scope.from_str("elsewhere-*-*")) == []


def test_query_networks_by_name_and_state(statestore):
    a = submit(statestore, build_network("kinase-series"))
    b = submit(statestore, build_network("protease", k0=10.0))
    assert statestore.query_networks(name="kinase") == [a]
    assert sorted(statestore.query_networks(), key=str) == sorted([a, b], key=str)
    statestore.set_network_state([b], "deleted")
    assert statestore.query_networks() == [a]
    assert statestore.query_networks(state="deleted") == [b]
    assert statestore.query_transformations(name="protease") != []
    assert statestore.query_transformations(name="nothing-like-this") == []


def test_network_states(statestore):
    sk = submit(statestore, build_network())
    for state in ("inactive", "invalid", "deleted", "active"):
        statestore.set_network_state([sk], state)
        assert statestore.get_network_state(sk) == state


def test_bad_state_changes_nothing(statestore):
    sk = submit(statestore, build_network())
    with pytest.raises(ValidationError, match="network state"):
        statestore.set_network_state([sk], "archived")
    other = ScopedKey.from_key("AlchemicalNetwork-" + "0" * 32, SCOPE)
    with pytest.raises(NotFound, match="unknown networks"):
        statestore.set_network_state([sk, other], "inactive")
    assert statestore.get_network_state(sk) == "active"


def test_unknown_keys_raise_not_found(statestore):
    missing = ScopedKey.from_key("AlchemicalNetwork-" + "0" * 32, SCOPE)
    for call in (
        statestore.get_network_state,
        statestore.get_network_transformations,
        statestore.get_network_chemicalsystems,
        statestore.get_taskhub_weight,
    ):
        with pytest.raises(NotFound):
            call(missing)
    with pytest.raises(NotFound):
        statestore.get_transformation_networks(
            ScopedKey.from_key("Transformation-" + "0" * 32, SCOPE)
        )


def test_wildcard_scope_cannot_hold_a_network(statestore):
    with pytest.raises(InvalidScope):
        submit(statestore, build_network(), Scope.from_str("org-*-*"))
    assert statestore.query_networks(state=None) == []


def test_network_records_are_verified():
    network = mixed_protocol_network()
    chain = json.loads(network.to_json())
    record = network_record_from_chain(chain)
    assert {t.protocol for t in record.transformations} == {"HarmonicTIProtocol", "SleepProtocol"}
    chain[-1][1]["name"] = "tampered"
    with pytest.raises(KeyMismatch):
        network_record_from_chain(chain)
    system_chain = json.loads(network.nodes[0].to_json())
    with pytest.raises(ValidationError, match="expected an AlchemicalNetwork"):
        network_record_from_chain(system_chain)
