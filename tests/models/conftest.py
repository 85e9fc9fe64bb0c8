"""Model fixtures: a small harmonic network."""

import pytest

from alchemiscale_like.models import ChemicalSystem, SmallMoleculeComponent, SolventComponent


def harmonic_system(k: float, name: str = "") -> ChemicalSystem:
    return ChemicalSystem(
        name=name,
        components={
            "ligand": SmallMoleculeComponent(
                name=name, smiles="CCO", properties={"spring_constant": k}
            ),
            "solvent": SolventComponent(),
        },
    )


@pytest.fixture
def system_a() -> ChemicalSystem:
    return harmonic_system(1.0, "A")


@pytest.fixture
def system_b() -> ChemicalSystem:
    return harmonic_system(2.0, "B")
