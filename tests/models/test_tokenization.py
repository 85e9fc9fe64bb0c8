import json
import subprocess
import sys

import numpy as np
import pytest

from alchemiscale_like.errors import KeyMismatch, PayloadTooLarge, UnknownClass, ValidationError
from alchemiscale_like.models import (
    AlchemicalNetwork,
    ChemicalSystem,
    ProteinComponent,
    SmallMoleculeComponent,
    SolventComponent,
    Tokenizable,
    Transformation,
)
from alchemiscale_like.models.keyedchain import from_keyed_chain
from alchemiscale_like.protocols import HarmonicTIProtocol, HarmonicTISettings


def pinned_objects() -> dict[str, Tokenizable]:
    ligand = SmallMoleculeComponent(
        name="ethanol", smiles="CCO", properties={"spring_constant": 1.5}
    )
    with_array = SmallMoleculeComponent(
        name="coords", smiles="C", properties={"xyz": np.arange(6, dtype="<f8").reshape(2, 3)}
    )
    system = ChemicalSystem(name="A", components={"ligand": ligand, "solvent": SolventComponent()})
    other = ChemicalSystem(
        name="B",
        components={
            "ligand": SmallMoleculeComponent(
                name="x", smiles="CC", properties={"spring_constant": 3.0}
            ),
            "solvent": SolventComponent(),
        },
    )
    transformation = Transformation(
        stateA=system,
        stateB=other,
        name="A->B",
        protocol=HarmonicTIProtocol(settings=HarmonicTISettings(n_steps=100)),
    )
    return {
        "ligand": ligand,
        "with_array": with_array,
        "protein": ProteinComponent(name="p", sequence="MKTAYIAK"),
        "solvent": SolventComponent(),
        "system": system,
        "transformation": transformation,
    }


# Keys are a public promise: changing one of these breaks every stored network.
PINNED_KEYS = {
    "ligand": "SmallMoleculeComponent-bfe6d51018973e4b6b60421e5d2db1e4",
    "with_array": "SmallMoleculeComponent-589eae0f6831884be7744a169b601ab9",
    "protein": "ProteinComponent-63f4331fc4b2d4aaf9f934981a6371f8",
    "solvent": "SolventComponent-f4f73533a5ce3f2afefa7aa05cc661ba",
    "system": "ChemicalSystem-d17e117adc06f633702a3d6705e0ac58",
    "transformation": "Transformation-ec2f91d15caa27a3442d0db78f02be5f",
}


@pytest.mark.parametrize("name", sorted(PINNED_KEYS))
def test_keys_are_pinned(name):
    assert pinned_objects()[name].key == PINNED_KEYS[name]


def test_keys_are_stable_across_processes():
    code = (
        "import json, tests.models.test_tokenization as t; "
        "print(json.dumps({k: v.key for k, v in t.pinned_objects().items()}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "123", "PATH": ""},
        cwd=str(__import__("pathlib").Path(__file__).parents[2]),
    )
    assert json.loads(out.stdout) == {k: v.key for k, v in pinned_objects().items()}


def test_key_ignores_dict_insertion_order():
    a = SmallMoleculeComponent(smiles="C", properties={"a": 1, "b": 2})
    b = SmallMoleculeComponent(smiles="C", properties={"b": 2, "a": 1})
    assert a.key == b.key
    assert a == b
    assert SmallMoleculeComponent(smiles="C", properties={"a": 1, "b": 3}) != a


@pytest.mark.parametrize("name", sorted(PINNED_KEYS))
def test_json_round_trip_keeps_key(name):
    obj = pinned_objects()[name]
    again = type(obj).from_json(obj.to_json())
    assert again.key == obj.key
    assert type(again) is type(obj)


def test_numpy_field_round_trips_exactly():
    obj = pinned_objects()["with_array"]
    again = SmallMoleculeComponent.from_json(obj.to_json())
    arr = again.properties["xyz"]
    assert arr.dtype == np.dtype("<f8")
    np.testing.assert_array_equal(arr, np.arange(6.0).reshape(2, 3))


