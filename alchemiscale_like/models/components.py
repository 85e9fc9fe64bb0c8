"""Chemical components and systems (gufe-style, without a cheminformatics toolkit).

``properties`` carries free-form JSON-able data a protocol may need; the shipped
:class:`~alchemiscale_like.protocols.HarmonicTIProtocol` reads
``properties["spring_constant"]`` from small molecules.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from alchemiscale_like.models.tokenization import Tokenizable


class Component(Tokenizable):
    """Base class of the parts of a :class:`ChemicalSystem`."""

    name: str = ""


class SmallMoleculeComponent(Component):
    """A small molecule, identified by its SMILES string."""

    smiles: str
    properties: dict[str, Any] = Field(default_factory=dict)

    @field_validator("smiles")
    @classmethod
    def _nonempty(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("smiles must not be empty")
        return value


class ProteinComponent(Component):
    """A protein, identified by its sequence (and optionally a structure in ``properties``)."""

    sequence: str
    properties: dict[str, Any] = Field(default_factory=dict)


class SolventComponent(Component):
    """Bulk solvent with counter-ions at a given concentration (mol/L)."""

    smiles: str = "O"
    positive_ion: str = "Na+"
    negative_ion: str = "Cl-"
    ion_concentration: float = Field(default=0.15, ge=0.0)
    neutralize: bool = True


class ChemicalSystem(Tokenizable):
    """A named set of components; one end state of a Transformation."""

    components: dict[str, Component]
    name: str = ""

    @field_validator("components")
    @classmethod
    def _nonempty(cls, value: dict[str, Component]) -> dict[str, Component]:
        if not value:
            raise ValueError("a ChemicalSystem needs at least one component")
        # Sorted labels make the key independent of insertion order.
        return dict(sorted(value.items()))

    def __getitem__(self, label: str) -> Component:
        return self.components[label]
