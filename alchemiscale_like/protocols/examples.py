"""Example networks built on the shipped protocols (for the quickstart, docs and tests)."""

from __future__ import annotations

from alchemiscale_like.models.components import (
    ChemicalSystem,
    SmallMoleculeComponent,
    SolventComponent,
)
from alchemiscale_like.models.transformation import AlchemicalNetwork, Transformation
from alchemiscale_like.protocols.harmonic_ti import HarmonicTIProtocol, HarmonicTISettings


def harmonic_network(
    spring_constants: tuple[float, ...] = (1.0, 2.0, 4.0),
    settings: HarmonicTISettings | None = None,
    name: str = "harmonic-example",
) -> AlchemicalNetwork:
    """A star of Transformations from the first ligand to each other one, in water."""
    protocol = HarmonicTIProtocol(settings=settings or HarmonicTISettings())
    solvent = SolventComponent()
    systems = [
        ChemicalSystem(
            name=f"ligand{i}",
            components={
                "ligand": SmallMoleculeComponent(
                    name=f"ligand{i}", smiles="C" * (i + 1), properties={"spring_constant": k}
                ),
                "solvent": solvent,
            },
        )
        for i, k in enumerate(spring_constants)
    ]
    edges = [
        Transformation(
            stateA=systems[0],
            stateB=other,
            protocol=protocol,
            name=f"{systems[0].name}->{other.name}",
        )
        for other in systems[1:]
    ]
    return AlchemicalNetwork(edges=edges, nodes=systems, name=name)