def test_shared_objects_are_stored_once():
    solvent = SolventComponent()
    systems = [
        ChemicalSystem(
            components={
                "ligand": SmallMoleculeComponent(smiles="C" * (i + 1)),
                "solvent": solvent,
            }
        )
        for i in range(101)
    ]
    protocol = HarmonicTIProtocol(settings=HarmonicTISettings())
    edges = [Transformation(stateA=systems[0], stateB=s, protocol=protocol) for s in systems[1:]]
    network = AlchemicalNetwork(edges=edges)
    chain = network.to_keyed_chain()
    keys = [key for key, _ in chain]
    assert len(keys) == len(set(keys))
    assert keys.count(solvent.key) == 1
    assert keys.count(protocol.key) == 1
    # 101 ligands + 1 solvent + 101 systems + 1 protocol + 100 edges + 1 network
    assert len(chain) == 305
    assert keys[-1] == network.key
    rebuilt = AlchemicalNetwork.from_keyed_chain(json.loads(network.to_json()))
    assert rebuilt == network
    assert len(rebuilt.nodes) == 101
    # Deduplicated on the way back too: one object for the shared solvent.
    assert len({id(s.components["solvent"]) for s in rebuilt.nodes}) == 1


def test_network_key_ignores_edge_order(system_a, system_b):
    protocol = HarmonicTIProtocol(settings=HarmonicTISettings())
    t1 = Transformation(stateA=system_a, stateB=system_b, protocol=protocol)
    t2 = Transformation(stateA=system_b, stateB=system_a, protocol=protocol)
    assert AlchemicalNetwork(edges=[t1, t2]).key == AlchemicalNetwork(edges=[t2, t1, t1]).key


def _chain_with(module: str, qualname: str) -> list:
    keyed = {"__module__": module, "__qualname__": qualname, ":version:": 1, "command": "true"}
    from alchemiscale_like.models.tokenization import key_from_keyed_dict

    return [[key_from_keyed_dict(keyed), keyed]]


@pytest.mark.parametrize(
    ("module", "qualname"),
    [("os", "system"), ("subprocess", "Popen"), ("antigravity", "fly"), ("nonexistent_mod", "X")],
)
def test_unknown_class_fails_without_importing(module, qualname):
    before = set(sys.modules)
    with pytest.raises(UnknownClass, match=f"{module}.{qualname}"):
        Tokenizable.from_keyed_chain(_chain_with(module, qualname))
    assert set(sys.modules) == before


def test_tampered_content_is_detected(system_a):
    chain = json.loads(system_a.to_json())
    chain[-1][1]["name"] = "evil"
    with pytest.raises(KeyMismatch):
        from_keyed_chain(chain)


def test_forward_reference_is_refused(system_a):
    chain = json.loads(system_a.to_json())
    with pytest.raises(ValidationError, match="before its definition"):
        from_keyed_chain(list(reversed(chain)))


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        "{}",
        "[]",
        "[[1, {}]]",
        '[["k"]]',
        '[["SolventComponent-0", {"__module__": 1}]]',
    ],
)
def test_malformed_chains_are_refused(payload):
    with pytest.raises(ValidationError):
        Tokenizable.from_json(payload)


def test_wrong_keys_are_refused():
    keyed = SolventComponent().to_keyed_dict()
    keyed["unexpected"] = 1
    from alchemiscale_like.models.tokenization import key_from_keyed_dict

    with pytest.raises(ValidationError, match="unexpected"):
        Tokenizable.from_keyed_chain([[key_from_keyed_dict(keyed), keyed]])


def test_version_mismatch_is_refused():
    keyed = SolventComponent().to_keyed_dict()
    keyed[":version:"] = 99
    from alchemiscale_like.models.tokenization import key_from_keyed_dict

    with pytest.raises(ValidationError, match="version"):
        Tokenizable.from_keyed_chain([[key_from_keyed_dict(keyed), keyed]])


def test_wrong_root_type_is_refused(system_a):
    with pytest.raises(ValidationError, match="expected a Transformation"):
        Transformation.from_json(system_a.to_json())


def test_oversized_json_is_refused(system_a):
    text = system_a.to_json()
    with pytest.raises(PayloadTooLarge):
        ChemicalSystem.from_json(text, max_size=len(text) - 1)


def test_reserved_keys_cannot_be_smuggled_in():
    with pytest.raises(ValidationError, match="reserved"):
        _ = SmallMoleculeComponent(smiles="C", properties={":key:": "x"}).key
